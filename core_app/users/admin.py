"""Users in the admin site: read-only records; block, unblock and role changes go through services."""

from __future__ import annotations

from django import forms
from django.contrib import admin
from django.contrib.auth.models import Group
from django.db.models import QuerySet
from django.http import HttpRequest
from django.template.response import TemplateResponse
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
from core_app.moderation.selectors import user_moderation_history
from core_app.users import services
from core_app.users.models import Role, User


class BlockForm(forms.Form):
    reason = forms.CharField(max_length=500, widget=forms.Textarea(attrs={"rows": 3}))


class RoleForm(forms.Form):
    role = forms.ChoiceField(choices=Role.choices)


@admin.register(User)
class UserAdmin(ModerationHistoryMixin, RoleAdminMixin, admin.ModelAdmin):
    list_display = ("id", "username", "email", "role", "is_blocked", "is_active", "date_joined")
    list_filter = ("role", "is_blocked", "is_active")
    search_fields = ("username", "email", "first_name", "last_name")
    ordering = ("-id",)
    fields = (
        "username",
        "email",
        "first_name",
        "last_name",
        "role",
        "is_blocked",
        "blocked_reason",
        "blocked_at",
        "avatar_key",
        "email_notifications",
        "is_active",
        "date_joined",
        "last_login",
        "moderation_history",
    )
    readonly_fields = ("moderation_history",)
    object_history_template = MODERATION_HISTORY_TEMPLATE
    actions = ("block_users", "unblock_users", "change_role")

    @admin.display(description="Moderation history")
    def moderation_history(self, user: User) -> SafeString:
        return moderation_history_html(user_moderation_history(user_id=user.pk))

    @admin.action(description="Block selected users", permissions=["admin"])
    def block_users(self, request: HttpRequest, queryset: QuerySet[User]) -> TemplateResponse | None:
        actor = caller(request)
        return run_with_form(
            self,
            request,
            queryset,
            form_class=BlockForm,
            title="Block users",
            apply=lambda user, data: services.user_block(actor=actor, user=user, reason=data["reason"]),
        )

    @admin.action(description="Unblock selected users", permissions=["admin"])
    def unblock_users(self, request: HttpRequest, queryset: QuerySet[User]) -> None:
        actor = caller(request)
        apply_to_each(self, request, queryset, lambda user: services.user_unblock(actor=actor, user=user))

    @admin.action(description="Change role of selected users", permissions=["admin"])
    def change_role(self, request: HttpRequest, queryset: QuerySet[User]) -> TemplateResponse | None:
        actor = caller(request)
        return run_with_form(
            self,
            request,
            queryset,
            form_class=RoleForm,
            title="Change role",
            apply=lambda user, data: services.user_change_role(actor=actor, user=user, role=data["role"]),
        )


# Permissions come from roles, so Django's groups are not used.
if admin.site.is_registered(Group):
    admin.site.unregister(Group)
