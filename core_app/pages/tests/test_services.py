from datetime import timedelta
from unittest import mock

import pytest
from django.utils import timezone

from core_app.common.exceptions import PermissionDeniedError, ValidationFailed
from core_app.pages import services
from core_app.pages.errors import AdminOnly, NotPageOwner, PageUuidTaken, StaffOnly, TagNotOnPage
from core_app.pages.models import Follow, FollowStatus, Page
from core_app.pages.tests.conftest import event_types, events, payloads
from core_app.posts.models import Like, Post
from core_app.testing.factories import (
    AdminFactory,
    FollowFactory,
    LikeFactory,
    ModeratorFactory,
    PageFactory,
    PostFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db


# --- page_create ---------------------------------------------------------------------------


def test_page_create_normalizes_tags_and_appends_event(owner):
    page = services.page_create(
        owner=owner, name="Cats", uuid="Cats.Daily", tags=[" Cats ", "cats", "PETS"], is_private=True
    )
    assert sorted(page.tags.values_list("name", flat=True)) == ["cats", "pets"]
    (payload,) = payloads("page.created")
    assert payload == {
        "page_id": page.pk,
        "owner_id": owner.pk,
        "uuid": "Cats.Daily",
        "name": "Cats",
        "is_private": True,
        "tags": ["cats", "pets"],
    }
    assert events("page.created")[0].actor_id == owner.pk


def test_page_create_uuid_taken_case_insensitively(owner):
    PageFactory(uuid="Taken")
    with pytest.raises(PageUuidTaken):
        services.page_create(owner=owner, name="x", uuid="tAKEN")
    assert events() == []


@pytest.mark.parametrize("uuid", ["ab", "a" * 31, "with space", "émoji", "a/b", "abc\n"])
def test_page_create_rejects_bad_uuid(owner, uuid):
    with pytest.raises(ValidationFailed):
        services.page_create(owner=owner, name="x", uuid=uuid)


@pytest.mark.parametrize(
    "tags", [[""], ["  "], ["x" * 51], [f"t{i}" for i in range(21)]], ids=["empty", "blank", "long", "many"]
)
def test_page_create_rejects_bad_tags(owner, tags):
    with pytest.raises(ValidationFailed):
        services.page_create(owner=owner, name="x", uuid="good", tags=tags)
    assert not Page.objects.exists()


def test_page_create_twenty_tags_after_dedup_is_fine(owner):
    tags = [f"t{i}" for i in range(20)] + ["T0", " t1 "]
    page = services.page_create(owner=owner, name="x", uuid="good", tags=tags)
    assert page.tags.count() == 20


def test_page_create_race_on_uuid_is_a_conflict(owner):
    """Another transaction takes the handle between the check and the insert."""
    PageFactory(uuid="Raced")
    with mock.patch.object(services, "_validate_uuid"), pytest.raises(PageUuidTaken):
        services.page_create(owner=owner, name="x", uuid="raced")


def test_page_create_rolls_back_when_append_fails(owner):
    with (
        mock.patch("core_app.pages.services.append_event", side_effect=RuntimeError("log down")),
        pytest.raises(RuntimeError),
    ):
        services.page_create(owner=owner, name="x", uuid="rolled", tags=["a"])
    assert not Page.objects.filter(uuid="rolled").exists()


# --- page_update ---------------------------------------------------------------------------


def test_page_update_records_only_changes(page, owner):
    services.page_update(page=page, actor=owner, name="New", description=page.description, tags=["b", "a"])
    (payload,) = payloads("page.updated")
    assert payload["changes"] == {"name": "New", "tags": ["a", "b"]}
    page.refresh_from_db()
    assert page.name == "New"


def test_page_update_without_changes_appends_nothing(page, owner):
    services.page_update(page=page, actor=owner, name=page.name)
    assert events() == []


def test_page_update_uuid_conflict(page, owner):
    PageFactory(uuid="other")
    with pytest.raises(PageUuidTaken):
        services.page_update(page=page, actor=owner, uuid="OTHER")


def test_page_update_own_uuid_case_change_is_allowed(owner):
    page = PageFactory(owner=owner, uuid="mine")
    services.page_update(page=page, actor=owner, uuid="MINE")
    page.refresh_from_db()
    assert page.uuid == "MINE"


def test_page_update_by_other_user_is_denied(page):
    with pytest.raises(NotPageOwner):
        services.page_update(page=page, actor=UserFactory(), name="Hijack")
    assert events() == []


def test_private_page_going_public_accepts_pending_requests(private_page, owner):
    pending = [
        FollowFactory(page=private_page, status=FollowStatus.PENDING, accepted_at=None) for _ in range(3)
    ]
    FollowFactory(page=private_page)
    Page.objects.filter(pk=private_page.pk).update(followers_count=1)
    services.page_update(page=private_page, actor=owner, is_private=False)
    private_page.refresh_from_db()
    assert private_page.followers_count == 4
    assert not Follow.objects.filter(status=FollowStatus.PENDING).exists()
    assert event_types() == ["page.updated", "follow.accepted", "follow.accepted", "follow.accepted"]
    accepted = payloads("follow.accepted")
    assert {p["follower_id"] for p in accepted} == {f.follower_id for f in pending}
    assert all(p["was_requested"] for p in accepted)


# --- page_delete ---------------------------------------------------------------------------


def test_page_delete_appends_post_events_then_page_event(page, owner):
    other_page = PageFactory()
    parent = PostFactory(page=other_page, replies_count=2)
    PostFactory(page=PageFactory(), reply_to=parent)  # a reply from a third page stays
    own = PostFactory(page=page, likes_count=1)
    LikeFactory(post=own)
    reply = PostFactory(page=page, reply_to=parent)
    services.page_delete(page=page, actor=owner)
    assert event_types() == ["post.deleted", "post.deleted", "page.deleted"]
    by_id = {p["post_id"]: p for p in payloads("post.deleted")}
    assert by_id[reply.pk]["reply_to_id"] == parent.pk
    assert by_id[reply.pk]["reply_to_page_id"] == other_page.pk
    assert by_id[own.pk]["likes_count"] == 1
    assert all(p["reason"] == "page_deleted" and not p["by_staff"] for p in by_id.values())
    parent.refresh_from_db()
    assert parent.replies_count == 1
    assert not Page.objects.filter(pk=page.pk).exists()
    assert not Like.objects.exists()


def test_page_delete_reports_replies_within_the_page_once(page, owner):
    root = PostFactory(page=page, replies_count=2)
    PostFactory(page=page, reply_to=root)
    foreign_reply = PostFactory(page=PageFactory(), reply_to=root)
    services.page_delete(page=page, actor=owner)
    first, second = payloads("post.deleted")
    # The reply goes first; the root then counts only the reply from the other page.
    assert (first["reply_to_id"], first["replies_count"]) == (root.pk, 0)
    assert (second["post_id"], second["replies_count"]) == (root.pk, 1)
    foreign_reply.refresh_from_db()
    assert foreign_reply.reply_to_id is None


def test_page_delete_by_other_user_is_denied(page):
    PostFactory(page=page)
    with pytest.raises(NotPageOwner):
        services.page_delete(page=page, actor=UserFactory())
    assert Post.objects.count() == 1
    assert events() == []


# --- tags and image ------------------------------------------------------------------------


def test_page_tag_add_and_remove(owner):
    page = PageFactory(owner=owner, tags=["a"])
    services.page_tag_add(page=page, actor=owner, name=" B ")
    services.page_tag_add(page=page, actor=owner, name="b")  # already there: no event
    services.page_tag_remove(page=page, actor=owner, name="A")
    assert [p["changes"] for p in payloads("page.updated")] == [{"tags": ["a", "b"]}, {"tags": ["b"]}]
    assert list(page.tags.values_list("name", flat=True)) == ["b"]


def test_page_tag_remove_missing_tag(page, owner):
    with pytest.raises(TagNotOnPage):
        services.page_tag_remove(page=page, actor=owner, name="nope")


def test_page_tag_add_over_limit(owner):
    page = PageFactory(owner=owner, tags=[f"t{i}" for i in range(20)])
    with pytest.raises(ValidationFailed):
        services.page_tag_add(page=page, actor=owner, name="one-more")


def test_page_image_set_stores_and_appends(page, owner):
    upload = mock.sentinel.upload
    with mock.patch("core_app.common.uploads.store_image", return_value="pages/1/x.png") as store:
        services.page_image_set(page=page, actor=owner, upload=upload)
    store.assert_called_once_with(upload, prefix=f"pages/{page.pk}")
    page.refresh_from_db()
    assert page.image_key == "pages/1/x.png"
    assert payloads("page.image_changed") == [
        {"page_id": page.pk, "owner_id": owner.pk, "image_key": "pages/1/x.png"}
    ]


def test_page_image_set_by_other_user_stores_nothing(page):
    with mock.patch("core_app.common.uploads.store_image") as store, pytest.raises(NotPageOwner):
        services.page_image_set(page=page, actor=UserFactory(), upload=mock.sentinel.upload)
    store.assert_not_called()


# --- blocks --------------------------------------------------------------------------------


def test_page_block_timed_by_moderator(page):
    moderator = ModeratorFactory()
    until = timezone.now() + timedelta(days=1)
    services.page_block(page=page, actor=moderator, until=until, reason="spam")
    page.refresh_from_db()
    assert (page.blocked_until, page.blocked_permanently, page.blocked_reason) == (until, False, "spam")
    (event,) = events("page.blocked")
    assert event.actor_id == moderator.pk
    assert event.is_moderation
    assert event.payload["reason"] == "spam"


def test_page_block_permanent_needs_admin(page):
    with pytest.raises(AdminOnly):
        services.page_block(page=page, actor=ModeratorFactory(), until=None, reason="x")
    services.page_block(page=page, actor=AdminFactory(), until=None, reason="x")
    page.refresh_from_db()
    assert page.blocked_permanently
    assert payloads("page.blocked")[0]["until"] is None


def test_page_block_by_user_is_denied(page):
    with pytest.raises(StaffOnly):
        services.page_block(
            page=page, actor=UserFactory(), until=timezone.now() + timedelta(hours=1), reason="x"
        )
    assert isinstance(StaffOnly(), PermissionDeniedError)


@pytest.mark.parametrize(
    "until", [timezone.now() - timedelta(seconds=1), timezone.now().replace(tzinfo=None) + timedelta(days=1)]
)
def test_page_block_until_must_be_aware_future(page, until):
    with pytest.raises(ValidationFailed):
        services.page_block(page=page, actor=ModeratorFactory(), until=until, reason="x")


def test_page_block_rolls_back_when_append_fails(page):
    with (
        mock.patch("core_app.pages.services.append_event", side_effect=RuntimeError("log down")),
        pytest.raises(RuntimeError),
    ):
        services.page_block(page=page, actor=AdminFactory(), until=None, reason="x")
    page.refresh_from_db()
    assert not page.blocked_permanently


def test_page_unblock(page):
    admin = AdminFactory()
    services.page_block(page=page, actor=admin, until=None, reason="x")
    with pytest.raises(AdminOnly):
        services.page_unblock(page=page, actor=ModeratorFactory())
    services.page_unblock(page=page, actor=admin)
    page.refresh_from_db()
    assert not page.blocked_permanently and page.blocked_until is None and page.blocked_reason == ""
    assert payloads("page.unblocked") == [{"page_id": page.pk, "owner_id": page.owner_id, "expired": False}]


def test_page_unblock_of_unblocked_page_appends_nothing(page):
    services.page_unblock(page=page, actor=ModeratorFactory())
    assert events() == []


def test_page_unblock_expired_clears_only_ended_blocks():
    now = timezone.now()
    ended = PageFactory(blocked_until=now - timedelta(minutes=1))
    running = PageFactory(blocked_until=now + timedelta(minutes=1))
    permanent = PageFactory(blocked_permanently=True)
    assert services.page_unblock_expired(now=now) == 1
    ended.refresh_from_db()
    running.refresh_from_db()
    assert ended.blocked_until is None and running.blocked_until is not None
    (event,) = events("page.unblocked")
    assert event.payload == {"page_id": ended.pk, "owner_id": ended.owner_id, "expired": True}
    assert event.actor_id is None
    assert Page.objects.get(pk=permanent.pk).blocked_permanently


def test_page_unblock_expired_uses_the_clock_when_no_now_is_given():
    page = PageFactory(blocked_until=timezone.now() + timedelta(hours=1))
    assert services.page_unblock_expired() == 0
    later = timezone.now() + timedelta(hours=2)
    with mock.patch("django.utils.timezone.now", return_value=later):
        assert services.page_unblock_expired() == 1
    page.refresh_from_db()
    assert page.blocked_until is None
    assert len(events("page.unblocked")) == 1
