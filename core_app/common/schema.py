"""The OpenAPI schema describes errors too: every operation lists the 4xx/5xx it can answer.

Set as DEFAULT_SCHEMA_CLASS. Each operation gets, unless its view documents the code itself,
the error envelope (`Error`, the body of core_app.common.exceptions.error_body) for:

- 400 validation_error where it takes input (a body or query parameters);
- 401 and 403 where it authenticates (no, bad or expired token; permission_denied, and
  user_blocked for a blocked account on every authenticated operation);
- 404 where the path names an object;
- 413 and 415 where it takes a body;
- 503 everywhere (the database away), with Retry-After.

Every operation also documents the `X-Request-ID` request header, and every answer, errors
included, the same response header (core_app/common/request_id.py).

Codes that only some operations answer (409 conflict, 429 throttled, a login's 401) are in
OPERATION_ERRORS below, by "METHOD path" as the schema spells it; a view may also declare one
in its own `extend_schema(responses=...)` with `errors(...)`.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.openapi import AutoSchema as SpectacularAutoSchema
from drf_spectacular.utils import OpenApiResponse
from rest_framework import serializers

from observability.trace import HTTP_HEADER, MAX_LENGTH

ERROR_DESCRIPTIONS = {
    400: "Invalid input (`validation_error`, details: field -> messages).",
    401: "No, invalid or expired credentials (`not_authenticated`, `token_invalid`, `token_expired`).",
    403: "Not allowed (`permission_denied`), or the account is blocked (`user_blocked`).",
    404: "No such object, or one the caller may not know exists (`not_found`).",
    409: "Conflicts with existing data (`conflict`).",
    413: "The body is over its documented limit (`request_too_large`, `file_too_large`).",
    415: "The body's media type is not accepted (`unsupported_media_type`).",
    429: "Too many attempts (`throttled`).",
    503: "A dependency is away (`service_unavailable`); retry after Retry-After seconds.",
}
# What only some operations answer, beyond the rules above (tests.fuzz checks every key exists).
OPERATION_ERRORS: dict[str, set[int]] = {
    "POST /api/v1/auth/register/": {409},  # username or e-mail taken
    "POST /api/v1/auth/login/": {401, 403, 429},  # wrong credentials, blocked, throttled per account
    "POST /api/v1/auth/refresh/": {401, 403},  # used, revoked or expired; the user blocked since
    "PATCH /api/v1/users/me/": {409},  # username taken
    "POST /api/v1/users/{id}/block/": {409},  # already blocked
    "POST /api/v1/users/{id}/unblock/": {409},  # not blocked
    "POST /api/v1/pages/": {409},  # handle taken
    "PATCH /api/v1/pages/{id}/": {409},  # handle taken
    "POST /api/v1/pages/{id}/follow/": {409},  # one's own page
}
RETRY_AFTER_HEADER = {"Retry-After": {"schema": {"type": "integer"}, "description": "Seconds to wait"}}
REQUEST_ID_DESCRIPTION = (
    f"The request's id, which its log lines and the events it appends carry. An id of 1 to {MAX_LENGTH} "
    "characters out of `A-Z a-z 0-9 . _ : + / = @ -` is kept; any other value, or none, is replaced "
    "by a fresh one (never an error)."
)
REQUEST_ID_PARAMETER = {
    "in": "header",
    "name": HTTP_HEADER,
    "required": False,
    "schema": {"type": "string"},
    "description": REQUEST_ID_DESCRIPTION,
}
REQUEST_ID_HEADER = {
    HTTP_HEADER: {
        "schema": {"type": "string", "maxLength": MAX_LENGTH},
        "required": True,
        "description": "The id the request went by: the one it sent if kept, else the one made for it.",
    }
}


class ErrorBodySerializer(serializers.Serializer):
    code = serializers.CharField(help_text="snake_case error code")
    message = serializers.CharField(help_text="human text")
    details = serializers.DictField(help_text="e.g. field -> list of messages")


class ErrorSerializer(serializers.Serializer):
    """The body of every error answer: {"error": {"code", "message", "details"}}."""

    error = ErrorBodySerializer()


def errors(*codes: int) -> dict[int, OpenApiResponse]:
    """Error responses to add to an `extend_schema(responses=...)` for codes only this view answers."""
    return {code: OpenApiResponse(ErrorSerializer, description=ERROR_DESCRIPTIONS[code]) for code in codes}


def _sometimes_omitted() -> dict[str, tuple[str, ...]]:
    """Serializer class name -> fields its to_representation drops for some viewers."""
    from core_app.users.serializers import PRIVATE_FIELDS

    return {"UserSerializer": tuple(PRIVATE_FIELDS)}


class AutoSchema(SpectacularAutoSchema):
    """drf-spectacular's AutoSchema plus the error answers each operation can give."""

    def get_operation(self, *args: Any, **kwargs: Any) -> dict[str, Any] | None:
        operation = super().get_operation(*args, **kwargs)
        if operation is None:
            return None
        responses: dict[str, Any] = operation.setdefault("responses", {})
        for code in sorted(self._error_codes(operation)):
            if str(code) not in responses:
                responses[str(code)] = self._error_response(code)
        operation.setdefault("parameters", []).append(REQUEST_ID_PARAMETER)
        for response in responses.values():
            response["headers"] = {**response.get("headers", {}), **REQUEST_ID_HEADER}
        return operation

    def _map_basic_serializer(self, serializer: Any, direction: str) -> dict[str, Any]:
        """Fields a serializer leaves out for some callers are not required in its answers."""
        schema: dict[str, Any] = super()._map_basic_serializer(serializer, direction)
        omitted = set(_sometimes_omitted().get(type(serializer).__name__, ()))
        if omitted and "required" in schema:
            schema["required"] = [name for name in schema["required"] if name not in omitted]
        return schema

    def _error_codes(self, operation: dict[str, Any]) -> set[int]:
        codes = {503}
        takes_body = "requestBody" in operation
        parameters = operation.get("parameters", [])
        if takes_body or any(p.get("in") == "query" for p in parameters):
            codes.add(400)
        if any(requirement for requirement in operation.get("security", [])):
            codes |= {401, 403}
        if any(p.get("in") == "path" for p in parameters):
            codes.add(404)
        if takes_body:
            codes |= {413, 415}
        return codes | OPERATION_ERRORS.get(f"{self.method} {self.path}", set())

    def _error_response(self, code: int) -> dict[str, Any]:
        response = self._get_response_for_code(ErrorSerializer, str(code), direction="response")
        response["description"] = ERROR_DESCRIPTIONS[code]
        if code == 503:
            response["headers"] = RETRY_AFTER_HEADER
        return dict(response)
