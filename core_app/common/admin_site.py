"""The admin site: open to staff roles (moderator, admin) that are not blocked.

`role` is the source of truth, not Django's `is_staff` flag (services keep that in sync).
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib.admin import AdminSite
from django.contrib.admin.forms import AdminAuthenticationForm
from django.http import HttpRequest

from core_app.common.exceptions import Throttled, UserBlocked
from core_app.users.models import User


def may_use_admin(user: object) -> bool:
    """Whether a user may enter the admin site."""
    return isinstance(user, User) and user.is_active and user.is_staff_role and not user.is_blocked


class StaffRoleAuthenticationForm(AdminAuthenticationForm):
    """The panel's login: the e-mail and password, checked by the same service as the API login.

    So the per-account throttle of failed attempts holds here too, and every failure is recorded.
    """

    username = forms.EmailField(
        label="E-mail", max_length=254, widget=forms.EmailInput(attrs={"autofocus": True})
    )

    def clean(self) -> dict[str, Any]:
        from core_app.users import services  # the services import the admin site's models

        email, password = self.cleaned_data.get("username"), self.cleaned_data.get("password")
        if email and password:
            try:
                self.user_cache = services.user_authenticate(email=email, password=password)
            except Throttled as exc:
                raise forms.ValidationError(exc.message, code="throttled") from None
            except (services.InvalidCredentials, UserBlocked):
                raise self.get_invalid_login_error() from None
            self.confirm_login_allowed(self.user_cache)
        return self.cleaned_data

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
