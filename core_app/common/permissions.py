"""Role-based DRF permissions ("staff" means moderator or admin)."""

from __future__ import annotations

from typing import Any

from rest_framework.permissions import BasePermission
from rest_framework.request import Request

from core_app.users.models import User


class IsStaffRole(BasePermission):
    message = "Only moderators and admins may do this."

    def has_permission(self, request: Request, view: Any) -> bool:
        return isinstance(request.user, User) and request.user.is_staff_role


class IsAdminRole(BasePermission):
    message = "Only admins may do this."

    def has_permission(self, request: Request, view: Any) -> bool:
        return isinstance(request.user, User) and request.user.is_admin_role
