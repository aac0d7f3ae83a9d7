"""The admin site: open to staff roles (moderator, admin) that are not blocked.

`role` is the source of truth, not Django's `is_staff` flag (services keep that in sync).
"""

from __future__ import annotations

from django import forms
from django.contrib.admin import AdminSite
from django.contrib.admin.forms import AdminAuthenticationForm
from django.http import HttpRequest

from core_app.users.models import User


def may_use_admin(user: object) -> bool:
    """Whether a user may enter the admin site."""
    return isinstance(user, User) and user.is_active and user.is_staff_role and not user.is_blocked


class StaffRoleAuthenticationForm(AdminAuthenticationForm):
    def confirm_login_allowed(self, user: User) -> None:  # type: ignore[override]
        if not may_use_admin(user):
            raise forms.ValidationError(
                self.error_messages["invalid_login"],
                code="invalid_login",
                params={"username": self.username_field.verbose_name},
            )


class InnotterAdminSite(AdminSite):
    site_header = "Innotter administration"
    site_title = "Innotter admin"
    login_form = StaffRoleAuthenticationForm

    def has_permission(self, request: HttpRequest) -> bool:
        return may_use_admin(request.user)
