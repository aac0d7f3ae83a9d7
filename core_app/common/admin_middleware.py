"""The admin panel's middleware (sessions, CSRF cookie, Django auth, messages), off on API paths.

The API authenticates every request with a bearer token and never reads a session, a CSRF
cookie or a message, and its DRF views are CSRF-exempt anyway; so on `/api/` these classes
hand the request straight on instead of loading a session store, a message store and a lazy
user for nothing. Everywhere else (the admin panel) they run unchanged. The CSRF check itself
(`process_view`) is left as it is on every path: a non-exempt view under `/api/` would still
be refused an unsafe request without a token.
"""

from __future__ import annotations

from django.contrib.auth.middleware import AuthenticationMiddleware as DjangoAuthenticationMiddleware
from django.contrib.messages.middleware import MessageMiddleware as DjangoMessageMiddleware
from django.contrib.sessions.middleware import SessionMiddleware as DjangoSessionMiddleware
from django.http import HttpRequest, HttpResponse
from django.middleware.csrf import CsrfViewMiddleware as DjangoCsrfViewMiddleware
from django.utils.deprecation import MiddlewareMixin

API_PREFIX = "/api/"


def is_api_path(request: HttpRequest) -> bool:
    return request.path_info.startswith(API_PREFIX)


class NotOnApi(MiddlewareMixin):
    """Put before a MiddlewareMixin middleware: on API paths, only pass the request on."""

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if is_api_path(request):
            return self.get_response(request)  # type: ignore[return-value]  # sync stack
        return super().__call__(request)  # type: ignore[return-value]


class SessionMiddleware(NotOnApi, DjangoSessionMiddleware):
    pass


class CsrfViewMiddleware(NotOnApi, DjangoCsrfViewMiddleware):
    pass


class AuthenticationMiddleware(NotOnApi, DjangoAuthenticationMiddleware):
    pass


class MessageMiddleware(NotOnApi, DjangoMessageMiddleware):
    pass
