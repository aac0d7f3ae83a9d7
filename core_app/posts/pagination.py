"""Cursor pagination over integer keys (post id, like id, log position)."""

from __future__ import annotations

from typing import Any

from rest_framework.request import Request

from core_app.common.exceptions import ValidationFailed
from core_app.common.pagination import DEFAULT_LIMIT, MAX_LIMIT, CursorPagination, parse_limit

MAX_BIGINT = 2**63 - 1


def is_plain_int(raw: str, maximum: int = MAX_BIGINT) -> bool:
    """ASCII digits only (str.isdigit also accepts e.g. '²') and within `maximum`."""
    return raw.isascii() and raw.isdigit() and int(raw) <= maximum


def strict_limit(request: Request, default: int = DEFAULT_LIMIT, maximum: int = MAX_LIMIT) -> int:
    """`?limit=` as every list reads it (see `parse_limit`)."""
    return parse_limit(request, default, maximum)


class IntegerKeyCursorPagination(CursorPagination):
    """Refuses a cursor whose position is not a bigint, which would fail in the database."""

    def get_page_size(self, request: Request) -> int:
        return strict_limit(request, self.page_size, self.max_page_size)

    def decode_cursor(self, request: Request) -> Any:
        cursor = super().decode_cursor(request)
        position = cursor.position if cursor is not None else None
        if position is not None and not is_plain_int(position):
            raise ValidationFailed.field("cursor", "Invalid cursor.")
        return cursor


class NewestFirstPagination(IntegerKeyCursorPagination):
    ordering = "-id"


class OldestFirstPagination(IntegerKeyCursorPagination):
    ordering = "id"
