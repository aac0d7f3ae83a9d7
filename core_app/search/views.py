"""GET /search/?q=: pages and users matching a text."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import viewsets
from rest_framework.request import Request
from rest_framework.response import Response

from core_app.common.pagination import parse_limit
from core_app.posts.views import caller
from core_app.search.selectors import page_search, user_search
from core_app.search.serializers import SearchQuerySerializer, SearchResultSerializer


class SearchViewSet(viewsets.ViewSet):
    @extend_schema(
        parameters=[
            OpenApiParameter("q", str, required=True, description="1..100 characters"),
            OpenApiParameter("limit", int, description="Per list; default 20, at most 100"),
        ],
        responses={200: SearchResultSerializer},
    )
    def list(self, request: Request) -> Response:
        """The best `limit` pages and users matching `q`."""
        query = SearchQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        q: str = query.validated_data["q"]
        limit = parse_limit(request)
        viewer = caller(request)
        result = {
            "pages": page_search(viewer=viewer, q=q, limit=limit),
            "users": user_search(viewer=viewer, q=q, limit=limit),
        }
        return Response(SearchResultSerializer(result, context={"request": request}).data)
