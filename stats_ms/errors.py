"""The service's errors and the handlers that give every error the API's body.

Body: {"error": {"code": "<snake_case>", "message": "<human text>", "details": {...}}}
"""

from __future__ import annotations

import logging
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

logger = logging.getLogger(__name__)

_HTTP_CODES = {
    400: "bad_request",
    401: "not_authenticated",
    403: "permission_denied",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    415: "unsupported_media_type",
}


class ApiError(Exception):
    """Base of the errors this service answers with."""

    status_code = 400
    code = "bad_request"
    default_message = "The request cannot be processed."

    def __init__(self, message: str | None = None, *, details: dict[str, Any] | None = None) -> None:
        self.message = message or self.default_message
        self.details = details or {}
        super().__init__(self.message)


class NotAuthenticated(ApiError):
    status_code, code, default_message = (
        401,
        "not_authenticated",
        "Authentication credentials were not provided.",
    )


class TokenInvalid(ApiError):
    status_code, code, default_message = 401, "token_invalid", "The token is invalid."


class TokenExpired(ApiError):
    status_code, code, default_message = 401, "token_expired", "The token has expired."


class PermissionDenied(ApiError):
    status_code, code, default_message = (
        403,
        "permission_denied",
        "Only the page's owner may see its statistics.",
    )


class UserBlocked(ApiError):
    status_code, code, default_message = 403, "user_blocked", "This account is blocked."


class NotFound(ApiError):
    status_code, code, default_message = 404, "not_found", "Not found."


class ServiceUnavailable(ApiError):
    status_code, code, default_message = 503, "service_unavailable", "A dependency is unavailable."


class ErrorBody(BaseModel):
    code: str
    message: str
    details: dict[str, Any]


class ErrorOut(BaseModel):
    """The body of every error answer (the core's too)."""

    error: ErrorBody


ERROR_DESCRIPTIONS = {
    401: "No, invalid or expired token (`not_authenticated`, `token_invalid`, `token_expired`).",
    403: "The caller may not see these figures (`permission_denied`), or their account is blocked "
    "(`user_blocked`, at once: the service folds the core's blocks from the event stream).",
    404: "No statistics for this page (`not_found`).",
    503: "DynamoDB or the verification key is away (`service_unavailable`); retry after Retry-After.",
}


def error_responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    """The OpenAPI `responses` of a route's error answers, all with the error body."""
    return {code: {"model": ErrorOut, "description": ERROR_DESCRIPTIONS[code]} for code in codes}


def error_body(code: str, message: str, details: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "details": details or {}}}


def _response(status: int, code: str, message: str, details: dict[str, Any] | None = None) -> JSONResponse:
    headers = {"WWW-Authenticate": 'Bearer realm="stats"'} if status == 401 else None
    return JSONResponse(error_body(code, message, details), status_code=status, headers=headers)


async def _api_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ApiError)
    return _response(exc.status_code, exc.code, exc.message, exc.details)


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    code = _HTTP_CODES.get(exc.status_code, "error")
    return _response(exc.status_code, code, str(exc.detail))


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    details: dict[str, list[str]] = {}
    for error in exc.errors():
        field = ".".join(str(part) for part in error.get("loc", ())) or "non_field_errors"
        details.setdefault(field, []).append(str(error.get("msg", "invalid")))
    return _response(400, "validation_error", "The input is not valid.", details)


async def _aws_error(request: Request, exc: Exception) -> JSONResponse:
    logger.warning("DynamoDB unavailable: %s", exc)
    return _response(503, "service_unavailable", "The statistics store is unavailable.")


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    logger.exception("unhandled error on %s %s", request.method, request.url.path)
    return _response(500, "server_error", "Internal error.")


def install_error_handlers(app: FastAPI) -> None:
    """Route every error, whatever raised it, to the API's error body."""
    app.add_exception_handler(ApiError, _api_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(BotoCoreError, _aws_error)
    app.add_exception_handler(ClientError, _aws_error)
    app.add_exception_handler(Exception, _unexpected)
