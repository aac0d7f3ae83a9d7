"""Cursor pagination over integer keys (post id, like id, log position)."""

from __future__ import annotations

from typing import Any

from rest_framework.request import Request

from core_app.common.exceptions import ValidationFailed
from core_app.common.ids import is_plain_int
from core_app.common.pagination import CursorPagination


class IntegerKeyCursorPagination(CursorPagination):
    """Refuses a cursor whose position is not a bigint, which would fail in the database."""

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
