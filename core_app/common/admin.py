"""Reusable admin pieces: role-based permissions and actions with an intermediate form.

Admins never edit state directly: model admins are read-only, and every change is an
action that calls a service (so the event log records it). Pattern for an app's admin:

    @admin.register(Page)
    class PageAdmin(RoleAdminMixin, admin.ModelAdmin):
        @admin.action(description="Block pages", permissions=["staff"])
        def block_pages(self, request, queryset):
            return run_with_form(self, request, queryset, form_class=BlockForm, title="Block pages",
                                 apply=lambda page, data: page_block(actor=request.user, page=page, **data))
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.db.models import Model, QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template import engines
from django.template.response import TemplateResponse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from core_app.common.exceptions import ApplicationError
from core_app.users.models import User

APPLY_FIELD = "apply"

_FORM_TEMPLATE = """{% extends "admin/base_site.html" %}
{% block content %}
<form method="post">{% csrf_token %}
  <p>{{ count }} selected:</p>
  <ul>{% for obj in objects %}<li>{{ obj }}</li>{% endfor %}</ul>
  {{ form.as_p }}
  {% for obj in objects %}<input type="hidden" name="{{ checkbox_name }}" value="{{ obj.pk }}">{% endfor %}
  <input type="hidden" name="action" value="{{ action }}">
  <input type="hidden" name="{{ apply_field }}" value="1">
  <input type="submit" value="{{ title }}">
</form>
{% endblock %}
"""


def _role(request: HttpRequest) -> tuple[bool, bool]:
    user = request.user
    if not isinstance(user, User) or user.is_blocked:
        return False, False
    return user.is_staff_role, user.is_admin_role


class RoleAdminMixin:
    """Staff view; nobody adds, edits or deletes directly. Actions declare `permissions=["staff"]`
    or `["admin"]`."""

    def has_module_permission(self, request: HttpRequest) -> bool:
        return _role(request)[0]

    def has_view_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return _role(request)[0]

    def has_add_permission(self, request: HttpRequest, *args: Any) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False

    def has_staff_permission(self, request: HttpRequest) -> bool:
        return _role(request)[0]

    def has_admin_permission(self, request: HttpRequest) -> bool:
        return _role(request)[1]

    def changelist_view(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        """Refuse, visibly, an action this model admin has but the caller may not run.

        Django leaves an action the caller lacks the permission for out of the list, and a posted
        one is then ignored without a word; a moderator posting an admin-only action is told so.
        """
        name = request.POST.get("action", "") if request.method == "POST" else ""
        declared = {a if isinstance(a, str) else a.__name__ for a in (self.actions or ())}  # type: ignore[attr-defined]
        if name in declared and name not in self.get_actions(request):  # type: ignore[attr-defined]
            self.message_user(  # type: ignore[attr-defined]
                request, f"You may not run the action “{name}”: it is for admins only.", messages.ERROR
            )
            return HttpResponseRedirect(request.get_full_path())
        return super().changelist_view(request, extra_context)  # type: ignore[misc]


def apply_to_each(
    modeladmin: admin.ModelAdmin, request: HttpRequest, objects: QuerySet, apply: Callable[[Any], object]
) -> int:
    """Call `apply` (a service) per object; report domain errors per object; return the successes."""
    done = 0
    for obj in objects:
        try:
            apply(obj)
        except ApplicationError as exc:
            modeladmin.message_user(request, f"{obj}: {exc.message}", messages.ERROR)
        else:
            done += 1
    if done:
        modeladmin.message_user(request, f"Done for {done} of {len(objects)}.", messages.SUCCESS)
    return done


def run_with_form(
    modeladmin: admin.ModelAdmin,
    request: HttpRequest,
    queryset: QuerySet,
    *,
    form_class: type[forms.Form],
    title: str,
    apply: Callable[[Any, dict[str, Any]], object],
) -> TemplateResponse | None:
    """An action asking for input first: show `form_class`, then `apply(obj, cleaned_data)` per object."""
    objects = list(queryset)
    form = form_class(request.POST if APPLY_FIELD in request.POST else None)
    if form.is_bound and form.is_valid():
        apply_to_each(modeladmin, request, queryset, lambda obj: apply(obj, form.cleaned_data))
        return None  # back to the change list
    context = {
        **modeladmin.admin_site.each_context(request),
        "title": title,
        "form": form,
        "objects": objects,
        "count": len(objects),
        "action": request.POST.get("action", ""),
        "checkbox_name": helpers.ACTION_CHECKBOX_NAME,
        "apply_field": APPLY_FIELD,
        "opts": modeladmin.model._meta,
    }
    template = engines["django"].from_string(_FORM_TEMPLATE)
    return TemplateResponse(request, template, context)  # type: ignore[arg-type]


MODERATION_HISTORY_TEMPLATE = "admin/moderation_history.html"


class ModerationHistoryMixin:
    """The History page shows `moderation_history(obj)` (a read-only field of the change view too);
    the model admin sets `object_history_template = MODERATION_HISTORY_TEMPLATE`."""

    def moderation_history(self, obj: Any) -> SafeString:
        raise NotImplementedError

    def history_view(
        self, request: HttpRequest, object_id: str, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        obj = self.get_object(request, object_id)  # type: ignore[attr-defined]
        context = dict(extra_context or {})
        if obj is not None:
            context["moderation_history"] = self.moderation_history(obj)
        return super().history_view(request, object_id, context)  # type: ignore[misc,no-any-return]


# How many events a change view shows; the whole history is in GET /api/v1/audit/.
HISTORY_LIMIT = 50


def _event_details(payload: dict[str, Any]) -> str:
    """The why and the how long of a moderation event, as one line."""
    parts = []
    if payload.get("reason"):
        parts.append(f"reason: {payload['reason']}")
    if "until" in payload:
        parts.append(f"until: {payload['until'] or 'permanently'}")
    if payload.get("expired"):
        parts.append("the block expired")
    if "new_role" in payload:
        parts.append(f"role: {payload.get('old_role')} -> {payload['new_role']}")
    if "post_id" in payload:
        parts.append(f"post {payload['post_id']}")
    return "; ".join(parts)


def moderation_history_html(events: QuerySet[Any]) -> SafeString:
    """A read-only table of moderation events (from the event log): when, what, who, why."""
    rows = list(events[:HISTORY_LIMIT])
    if not rows:
        return format_html("<p>{}</p>", "No moderation so far.")
    body = format_html_join(
        "",
        "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
        (
            (
                event.occurred_at.strftime("%Y-%m-%d %H:%M:%S UTC"),
                event.type,
                event.actor.username if event.actor else "system",
                _event_details(event.payload),
            )
            for event in rows
        ),
    )
    return format_html(
        '<table class="moderation-history"><thead><tr><th>When</th><th>What</th><th>Who</th>'
        "<th>Why</th></tr></thead><tbody>{}</tbody></table>",
        body,
    )
