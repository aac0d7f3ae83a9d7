"""Post representations and the (strict) input bodies of the posts endpoints."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.utils import timezone
from rest_framework import serializers

from core_app.common.fields import StrictCharField, StrictIntegerField, StrictModelSerializer
from core_app.common.ids import MAX_BIGINT
from core_app.common.uploads import image_url
from core_app.pages.serializers import PageBriefSerializer
from core_app.posts.models import CONTENT_MAX_LENGTH, Like, Post

REASON_MAX_LENGTH = 500


def _datetime(value: datetime) -> str:
    """What DRF's DateTimeField writes for an aware date-time (ISO 8601, `Z` for UTC).

    DRF looks the current time zone up on every call (a context-local read); the project never
    activates another one, so the default zone is the current one.
    """
    text = value.astimezone(timezone.get_default_timezone()).isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


class PostSerializer(StrictModelSerializer):
    """A post; `liked_by_me` comes from the selector's annotation when it is there."""

    # The fields below describe the post (the OpenAPI schema is generated from them), but
    # `to_representation` builds it directly: it is on every post and feed response, and DRF's
    # generic walk over the fields (rebuilt for every instance) cost about ten times as much.
    # A test holds the two representations equal.

    page = PageBriefSerializer(read_only=True)
    reply_to = serializers.IntegerField(source="reply_to_id", read_only=True, allow_null=True)
    liked_by_me = serializers.SerializerMethodField()

    class Meta:
        model = Post
        fields = [
            "id",
            "page",
            "content",
            "reply_to",
            "likes_count",
            "replies_count",
            "liked_by_me",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields

    def to_representation(self, post: Post) -> dict[str, Any]:
        page = post.page
        return {
            "id": post.pk,
            "page": {
                "id": page.pk,
                "uuid": page.uuid,
                "name": page.name,
                "image_url": image_url(page.image_key),
            },
            "content": post.content,
            "reply_to": post.reply_to_id,
            "likes_count": post.likes_count,
            "replies_count": post.replies_count,
            "liked_by_me": self.get_liked_by_me(post),
            "created_at": _datetime(post.created_at),
            "updated_at": _datetime(post.updated_at),
        }

    def get_liked_by_me(self, post: Post) -> bool:
        annotated = getattr(post, "liked_by_me", None)
        if annotated is not None:
            return bool(annotated)
        request = self.context.get("request")
        return Like.objects.filter(post=post, user=request.user).exists() if request else False


class LikedPostSerializer(serializers.BaseSerializer):
    """A like shown as the post it is on (the caller's own like, so `liked_by_me` is true)."""

    def to_representation(self, instance: Like) -> dict[str, Any]:
        post = instance.post
        post.liked_by_me = True  # type: ignore[attr-defined]
        return PostSerializer(post, context=self.context).data


def _id_field(**kwargs: Any) -> StrictIntegerField:
    return StrictIntegerField(min_value=1, max_value=MAX_BIGINT, **kwargs)


def _content_field() -> StrictCharField:
    return StrictCharField(max_length=CONTENT_MAX_LENGTH, trim_whitespace=True)


class PostCreateInputSerializer(serializers.Serializer):
    page = _id_field()
    content = _content_field()
    reply_to = _id_field(required=False, allow_null=True)


class PostUpdateInputSerializer(serializers.Serializer):
    content = _content_field()


class PostDeleteInputSerializer(serializers.Serializer):
    reason = StrictCharField(required=False, allow_blank=True, max_length=REASON_MAX_LENGTH, default="")


class LikeStateSerializer(serializers.Serializer):
    liked = serializers.BooleanField()
    likes_count = serializers.IntegerField()
