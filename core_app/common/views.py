"""Helpers of the HTTP adapters (API views and admin actions): the caller and validated input."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from rest_framework.request import Request
from rest_framework.serializers import Serializer

from core_app.users.models import User


def caller(request: Request | HttpRequest) -> User:
    """The authenticated user (the view's permission check or the admin site has already run)."""
    assert isinstance(request.user, User)
    return request.user


def validated(serializer_class: type[Serializer], data: Any) -> dict[str, Any]:
    """`data` validated by `serializer_class`; a ValidationError (400) otherwise."""
    serializer = serializer_class(data=data)
    serializer.is_valid(raise_exception=True)
    return dict(serializer.validated_data)
