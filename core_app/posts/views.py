"""HTTP adapters of the posts endpoints: parse, call one selector or service, serialize."""

from __future__ import annotations

from django.db.models import QuerySet
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from core_app.common.ids import parse_pk
from core_app.common.views import caller, validated
from core_app.posts.models import Like, Post
from core_app.posts.pagination import NewestFirstPagination, OldestFirstPagination
from core_app.posts.selectors import liked_post_list, page_post_list, post_get, post_queryset, post_reply_list
from core_app.posts.serializers import (
    LikedPostSerializer,
    LikeStateSerializer,
    PostCreateInputSerializer,
    PostDeleteInputSerializer,
    PostSerializer,
    PostUpdateInputSerializer,
)
from core_app.posts.services import post_create, post_delete, post_like, post_unlike, post_update


class PostViewSet(viewsets.GenericViewSet):
    serializer_class = PostSerializer
    pagination_class = NewestFirstPagination

    def get_queryset(self) -> QuerySet[Post]:
        if getattr(self, "swagger_fake_view", False):  # schema generation: no caller
            return Post.objects.none()
        return post_queryset(viewer=caller(self.request))

    def _post_id(self) -> int:
        return parse_pk(self.kwargs["pk"])

    def _respond(self, post: Post, code: int = status.HTTP_200_OK) -> Response:
        return Response(PostSerializer(post, context=self.get_serializer_context()).data, status=code)

    @extend_schema(request=PostCreateInputSerializer, responses={201: PostSerializer})
    def create(self, request: Request) -> Response:
        data = validated(PostCreateInputSerializer, request.data)
        post = post_create(
            author=caller(request),
            page_id=data["page"],
            content=data["content"],
            reply_to_id=data.get("reply_to"),
        )
        post.liked_by_me = False  # type: ignore[attr-defined]  # just created: nobody has liked it
        return self._respond(post, status.HTTP_201_CREATED)

    def retrieve(self, request: Request, pk: str) -> Response:
        return self._respond(post_get(viewer=caller(request), post_id=self._post_id()))

    @extend_schema(request=PostUpdateInputSerializer, responses={200: PostSerializer})
    def partial_update(self, request: Request, pk: str) -> Response:
        data = validated(PostUpdateInputSerializer, request.data)
        post = post_update(actor=caller(request), post_id=self._post_id(), content=data["content"])
        return self._respond(post)

    @extend_schema(request=PostDeleteInputSerializer, responses={204: None})
    def destroy(self, request: Request, pk: str) -> Response:
        data = validated(PostDeleteInputSerializer, request.data or {})
        post_delete(actor=caller(request), post_id=self._post_id(), reason=data["reason"])
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(request=None, responses={200: LikeStateSerializer})
    @action(detail=True, methods=["post", "delete"])
    def like(self, request: Request, pk: str) -> Response:
        liked = request.method == "POST"
        service = post_like if liked else post_unlike
        post = service(user=caller(request), post_id=self._post_id())
        return Response({"liked": liked, "likes_count": post.likes_count})

    @extend_schema(responses={200: PostSerializer(many=True)})
    @action(detail=False, methods=["get"], serializer_class=LikedPostSerializer)
    def liked(self, request: Request) -> Response:
        likes: QuerySet[Like] = liked_post_list(viewer=caller(request))
        page = self.paginate_queryset(likes)
        return self.get_paginated_response(self.get_serializer(page, many=True).data)

    @extend_schema(responses={200: PostSerializer(many=True)})
    @action(detail=True, methods=["get"], pagination_class=OldestFirstPagination)
    def replies(self, request: Request, pk: str) -> Response:
        replies = post_reply_list(viewer=caller(request), post_id=self._post_id())
        page = self.paginate_queryset(replies)
        return self.get_paginated_response(self.get_serializer(page, many=True).data)


class PagePostViewSet(mixins.ListModelMixin, viewsets.GenericViewSet):
    """GET /pages/{page_id}/posts/: a page's posts, newest first."""

    serializer_class = PostSerializer
    pagination_class = NewestFirstPagination

    def get_queryset(self) -> QuerySet[Post]:
        if getattr(self, "swagger_fake_view", False):  # schema generation: no caller
            return Post.objects.none()
        return page_post_list(viewer=caller(self.request), page_id=parse_pk(self.kwargs["page_id"]))
