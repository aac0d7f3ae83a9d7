"""GET /api/v1/feed/: the caller's news feed, newest first, cursor-paginated."""

from __future__ import annotations

import base64
import binascii

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import viewsets
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.utils.urls import remove_query_param, replace_query_param

from core_app.common.exceptions import ValidationFailed
from core_app.common.ids import is_plain_int
from core_app.common.pagination import parse_limit
from core_app.common.views import caller
from core_app.feed.selectors import feed_list
from core_app.posts.serializers import PostSerializer

CURSOR_PREFIX = "feed:"


def encode_cursor(before: int) -> str:
    """An opaque cursor: the id of the last post shown."""
    return base64.urlsafe_b64encode(f"{CURSOR_PREFIX}{before}".encode()).decode().rstrip("=")


def decode_cursor(raw: str | None) -> int | None:
    """The post id behind a cursor; a 400 for anything we did not issue."""
    if raw is None or raw == "":
        return None
    try:
        text = base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)).decode("ascii")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        text = ""
    value = text.removeprefix(CURSOR_PREFIX)
    if not text.startswith(CURSOR_PREFIX) or not is_plain_int(value) or int(value) < 1:
        raise ValidationFailed.field("cursor", "Invalid cursor.")
    return int(value)


class FeedViewSet(viewsets.GenericViewSet):
    serializer_class = PostSerializer

    @extend_schema(
        parameters=[
            OpenApiParameter("cursor", str, description="Opaque cursor from `next`."),
            OpenApiParameter("limit", int, description="Page size, default 20, at most 100."),
        ],
        responses={200: PostSerializer(many=True)},
    )
    def list(self, request: Request) -> Response:
        limit = parse_limit(request)
        before = decode_cursor(request.query_params.get("cursor"))
        page = feed_list(viewer=caller(request), before=before, limit=limit)
        data = PostSerializer(page.posts, many=True, context=self.get_serializer_context()).data
        return Response({"results": data, "next": self._next_link(request, page.next_before)})

    @staticmethod
    def _next_link(request: Request, before: int | None) -> str | None:
        if before is None:
            return None
        url = remove_query_param(request.build_absolute_uri(), "cursor")
        return replace_query_param(url, "cursor", encode_cursor(before))
