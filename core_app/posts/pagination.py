"""Cursor pagination of posts and likes by id (the shared cursor checks cover integer keys)."""

from __future__ import annotations

from core_app.common.pagination import CursorPagination


class NewestFirstPagination(CursorPagination):
    ordering = "-id"


class OldestFirstPagination(CursorPagination):
    ordering = "id"
