"""Pages in the admin site: read-only records; blocks and unblocks go through the services."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest
from django.template.response import TemplateResponse
from django.utils import timezone
from django.utils.safestring import SafeString

from core_app.common.admin import (
    MODERATION_HISTORY_TEMPLATE,
    ModerationHistoryMixin,
    RoleAdminMixin,
    apply_to_each,
    moderation_history_html,
    run_with_form,
)
from core_app.common.views import caller
from core_app.moderation.selectors import page_moderation_history
from core_app.pages import services
from core_app.pages.models import Page
from core_app.pages.visibility import blocked_page_q
from core_app.users.models import User


class BlockPagesForm(forms.Form):
    until = forms.DateTimeField(
        required=False, help_text="UTC, in the future. Empty: permanently (admins only)."
    )
    reason = forms.CharField(max_length=services.REASON_MAX_LENGTH, widget=forms.Textarea(attrs={"rows": 3}))
    allow_permanent = False

    def clean_until(self) -> Any:
        until = self.cleaned_data.get("until")
        if until is None and not self.allow_permanent:
            raise forms.ValidationError("Only admins may block permanently; give an end date.")
        if until is not None and until <= timezone.now():
            raise forms.ValidationError("Must be in the future.")
        return until


def _block_form_for(actor: User) -> type[BlockPagesForm]:
    return type("BlockPagesFormForActor", (BlockPagesForm,), {"allow_permanent": actor.is_admin_role})


class BlockedNowFilter(admin.SimpleListFilter):
    """Blocked right now, by any cause (own block, owner's block); timed blocks end by themselves."""

    title = "blocked now"
    parameter_name = "blocked_now"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("yes", "Yes"), ("no", "No")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Page]) -> QuerySet[Page]:
        if self.value() == "yes":
            return queryset.filter(blocked_page_q())
        if self.value() == "no":
            return queryset.exclude(blocked_page_q())
        return queryset


@admin.register(Page)
class PageAdmin(ModerationHistoryMixin, RoleAdminMixin, admin.ModelAdmin):
    list_display = (
        "id",
        "uuid",
        "name",
        "owner",
        "is_private",
        "followers_count",
        "blocked_permanently",
        "blocked_until",
        "created_at",
    )
    list_filter = (BlockedNowFilter, "is_private", "blocked_permanently")
    list_select_related = ("owner",)
    search_fields = ("uuid", "name", "owner__username", "tags__name")
    ordering = ("-id",)
    fields = (
        "uuid",
        "name",
        "description",
        "owner",
        "is_private",
        "image_key",
        "followers_count",
        "blocked_permanently",
        "blocked_until",
        "blocked_reason",
        "created_at",
        "updated_at",
        "moderation_history",
    )
    readonly_fields = ("moderation_history",)
    object_history_template = MODERATION_HISTORY_TEMPLATE
    actions = ("block_pages", "unblock_pages")

    @admin.display(description="Moderation history")
    def moderation_history(self, page: Page) -> SafeString:
        return moderation_history_html(page_moderation_history(page_id=page.pk))

    @admin.action(description="Block selected pages", permissions=["staff"])
    def block_pages(self, request: HttpRequest, queryset: QuerySet[Page]) -> TemplateResponse | None:
        actor = caller(request)
        return run_with_form(
            self,
            request,
            queryset,
            form_class=_block_form_for(actor),
            title="Block pages",
            apply=lambda page, data: services.page_block(
                page=page, actor=actor, until=data["until"], reason=data["reason"]
            ),
        )

    @admin.action(description="Unblock selected pages", permissions=["staff"])
    def unblock_pages(self, request: HttpRequest, queryset: QuerySet[Page]) -> None:
        actor = caller(request)
        apply_to_each(self, request, queryset, lambda page: services.page_unblock(page=page, actor=actor))
