"""Decodes `Authorization: Bearer` access tokens for every request (PyJWT).

The outcome is left on the request for `JWTAuthentication` (DRF) to hand over: the user,
or the error to raise. A blocked user is found here on every request, so their tokens stop
working at once.
"""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

from core_app.common.auth.tokens import decode
from core_app.common.exceptions import ApplicationError, TokenInvalid, UserBlocked
from core_app.common.ids import is_plain_int
from core_app.users.models import User
from core_app.users.selectors import active_user_get


class JWTAuthenticationMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        request.jwt_user = None  # type: ignore[attr-defined]
        request.jwt_error = None  # type: ignore[attr-defined]
        header = request.headers.get("Authorization", "")
        if header:
            try:
                request.jwt_user = self._authenticate(header)  # type: ignore[attr-defined]
            except ApplicationError as exc:
                request.jwt_error = exc  # type: ignore[attr-defined]
        return self.get_response(request)

    @staticmethod
    def _authenticate(header: str) -> User:
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise TokenInvalid("Expected 'Authorization: Bearer <token>'.")
        claims = decode(token.strip(), token_type="access")
        sub = str(claims["sub"])
        user = active_user_get(int(sub)) if is_plain_int(sub) else None
        if user is None:
            raise TokenInvalid("The token's user does not exist.")
        if user.is_blocked:
            raise UserBlocked()
        return user
