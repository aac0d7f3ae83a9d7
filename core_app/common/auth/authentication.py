"""DRF authentication that hands over the user decoded by JWTAuthenticationMiddleware."""

from __future__ import annotations

from typing import Any

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework.authentication import BaseAuthentication
from rest_framework.request import Request

from core_app.users.models import User


class JWTAuthentication(BaseAuthentication):
    def authenticate(self, request: Request) -> tuple[User, None] | None:
        raw = request._request
        error = getattr(raw, "jwt_error", None)
        if error is not None:
            raise error
        user = getattr(raw, "jwt_user", None)
        return (user, None) if user is not None else None

    def authenticate_header(self, request: Request) -> str:
        return 'Bearer realm="api"'


class JWTAuthenticationScheme(OpenApiAuthenticationExtension):
    target_class = JWTAuthentication
    name = "BearerAuth"

    def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
        return {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
