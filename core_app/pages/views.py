"""HTTP adapters of the page endpoints: parse, call one selector or service, serialize."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.parsers import MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response

from core_app.common.exceptions import ValidationFailed
from core_app.common.ids import is_plain_int
from core_app.common.pagination import CursorPagination
from core_app.common.views import caller, validated
from core_app.pages import selectors, services
from core_app.pages.models import FollowStatus, Page
from core_app.pages.serializers import (
    AcceptedSerializer,
    FollowDecisionSerializer,
    FollowerSerializer,
    FollowRequestSerializer,
    FollowStatusSerializer,
    PageBlockSerializer,
    PageCreateSerializer,
    PageImageSerializer,
    PageSerializer,
    PageUpdateSerializer,
    RejectedSerializer,
    TagSerializer,
)
from core_app.users.models import User
from core_app.users.serializers import UserSerializer

LIST_PARAMETERS = [
    OpenApiParameter("owner", OpenApiTypes.STR, description="`me`, or a user id: that user's pages."),
    OpenApiParameter("tag", OpenApiTypes.STR, description="Only pages with this tag."),
]


def _owner_filter(raw: str | None, viewer: User) -> int | None:
    if raw is None:
        return None
    if raw == "me":
        return int(viewer.pk)
    if not is_plain_int(raw) or int(raw) < 1:
        raise ValidationFailed.field("owner", "Must be 'me' or a user id.")
    return int(raw)


def _tag_filter(raw: str | None) -> str | None:
    if raw is None:
        return None
    try:
        tag = services.normalize_tag(raw)
    except ValidationFailed:
        raise ValidationFailed.field("tag", "Must be 1..50 characters.") from None
    if "\x00" in tag:  # PostgreSQL text cannot hold NUL
        raise ValidationFailed.field("tag", "Null characters are not allowed.")
    return tag


@extend_schema_view(
    list=extend_schema(summary="Pages visible to the caller, newest first", parameters=LIST_PARAMETERS),
    retrieve=extend_schema(summary="A page (404 when blocked, unless owner or staff)"),
)
class PageViewSet(viewsets.GenericViewSet):
    serializer_class = PageSerializer
    queryset = Page.objects.none()  # only tells the schema the id's type; reads go through selectors
    http_method_names = ["get", "post", "patch", "put", "delete", "head", "options"]

    @property
    def viewer(self) -> User:
        return caller(self.request)

    def get_queryset(self) -> QuerySet[Page]:
        params = self.request.query_params
        return selectors.page_list(
            viewer=self.viewer,
            owner_id=_owner_filter(params.get("owner"), self.viewer),
            tag=_tag_filter(params.get("tag")),
        )

    def get_object(self) -> Page:
        """The page an action is about; the response, if it shows the page, reads it afresh."""
        return selectors.visible_page_get(viewer=self.viewer, page_id=self.kwargs["pk"])

    def _page_response(self, page: Page, code: int = status.HTTP_200_OK) -> Response:
        fresh = selectors.page_get(viewer=self.viewer, page_id=page.pk)
        return Response(PageSerializer(fresh, context=self.get_serializer_context()).data, status=code)

    def _paginated(
        self, items: QuerySet[Any], serializer_class: type[serializers.Serializer], ordering: str
    ) -> Response:
        paginator = CursorPagination()
        paginator.ordering = ordering
        page = paginator.paginate_queryset(items, self.request, view=self)
        data = serializer_class(page, many=True, context=self.get_serializer_context()).data
        return paginator.get_paginated_response(data)

    # --- the page itself --------------------------------------------------------------------

    def list(self, request: Request) -> Response:
        return self._paginated(self.get_queryset(), PageSerializer, "-id")

    @extend_schema(request=PageCreateSerializer, responses={201: PageSerializer}, summary="Create a page")
    def create(self, request: Request) -> Response:
        page = services.page_create(owner=self.viewer, **validated(PageCreateSerializer, request.data))
        return self._page_response(page, status.HTTP_201_CREATED)

    def retrieve(self, request: Request, pk: str) -> Response:
        page = selectors.page_get(viewer=self.viewer, page_id=pk)
        return Response(PageSerializer(page, context=self.get_serializer_context()).data)

    @extend_schema(
        request=PageUpdateSerializer,
        responses={200: PageSerializer},
        summary="Change a page (owner)",
        description=(
            "`tags` replaces the whole set. When `is_private` turns false, every pending follow "
            "request of the page is accepted (one `follow.accepted` event each)."
        ),
    )
    def partial_update(self, request: Request, pk: str) -> Response:
        fields = validated(PageUpdateSerializer, request.data)
        page = services.page_update(page=self.get_object(), actor=self.viewer, **fields)
        return self._page_response(page)

    @extend_schema(responses={204: None}, summary="Delete a page with its posts (owner)")
    def destroy(self, request: Request, pk: str) -> Response:
        services.page_delete(page=self.get_object(), actor=self.viewer)
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(request=TagSerializer, responses={200: PageSerializer}, summary="Add a tag (owner)")
    @action(detail=True, methods=["post"])
    def tags(self, request: Request, pk: str) -> Response:
        name = validated(TagSerializer, request.data)["name"]
        return self._page_response(
            services.page_tag_add(page=self.get_object(), actor=self.viewer, name=name)
        )

    @extend_schema(request=None, responses={200: PageSerializer}, summary="Remove a tag (owner)")
    # Any characters: a tag may contain "/" (it arrives decoded from "%2F").
    @action(detail=True, methods=["delete"], url_path=r"tags/(?P<tag_name>.+?)")
    def tag_remove(self, request: Request, pk: str, tag_name: str) -> Response:
        page = services.page_tag_remove(page=self.get_object(), actor=self.viewer, name=tag_name)
        return self._page_response(page)

    @extend_schema(request={"multipart/form-data": PageImageSerializer}, responses={200: PageSerializer})
    @action(detail=True, methods=["put"], parser_classes=[MultiPartParser])
    def image(self, request: Request, pk: str) -> Response:
        upload = validated(PageImageSerializer, request.data)["file"]
        return self._page_response(
            services.page_image_set(page=self.get_object(), actor=self.viewer, upload=upload)
        )

    # --- follows ----------------------------------------------------------------------------

    @extend_schema(
        methods=["POST"],
        request=None,
        responses={200: FollowStatusSerializer},
        summary="Follow, or ask to follow a private page",
        description="A repeat returns the current status. The owner following their own page gets 409.",
    )
    @extend_schema(methods=["DELETE"], request=None, responses={204: None}, summary="Unfollow or withdraw")
    @action(detail=True, methods=["post", "delete"])
    def follow(self, request: Request, pk: str) -> Response:
        page = self.get_object()
        if request.method == "DELETE":
            services.follow_delete(page=page, user=self.viewer)
            return Response(status=status.HTTP_204_NO_CONTENT)
        follow = services.follow_create(page=page, user=self.viewer)
        accepted = follow.status == FollowStatus.ACCEPTED
        return Response({"status": "following" if accepted else "requested"})

    @extend_schema(
        responses={200: UserSerializer(many=True)}, summary="Followers (owner, staff), newest first"
    )
    @action(detail=True, methods=["get"])
    def followers(self, request: Request, pk: str) -> Response:
        follows = selectors.page_follower_list(page=self.get_object(), viewer=self.viewer)
        return self._paginated(follows, FollowerSerializer, "-id")

    @extend_schema(
        responses={200: FollowRequestSerializer(many=True)}, summary="Pending requests, oldest first"
    )
    @action(detail=True, methods=["get"], url_path="follow-requests")
    def follow_requests(self, request: Request, pk: str) -> Response:
        follows = selectors.follow_request_list(page=self.get_object(), viewer=self.viewer)
        return self._paginated(follows, FollowRequestSerializer, "id")

    @extend_schema(request=FollowDecisionSerializer, responses={200: AcceptedSerializer})
    @action(detail=True, methods=["post"], url_path="follow-requests/accept")
    def follow_requests_accept(self, request: Request, pk: str) -> Response:
        decision = validated(FollowDecisionSerializer, request.data)
        accepted = services.follow_requests_accept(
            page=self.get_object(),
            actor=self.viewer,
            user_ids=decision.get("user_ids"),
            all_requests=bool(decision.get("all")),
        )
        return Response({"accepted": accepted})

    @extend_schema(
        request=FollowDecisionSerializer,
        responses={200: RejectedSerializer},
        description="`user_ids` may also name accepted followers: they are removed.",
    )
    @action(detail=True, methods=["post"], url_path="follow-requests/reject")
    def follow_requests_reject(self, request: Request, pk: str) -> Response:
        decision = validated(FollowDecisionSerializer, request.data)
        rejected = services.follow_requests_reject(
            page=self.get_object(),
            actor=self.viewer,
            user_ids=decision.get("user_ids"),
            all_requests=bool(decision.get("all")),
        )
        return Response({"rejected": rejected})

    # --- moderation -------------------------------------------------------------------------

    @extend_schema(
        request=PageBlockSerializer,
        responses={200: PageSerializer},
        summary="Block a page (staff; permanently: admins only)",
    )
    @action(detail=True, methods=["post"])
    def block(self, request: Request, pk: str) -> Response:
        services.ensure_staff(self.viewer)
        block = validated(PageBlockSerializer, request.data)
        page = services.page_block(page=self.get_object(), actor=self.viewer, **block)
        return self._page_response(page)

    @extend_schema(request=None, responses={200: PageSerializer}, summary="Unblock a page (staff)")
    @action(detail=True, methods=["post"])
    def unblock(self, request: Request, pk: str) -> Response:
        page = services.page_unblock(page=self.get_object(), actor=self.viewer)
        return self._page_response(page)
