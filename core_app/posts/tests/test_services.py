from __future__ import annotations

from unittest import mock

import pytest

from core_app.common.exceptions import NotFound, PermissionDeniedError, ValidationFailed
from core_app.posts import services
from core_app.posts.models import Like, Post
from core_app.posts.services import post_create, post_delete, post_like, post_unlike, post_update
from core_app.posts.tests.conftest import block_page, events_of
from core_app.testing.factories import (
    AdminFactory,
    FollowFactory,
    LikeFactory,
    ModeratorFactory,
    PageFactory,
    PostFactory,
    UserFactory,
)
from events.contracts import PostCreated
from events.models import StoredEvent

pytestmark = pytest.mark.django_db


# --- post_create ---------------------------------------------------------------------------


def test_create_trims_content_and_appends_the_event(owner, page) -> None:
    post = post_create(author=owner, page_id=page.pk, content="  hello  ")

    assert Post.objects.get(pk=post.pk).content == "hello"
    event = StoredEvent.objects.get(type="post.created")
    assert event.actor_id == owner.pk
    assert event.aggregate_id == str(post.pk)
    assert event.payload == {
        "post_id": post.pk,
        "page_id": page.pk,
        "page_owner_id": owner.pk,
        "page_is_private": False,
        "reply_to_id": None,
        "reply_to_page_id": None,
    }


def test_reply_increments_the_parents_count_and_names_the_parent(owner, page) -> None:
    other_page = PageFactory()
    parent = PostFactory(page=other_page)

    reply = post_create(author=owner, page_id=page.pk, content="re", reply_to_id=parent.pk)

    parent.refresh_from_db()
    assert (reply.reply_to_id, parent.replies_count) == (parent.pk, 1)
    [payload] = events_of("post.created")
    assert (payload["reply_to_id"], payload["reply_to_page_id"]) == (parent.pk, other_page.pk)


@pytest.mark.parametrize("content", ["", "   ", "x" * 2001])
def test_create_refuses_bad_content(owner, page, content) -> None:
    with pytest.raises(ValidationFailed) as exc:
        post_create(author=owner, page_id=page.pk, content=content)
    assert "content" in exc.value.details
    assert not Post.objects.exists()


def test_create_accepts_2000_characters(owner, page) -> None:
    assert len(post_create(author=owner, page_id=page.pk, content="x" * 2000).content) == 2000


def test_create_on_someone_elses_page_is_denied(owner) -> None:
    with pytest.raises(PermissionDeniedError):
        post_create(author=owner, page_id=PageFactory().pk, content="hi")
    assert events_of("post.created") == []


def test_create_on_a_missing_or_invisible_page_is_a_validation_error(owner) -> None:
    hidden = PageFactory(blocked_permanently=True)
    for page_id in (hidden.pk, 10**12):
        with pytest.raises(ValidationFailed) as exc:
            post_create(author=owner, page_id=page_id, content="hi")
        assert list(exc.value.details) == ["page"]


@pytest.mark.parametrize("permanently", [True, False])
def test_a_blocked_page_cannot_post(owner, page, permanently) -> None:
    block_page(page, permanently=permanently)
    with pytest.raises(PermissionDeniedError):
        post_create(author=owner, page_id=page.pk, content="hi")


def test_reply_to_an_unreadable_post_is_a_validation_error(owner, page) -> None:
    private_post = PostFactory(page=PageFactory(is_private=True))
    blocked_post = PostFactory(page=PageFactory(blocked_permanently=True))
    for parent_id in (private_post.pk, blocked_post.pk, 10**12):
        with pytest.raises(ValidationFailed) as exc:
            post_create(author=owner, page_id=page.pk, content="re", reply_to_id=parent_id)
        assert list(exc.value.details) == ["reply_to"]
    assert not Post.objects.filter(page=page).exists()


def test_reply_to_a_followed_private_page(owner, page) -> None:
    parent = PostFactory(page=PageFactory(is_private=True))
    FollowFactory(page=parent.page, follower=owner)
    assert post_create(author=owner, page_id=page.pk, content="re", reply_to_id=parent.pk).reply_to == parent


def test_a_failing_append_rolls_the_post_back(owner, page) -> None:
    with (
        mock.patch.object(services, "append_event", side_effect=RuntimeError("log down")) as append,
        pytest.raises(RuntimeError),
    ):
        post_create(author=owner, page_id=page.pk, content="hi")
    assert not Post.objects.exists()
    payload = append.call_args.args[0]
    assert isinstance(payload, PostCreated)
    assert payload.page_id == page.pk


# --- post_update ---------------------------------------------------------------------------


def test_update_changes_content_and_appends_the_event(owner, post) -> None:
    updated = post_update(actor=owner, post_id=post.pk, content=" new ")

    assert Post.objects.get(pk=post.pk).content == "new" == updated.content
    event = StoredEvent.objects.get(type="post.updated")
    assert event.actor_id == owner.pk
    assert event.payload == {"post_id": post.pk, "page_id": post.page_id, "page_owner_id": owner.pk}


def test_staff_may_not_edit_others_posts(moderator, post) -> None:
    with pytest.raises(PermissionDeniedError):
        post_update(actor=moderator, post_id=post.pk, content="mine now")
    assert events_of("post.updated") == []


def test_update_of_an_unreadable_post_is_not_found(post) -> None:
    block_page(post.page)
    with pytest.raises(NotFound):
        post_update(actor=UserFactory(), post_id=post.pk, content="x")


def test_update_on_a_blocked_page_is_denied(owner, post) -> None:
    block_page(post.page)
    with pytest.raises(PermissionDeniedError):
        post_update(actor=owner, post_id=post.pk, content="x")


# --- post_delete ---------------------------------------------------------------------------


def test_delete_by_owner_appends_counts_and_keeps_the_parent_count_exact(owner, page) -> None:
    parent = PostFactory(page=PageFactory())
    post = post_create(author=owner, page_id=page.pk, content="re", reply_to_id=parent.pk)
    reply = PostFactory(page=page, reply_to=post)
    Post.objects.filter(pk=post.pk).update(replies_count=1, likes_count=1)
    LikeFactory(post=post)

    post_delete(actor=owner, post_id=post.pk)

    parent.refresh_from_db()
    reply.refresh_from_db()
    assert (parent.replies_count, reply.reply_to_id) == (0, None)
    assert not Post.objects.filter(pk=post.pk).exists()
    assert not Like.objects.filter(post_id=post.pk).exists()
    event = StoredEvent.objects.get(type="post.deleted")
    assert event.payload == {
        "post_id": post.pk,
        "page_id": page.pk,
        "page_owner_id": owner.pk,
        "reply_to_id": parent.pk,
        "reply_to_page_id": parent.page_id,
        "likes_count": 1,
        "replies_count": 1,
        "by_staff": False,
        "reason": "",
    }
    assert event.is_moderation is False


def test_delete_by_staff_is_a_moderation_event(moderator, post) -> None:
    post_delete(actor=moderator, post_id=post.pk, reason="spam")

    event = StoredEvent.objects.get(type="post.deleted")
    assert (event.payload["by_staff"], event.payload["reason"]) == (True, "spam")
    assert event.actor_id == moderator.pk
    assert event.is_moderation is True


def test_staff_may_delete_a_blocked_pages_post(moderator, post) -> None:
    block_page(post.page)
    post_delete(actor=moderator, post_id=post.pk)
    assert not Post.objects.filter(pk=post.pk).exists()


def test_others_may_not_delete(post) -> None:
    with pytest.raises(PermissionDeniedError):
        post_delete(actor=UserFactory(), post_id=post.pk)
    with pytest.raises(NotFound):
        post_delete(actor=UserFactory(), post_id=10**12)
    assert Post.objects.filter(pk=post.pk).exists()
    assert events_of("post.deleted") == []


# --- likes ---------------------------------------------------------------------------------


def test_like_counts_once_and_appends_once(post) -> None:
    fan = UserFactory()

    first = post_like(user=fan, post_id=post.pk)
    second = post_like(user=fan, post_id=post.pk)

    assert (first.likes_count, second.likes_count) == (1, 1)
    assert Like.objects.filter(post=post, user=fan).count() == 1
    assert events_of("post.liked") == [
        {"post_id": post.pk, "page_id": post.page_id, "page_owner_id": post.page.owner_id, "user_id": fan.pk}
    ]


def test_unlike_takes_the_like_back_once(post) -> None:
    fan = UserFactory()
    post_like(user=fan, post_id=post.pk)

    assert post_unlike(user=fan, post_id=post.pk).likes_count == 0
    assert post_unlike(user=fan, post_id=post.pk).likes_count == 0
    assert not Like.objects.exists()
    [payload] = events_of("post.unliked")
    assert (payload["post_id"], payload["user_id"]) == (post.pk, fan.pk)


def test_unlike_without_a_like_appends_nothing(post) -> None:
    assert post_unlike(user=UserFactory(), post_id=post.pk).likes_count == 0
    assert events_of("post.unliked") == []


@pytest.mark.parametrize("factory", [ModeratorFactory, AdminFactory])
def test_staff_unlike_a_post_they_never_liked_as_a_no_op(post, factory) -> None:
    # Staff read every post; their visibility condition is the empty Q(), which `|` used to drop.
    block_page(post.page)
    assert post_unlike(user=factory(), post_id=post.pk).likes_count == 0
    assert events_of("post.unliked") == []


def test_liking_an_unreadable_post_is_not_found(post) -> None:
    block_page(post.page)
    with pytest.raises(NotFound):
        post_like(user=UserFactory(), post_id=post.pk)
    assert events_of("post.liked") == []


def test_a_like_can_be_taken_back_after_the_page_was_blocked(post) -> None:
    fan = UserFactory()
    post_like(user=fan, post_id=post.pk)
    block_page(post.page)

    assert post_unlike(user=fan, post_id=post.pk).likes_count == 0
    with pytest.raises(NotFound):
        post_unlike(user=UserFactory(), post_id=post.pk)


def test_private_page_posts_are_liked_by_followers_only(private_page) -> None:
    post = PostFactory(page=private_page)
    follower = FollowFactory(page=private_page).follower
    with pytest.raises(NotFound):
        post_like(user=UserFactory(), post_id=post.pk)
    assert post_like(user=follower, post_id=post.pk).likes_count == 1
