"""Domain exceptions and the one handler that turns every error into the API's error body.

Body: {"error": {"code": "<snake_case>", "message": "<human text>", "details": {...}}}
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable
from http import HTTPStatus
from typing import Any

import psycopg
from django.conf import settings
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig, TooManyFieldsSent, TooManyFilesSent
from django.db import utils as db_utils
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBase, JsonResponse
from rest_framework import exceptions as drf
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

logger = logging.getLogger(__name__)


class ApplicationError(Exception):
    """Base of domain errors raised by services and selectors."""

    status_code = 400
    code = "bad_request"
    default_message = "The request cannot be processed."

    def __init__(self, message: str | None = None, *, details: dict[str, Any] | None = None) -> None:
        self.message = message or self.default_message
        self.details = details or {}
        super().__init__(self.message)


class ValidationFailed(ApplicationError):
    status_code, code, default_message = 400, "validation_error", "The input is not valid."

    @classmethod
    def field(cls, name: str, message: str) -> ValidationFailed:
        return cls(details={name: [message]})


class InvalidFile(ApplicationError):
    status_code, code, default_message = 400, "invalid_file", "The file is not a valid image."


class NotAuthenticated(ApplicationError):
    status_code, code, default_message = (
        401,
        "not_authenticated",
        "Authentication credentials were not provided.",
    )


class TokenInvalid(ApplicationError):
    status_code, code, default_message = 401, "token_invalid", "The token is invalid."


class TokenExpired(ApplicationError):
    status_code, code, default_message = 401, "token_expired", "The token has expired."


class PermissionDeniedError(ApplicationError):
    status_code, code, default_message = 403, "permission_denied", "You may not do this."


class UserBlocked(ApplicationError):
    status_code, code, default_message = 403, "user_blocked", "This account is blocked."


class NotFound(ApplicationError):
    status_code, code, default_message = 404, "not_found", "Not found."


class Conflict(ApplicationError):
    status_code, code, default_message = 409, "conflict", "This conflicts with existing data."


class FileTooLarge(ApplicationError):
    status_code, code, default_message = 413, "file_too_large", "The file is too large."


class UnsupportedMediaType(ApplicationError):
    status_code, code, default_message = 415, "unsupported_media_type", "This media type is not supported."


class RequestTooLarge(ApplicationError):
    status_code, code, default_message = 413, "request_too_large", "The request body is too large."


class Throttled(ApplicationError):
    status_code, code, default_message = 429, "throttled", "Too many attempts; try again later."


class ServiceUnavailable(ApplicationError):
    status_code, code, default_message = 503, "service_unavailable", "A dependency is unavailable."


class DatabaseUnavailable(ServiceUnavailable):
    default_message = "The database is unavailable; try again shortly."


# A database that is down, restarting or has dropped the connection. Django wraps the driver's
# errors in its own classes, but code that uses psycopg directly raises psycopg's.
DATABASE_UNAVAILABLE: tuple[type[Exception], ...] = (
    db_utils.OperationalError,
    db_utils.InterfaceError,
    psycopg.OperationalError,
    psycopg.InterfaceError,
)
# What a 503 asks the client to wait before retrying (a PostgreSQL restart takes a few seconds).
RETRY_AFTER_SECONDS = 5


def error_body(code: str, message: str, details: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "details": details or {}}}


_DRF_CODES: dict[type[drf.APIException], str] = {
    drf.ValidationError: "validation_error",
    drf.ParseError: "validation_error",
    drf.NotAuthenticated: "not_authenticated",
    drf.AuthenticationFailed: "token_invalid",
    drf.PermissionDenied: "permission_denied",
    drf.NotFound: "not_found",
    drf.MethodNotAllowed: "method_not_allowed",
    drf.NotAcceptable: "not_acceptable",
    drf.UnsupportedMediaType: "unsupported_media_type",
    drf.Throttled: "throttled",
}


def _drf_details(exc: drf.APIException) -> dict[str, Any]:
    if not isinstance(exc, drf.ValidationError):
        return {}
    detail = exc.detail
    if isinstance(detail, dict):
        return {k: v if isinstance(v, list | dict) else [v] for k, v in detail.items()}
    return {"non_field_errors": detail if isinstance(detail, list) else [detail]}


def _drf_message(exc: drf.APIException) -> str:
    if isinstance(exc, drf.ValidationError | drf.ParseError):
        return "The input is not valid." if isinstance(exc, drf.ValidationError) else str(exc.detail)
    return str(exc.detail)


def _application_error_response(exc: ApplicationError) -> Response:
    response = Response(error_body(exc.code, exc.message, exc.details), status=exc.status_code)
    if exc.status_code == 401:
        # RFC 7235: a 401 names the scheme that would work.
        response["WWW-Authenticate"] = 'Bearer realm="api"'
    elif exc.status_code == 503:
        response["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return response


def api_exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """DRF's EXCEPTION_HANDLER: every error gets the same body."""
    if isinstance(exc, DATABASE_UNAVAILABLE):
        logger.warning("database unavailable: %s", exc)
        exc = DatabaseUnavailable()
    elif isinstance(exc, RequestDataTooBig):
        exc = RequestTooLarge()
    elif isinstance(exc, TooManyFieldsSent | TooManyFilesSent):
        exc = ValidationFailed.field("body", "Too many fields or files.")
    if isinstance(exc, ApplicationError):
        return _application_error_response(exc)
    if isinstance(exc, Http404):
        exc = drf.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = drf.PermissionDenied()
    response = drf_exception_handler(exc, context)
    if response is None or not isinstance(exc, drf.APIException):
        return response
    code = getattr(exc, "error_code", None) or _DRF_CODES.get(type(exc))
    if code is None:
        code = next((c for k, c in _DRF_CODES.items() if isinstance(exc, k)), "error")
    if isinstance(exc, drf.ParseError):
        response.data = error_body("validation_error", _drf_message(exc), {"body": [str(exc.detail)]})
    else:
        response.data = error_body(code, _drf_message(exc), _drf_details(exc))
    return response


# --- Django's own error answers (handler400/403/404/500, CSRF, 405), also as the API's body ---


def _json_error(status: int, code: str, message: str, details: dict[str, Any] | None = None) -> JsonResponse:
    return JsonResponse(error_body(code, message, details), status=status)


def database_unavailable_response() -> JsonResponse:
    response = _json_error(503, DatabaseUnavailable.code, DatabaseUnavailable.default_message)
    response["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return response


def json_400(request: HttpRequest, exception: Exception | None = None) -> JsonResponse:
    return _json_error(400, "bad_request", "Bad request.")


def json_403(request: HttpRequest, exception: Exception | None = None) -> JsonResponse:
    return _json_error(403, "permission_denied", "You may not do this.")


def json_404(request: HttpRequest, exception: Exception | None = None) -> JsonResponse:
    return _json_error(404, "not_found", "Not found.")


def json_500(request: HttpRequest) -> JsonResponse:
    """handler500. Django calls it while handling the exception, from any layer (a view, a
    middleware), so the exception is still at hand: a database that is away is a 503, not a bug."""
    if isinstance(sys.exc_info()[1], DATABASE_UNAVAILABLE):
        return database_unavailable_response()
    return _json_error(500, "server_error", "Internal error.")


def csrf_failure(request: HttpRequest, reason: str = "") -> JsonResponse:
    """CSRF_FAILURE_VIEW (the admin panel's forms; the API itself authenticates by token)."""
    return _json_error(
        403, "permission_denied", "CSRF verification failed.", {"csrf": [reason]} if reason else None
    )


def json_405(allowed: list[str]) -> JsonResponse:
    response = _json_error(405, "method_not_allowed", "Method not allowed.")
    response["Allow"] = ", ".join(allowed)
    return response


_STATUS_CODES = {
    400: "bad_request",
    401: "not_authenticated",
    403: "permission_denied",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    409: "conflict",
    413: "request_too_large",
    415: "unsupported_media_type",
    429: "throttled",
    500: "server_error",
    503: "service_unavailable",
}
# Headers that describe the old body; every other header (Allow, Retry-After, ...) is kept.
_BODY_HEADERS = {"content-type", "content-length", "content-encoding", "content-disposition"}


class JSONErrorsMiddleware:
    """The outermost middleware: any error answer that is not JSON yet (a 405 of a plain Django
    view, an error the schema view rendered as YAML, a static file refused by WhiteNoise, ...)
    is answered with the API's error body, its status and headers kept. Debug mode keeps
    Django's HTML pages."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        response = self.get_response(request)
        if response.status_code < 400 or settings.DEBUG:
            return response
        if response.get("Content-Type", "").split(";")[0].strip() == "application/json":
            return response
        return as_json_error(response)


def as_json_error(response: HttpResponseBase) -> HttpResponse:
    status = response.status_code
    data = getattr(response, "data", None)  # a DRF response rendered by another renderer
    if not (isinstance(data, dict) and set(data) == {"error"}):
        try:
            phrase = HTTPStatus(status).phrase
        except ValueError:
            phrase = "Error"
        data = error_body(
            _STATUS_CODES.get(status, "server_error" if status >= 500 else "bad_request"), f"{phrase}."
        )
    replacement = JsonResponse(data, status=status)
    for header, value in response.items():
        if header.lower() not in _BODY_HEADERS:
            replacement[header] = value
    replacement.cookies = response.cookies
    return replacement
