"""GET /api/v1/pages/{id}/stats/: the page's statistics, asked of the statistics service.

The core checks ownership against its own database, then forwards the caller's bearer
token; the statistics service checks it again on its side.
"""

from __future__ import annotations

import logging
from typing import Any

import httpx
from django.conf import settings
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from core_app.common.exceptions import NotFound, ServiceUnavailable
from core_app.common.views import caller
from core_app.pages.errors import NotPageOwner
from core_app.pages.models import Page
from core_app.pages.selectors import visible_page_get
from core_app.users.models import User

logger = logging.getLogger(__name__)
STATS_FIELDS = {"page_id", "posts", "followers", "follow_requests", "likes", "replies", "updated_at", "daily"}


class StatsNotReady(NotFound):
    default_message = "No statistics for this page yet."


def page_stats_fetch(*, page_id: int, authorization: str) -> dict[str, Any]:
    """The statistics service's answer for one page; 503 when it is down or misbehaves."""
    url = f"{settings.STATS_SERVICE_URL.rstrip('/')}/stats/pages/{page_id}"
    try:
        response = httpx.get(
            url, headers={"Authorization": authorization}, timeout=settings.STATS_SERVICE_TIMEOUT_SECONDS
        )
    except httpx.HTTPError as exc:
        logger.warning("statistics service unreachable: %s", exc)
        raise ServiceUnavailable("The statistics service is unavailable.") from None
    if response.status_code == 404:
        raise StatsNotReady()
    if response.status_code != 200:
        logger.warning("statistics service answered %s: %s", response.status_code, response.text[:500])
        raise ServiceUnavailable("The statistics service is unavailable.")
    try:
        body = response.json()
    except ValueError:
        body = None
    if not isinstance(body, dict) or not body.keys() >= STATS_FIELDS:
        logger.warning("statistics service answered an unexpected body: %s", response.text[:500])
        raise ServiceUnavailable("The statistics service answered garbage.")
    return body


def page_for_stats(*, viewer: User, page_id: object) -> Page:
    """The page whose statistics the viewer asks for: their own (403), visible to them (404)."""
    page = visible_page_get(viewer=viewer, page_id=page_id)  # a blocked page does not exist for others
    if page.owner_id != viewer.pk:
        raise NotPageOwner()
    return page


class PageStatsView(APIView):
    """The page's figures for its owner, as the statistics service folds them."""

    renderer_classes = [JSONRenderer]  # relays another service's JSON: Python's float formatting

    @extend_schema(
        parameters=[OpenApiParameter("page_id", int, OpenApiParameter.PATH, description="The page's id.")],
        responses=inline_serializer(
            "PageStats",
            {
                "page_id": serializers.IntegerField(),
                "posts": serializers.IntegerField(),
                "followers": serializers.IntegerField(),
                "follow_requests": serializers.IntegerField(),
                "likes": serializers.IntegerField(),
                "replies": serializers.IntegerField(),
                "updated_at": serializers.DateTimeField(),
                "daily": serializers.ListField(child=serializers.DictField()),
            },
        ),
    )
    def get(self, request: Request, page_id: str) -> Response:
        page = page_for_stats(viewer=caller(request), page_id=page_id)
        return Response(page_stats_fetch(page_id=page.pk, authorization=request.headers["Authorization"]))
