from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone

import pytest
from django.test import override_settings
from rest_framework import serializers

from core_app.posts.selectors import post_queryset
from core_app.posts.serializers import PostSerializer
from core_app.testing.factories import LikeFactory, PageFactory, PostFactory, UserFactory

pytestmark = pytest.mark.django_db


def generic(post: object) -> dict[str, object]:
    """What DRF's own walk over PostSerializer's fields gives."""
    return dict(serializers.ModelSerializer.to_representation(PostSerializer(post), post))


@override_settings(S3_PUBLIC_BASE_URL="https://media.example.com")
def test_representation_is_drfs_field_by_field() -> None:
    viewer = UserFactory()
    page = PageFactory(image_key="pages/1/cover.png")
    parent = PostFactory(page=page)
    reply = PostFactory(page=page, reply_to=parent, content="caf\u00e9 \u2028")
    LikeFactory(post=reply, user=viewer)
    type(reply).objects.filter(pk=parent.pk).update(created_at=datetime(2026, 1, 1, tzinfo=UTC))
    posts = list(post_queryset(viewer=viewer).filter(page=page).order_by("id"))
    assert len(posts) == 2
    posts[1].updated_at = datetime(2026, 5, 1, 12, 0, 0, 5, tzinfo=timezone(timedelta(hours=3)))
    for post in posts:  # the same keys, in the same order, with the same values
        assert json.dumps(PostSerializer(post).data) == json.dumps(generic(post))
    assert [p["liked_by_me"] for p in PostSerializer(posts, many=True).data] == [False, True]
    assert PostSerializer(posts[0]).data["created_at"] == "2026-01-01T00:00:00Z"
    assert PostSerializer(posts[1]).data["updated_at"] == "2026-05-01T09:00:00.000005Z"
    assert PostSerializer(posts[1]).data["page"]["image_url"] == "https://media.example.com/pages/1/cover.png"


def test_the_schema_fields_are_unchanged() -> None:
    fields = PostSerializer().fields
    assert list(fields) == [
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
    assert all(field.read_only for field in fields.values())
