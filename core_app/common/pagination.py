"""Cursor pagination shared by every list: {"results": [...], "next": url | null}."""

from __future__ import annotations

from typing import Any

from rest_framework import pagination
from rest_framework.exceptions import NotFound
from rest_framework.request import Request
from rest_framework.response import Response

from core_app.common.exceptions import ValidationFailed

DEFAULT_LIMIT = 20
MAX_LIMIT = 100


def parse_limit(request: Request, default: int = DEFAULT_LIMIT, maximum: int = MAX_LIMIT) -> int:
    """`?limit=`: a positive integer, capped at `maximum`; anything else is a 400."""
    raw = request.query_params.get("limit")
    if raw is None or raw == "":
        return default
    if not raw.isdigit() or int(raw) < 1:
        raise ValidationFailed.field("limit", "Must be a positive integer.")
    return min(int(raw), maximum)


class CursorPagination(pagination.CursorPagination):
    """Keyset pagination on a unique, monotonic ordering (views set `ordering`, default `-id`).

    Following `next` yields every item once in a stable order even while new rows arrive.
    """

    ordering = "-id"
    page_size = DEFAULT_LIMIT
    max_page_size = MAX_LIMIT
    page_size_query_param = "limit"

    def get_page_size(self, request: Request) -> int:
        return parse_limit(request, self.page_size, self.max_page_size)

    def decode_cursor(self, request: Request) -> Any:
        try:
            return super().decode_cursor(request)
        except NotFound:
            raise ValidationFailed.field("cursor", "Invalid cursor.") from None

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
