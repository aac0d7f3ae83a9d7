"""Cursor pagination shared by every list: {"results": [...], "next": url | null}."""

from __future__ import annotations

import base64
from typing import Any
from urllib import parse

from django.core.exceptions import FieldDoesNotExist
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import Field, IntegerField, Model
from rest_framework import pagination
from rest_framework.exceptions import NotFound
from rest_framework.request import Request
from rest_framework.response import Response

from core_app.common.exceptions import ValidationFailed
from core_app.common.ids import is_plain_int

DEFAULT_LIMIT = 20
MAX_LIMIT = 100


def parse_limit(request: Request, default: int = DEFAULT_LIMIT, maximum: int = MAX_LIMIT) -> int:
    """`?limit=`: a positive integer, capped at `maximum`; anything else is a 400."""
    raw = request.query_params.get("limit")
    if raw is None or raw == "":
        return default
    # isascii: str.isdigit also accepts digits like '²' that int() refuses.
    if not (raw.isascii() and raw.isdigit()):
        raise ValidationFailed.field("limit", "Must be a positive integer.")
    digits = raw.lstrip("0")
    if not digits:
        raise ValidationFailed.field("limit", "Must be a positive integer.")
    if len(digits) > len(str(maximum)):  # over the cap (and int() refuses very long strings)
        return maximum
    return min(int(digits), maximum)


def _invalid_cursor() -> ValidationFailed:
    return ValidationFailed.field("cursor", "Invalid cursor.")


def _well_formed(encoded: str) -> bool:
    """A cursor this pagination issued: strict base64 of a non-empty `o`/`r`/`p` query string."""
    try:
        text = base64.b64decode(encoded.encode("ascii"), validate=True).decode("ascii")
        tokens = parse.parse_qs(text, keep_blank_values=True, strict_parsing=True)
    except (ValueError, UnicodeError):
        return False
    return bool(tokens) and set(tokens) <= {"o", "r", "p"}


class CursorPagination(pagination.CursorPagination):
    """Keyset pagination on a unique, monotonic ordering (views set `ordering`, default `-id`).

    Following `next` yields every item once in a stable order even while new rows arrive.
    """

    ordering = "-id"
    page_size = DEFAULT_LIMIT
    max_page_size = MAX_LIMIT
    page_size_query_param = "limit"
    _model: type[Model] | None = None

    def get_page_size(self, request: Request) -> int:
        return parse_limit(request, self.page_size, self.max_page_size)

    def decode_cursor(self, request: Request) -> Any:
        encoded = request.query_params.get(self.cursor_query_param)
        if encoded is not None and not _well_formed(encoded):
            raise _invalid_cursor()
        try:
            cursor = super().decode_cursor(request)
        except NotFound:
            raise _invalid_cursor() from None
        if cursor is not None and cursor.position is not None:
            self._check_position(cursor.position)
        return cursor

    def _check_position(self, position: object) -> None:
        """The position must be a value of the ordering field, else the query itself would fail (a 500).

        Integer keys (ids, log positions) must be written plainly: digits only, within bigint.
        """
        ordering = self.ordering if isinstance(self.ordering, list | tuple) else (self.ordering,)
        if self._model is None:
            return
        try:
            field = self._model._meta.get_field(str(ordering[0]).lstrip("-"))
        except FieldDoesNotExist:
            return
        if isinstance(field, IntegerField):
            if not is_plain_int(str(position)):
                raise _invalid_cursor()
        elif isinstance(field, Field):
            try:
                field.to_python(position)
            except (DjangoValidationError, TypeError, ValueError):
                raise _invalid_cursor() from None

    def paginate_queryset(self, queryset: Any, request: Request, view: Any = None) -> Any:
        self._model = queryset.model
        try:
            return super().paginate_queryset(queryset, request, view)
        except (DjangoValidationError, TypeError, ValueError):
            # A position that the ordering (e.g. an annotation) cannot take.
            if request.query_params.get(self.cursor_query_param) is None:
                raise
            raise _invalid_cursor() from None

    def get_paginated_response(self, data: Any) -> Response:
        return Response({"results": data, "next": self.get_next_link()})

    def get_paginated_response_schema(self, schema: dict[str, Any]) -> dict[str, Any]:
        return {
            "type": "object",
            "required": ["results", "next"],
            "properties": {
                "results": schema,
                "next": {"type": "string", "nullable": True, "format": "uri"},
            },
        }
