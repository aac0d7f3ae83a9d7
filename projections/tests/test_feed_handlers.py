from __future__ import annotations

from unittest import mock

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from events.contracts import (
    FollowAccepted,
    FollowRejected,
    FollowRemoved,
    PageBlocked,
    PageCreated,
    PageDeleted,
    PageUnblocked,
    PostCreated,
    PostDeleted,
    PostLiked,
    UserBlocked,
    UserUnblocked,
)
from projections.feed import handlers, store
from projections.feed.handlers import apply_feed_event
from projections.feed.store import PostRef
from projections.feed.work import InlineFeedWork
from projections.models import AppliedEvent, FeedFollow, FeedPage, FeedPost
from projections.tests.conftest import BASE_TIME, envelope_of

PAGE, OWNER = 10, 1


feed_of = store.feed_of


def snapshot() -> dict[str, list[tuple]]:
    return {
        "feeds": store.all_feeds(),
        "follows": sorted(FeedFollow.objects.values_list("page_id", "user_id")),
        "pages": sorted(
            FeedPage.objects.values_list("page_id", "blocked", "owner_blocked", "read_time_merge", "deleted")
        ),
        "posts": sorted(FeedPost.objects.values_list("post_id", "deleted")),
    }


def twice(envelope, payload) -> None:
    """Deliver the same event again: it must be recognised and change nothing."""
    before = snapshot()
    assert apply_feed_event(envelope, payload, InlineFeedWork()) is False
    assert snapshot() == before


def page(page_id: int = PAGE, owner_id: int = OWNER) -> PageCreated:
    return PageCreated(
        page_id=page_id, owner_id=owner_id, uuid=f"p{page_id}", name="P", is_private=False, tags=[]
    )


def follow(user_id: int, page_id: int = PAGE, owner_id: int = OWNER) -> FollowAccepted:
    return FollowAccepted(page_id=page_id, page_owner_id=owner_id, follower_id=user_id, was_requested=False)


def post(post_id: int, page_id: int = PAGE, owner_id: int = OWNER) -> PostCreated:
    return PostCreated(
        post_id=post_id,
        page_id=page_id,
        page_owner_id=owner_id,
        page_is_private=False,
        reply_to_id=None,
        reply_to_page_id=None,
    )


def deleted(post_id: int, page_id: int = PAGE) -> PostDeleted:
    return PostDeleted(
        post_id=post_id,
        page_id=page_id,
        page_owner_id=OWNER,
        reply_to_id=None,
        reply_to_page_id=None,
        likes_count=0,
        replies_count=0,
        by_staff=False,
        reason="",
    )


def test_page_created_twice(feed_apply) -> None:
    payload = page()
    envelope = feed_apply(payload)
    assert FeedPage.objects.get(page_id=PAGE).owner_id == OWNER
    twice(envelope, payload)


def test_post_created_fans_out_to_followers_and_owner_once(feed_apply) -> None:
    feed_apply(page())
    feed_apply(follow(2))
    feed_apply(follow(3))
    payload = post(100)
    envelope = feed_apply(payload)
    assert feed_of(1) == feed_of(2) == feed_of(3) == [100]
    assert AppliedEvent.objects.filter(consumer="feed", event_id=envelope.event_id).count() == 1
    twice(envelope, payload)


def test_post_created_writes_the_first_chunk_at_once_and_sends_the_rest(feed_apply, settings) -> None:
    settings.FEED_FANOUT_CHUNK = 2
    feed_apply(page())
    for user_id in (5, 3, 4):
        feed_apply(follow(user_id))
    work = mock.Mock()
    payload = post(100)
    from projections.tests.conftest import envelope_of

    apply_feed_event(envelope_of(payload), payload, work)
    assert [c.args[1] for c in work.fanout.call_args_list] == [[5]]
    # The owner and the first chunk are written at once, with the event.
    assert feed_of(OWNER) == feed_of(3) == feed_of(4) == [100]
    assert feed_of(5) == []


def test_big_page_is_merged_at_read_time_not_fanned_out(feed_apply, settings) -> None:
    settings.FEED_FANOUT_MAX_FOLLOWERS = 1
    feed_apply(page())
    feed_apply(follow(2))
    feed_apply(post(99))  # at the limit: still fanned out
    assert feed_of(2) == feed_of(OWNER) == [99]
    assert FeedPage.objects.get(page_id=PAGE).read_time_merge is False
    feed_apply(follow(3))
    payload = post(100)
    envelope = feed_apply(payload)
    assert feed_of(2) == feed_of(3) == [99] and feed_of(OWNER) == [99]
    assert FeedPage.objects.get(page_id=PAGE).read_time_merge is True
    twice(envelope, payload)


def test_post_of_blocked_page_is_not_fanned_out(feed_apply) -> None:
    feed_apply(page())
    feed_apply(follow(2))
    feed_apply(PageBlocked(page_id=PAGE, owner_id=OWNER, until=None, reason="spam"))
    feed_apply(post(100))
    assert store.all_feeds() == {}


def test_post_deleted_removes_it_everywhere_and_stops_late_fanout(feed_apply) -> None:
    feed_apply(page())
    feed_apply(follow(2))
    feed_apply(post(100))
    feed_apply(post(101))
    payload = deleted(100)
    envelope = feed_apply(payload)
    assert feed_of(2) == [101]
    twice(envelope, payload)
    # A fan-out task of the deleted post that runs late adds nothing.
    assert store.fanout_to(PostRef(100, PAGE, BASE_TIME), [2, 7]) == 0
    assert feed_of(2) == [101] and feed_of(7) == []


def test_follow_accepted_backfills_recent_posts(feed_apply, settings) -> None:
    settings.FEED_BACKFILL_POSTS = 2
    feed_apply(page())
    for post_id in (100, 101, 102):
        feed_apply(post(post_id))
    feed_apply(deleted(102))
    payload = follow(2)
    envelope = feed_apply(payload)
    assert feed_of(2) == [101, 100]
    twice(envelope, payload)


def test_follow_removed_takes_the_page_out(feed_apply) -> None:
    feed_apply(page())
    feed_apply(page(11))
    feed_apply(follow(2))
    feed_apply(follow(2, page_id=11))
    feed_apply(post(100))
    feed_apply(post(200, page_id=11))
    payload = FollowRemoved(page_id=PAGE, page_owner_id=OWNER, follower_id=2, previous_status="accepted")
    envelope = feed_apply(payload)
    assert feed_of(2) == [200]
    assert not FeedFollow.objects.filter(page_id=PAGE, user_id=2).exists()
    twice(envelope, payload)


def test_withdrawn_request_changes_nothing(feed_apply) -> None:
    feed_apply(page())
    feed_apply(follow(2))
    feed_apply(post(100))
    feed_apply(FollowRemoved(page_id=PAGE, page_owner_id=OWNER, follower_id=2, previous_status="pending"))
    assert feed_of(2) == [100]


def test_rejecting_an_accepted_follower_takes_the_page_out(feed_apply) -> None:
    feed_apply(page())
    feed_apply(follow(2))
    feed_apply(post(100))
    payload = FollowRejected(page_id=PAGE, page_owner_id=OWNER, follower_id=2, previous_status="accepted")
    envelope = feed_apply(payload)
    assert feed_of(2) == []
    assert feed_of(OWNER) == [100]
    twice(envelope, payload)


def test_page_block_removes_and_unblock_restores(feed_apply) -> None:
    feed_apply(page())
    feed_apply(follow(2))
    feed_apply(post(100))
    block = PageBlocked(page_id=PAGE, owner_id=OWNER, until=None, reason="spam")
    block_envelope = feed_apply(block)
    assert feed_of(2) == [] and feed_of(OWNER) == []
    twice(block_envelope, block)
    unblock = PageUnblocked(page_id=PAGE, owner_id=OWNER, expired=False)
    unblock_envelope = feed_apply(unblock)
    assert feed_of(2) == [100] and feed_of(OWNER) == [100]
    twice(unblock_envelope, unblock)


def test_page_deleted_removes_page_and_its_follows(feed_apply) -> None:
    feed_apply(page())
    feed_apply(follow(2))
    feed_apply(post(100))
    payload = PageDeleted(page_id=PAGE, owner_id=OWNER)
    envelope = feed_apply(payload)
    assert store.all_feeds() == {}
    assert not FeedFollow.objects.exists()
    twice(envelope, payload)


def test_user_block_removes_their_pages_and_unblock_restores(feed_apply) -> None:
    feed_apply(page())
    feed_apply(page(11))
    feed_apply(follow(2))
    feed_apply(follow(2, page_id=11))
    feed_apply(post(100))
    feed_apply(post(200, page_id=11))
    block = UserBlocked(user_id=OWNER, reason="spam", page_ids=[PAGE, 11])
    block_envelope = feed_apply(block)
    assert feed_of(2) == []
    twice(block_envelope, block)
    # Unblocking the page itself does not bring it back while its owner is blocked.
    feed_apply(PageUnblocked(page_id=PAGE, owner_id=OWNER, expired=True))
    assert feed_of(2) == []
    unblock = UserUnblocked(user_id=OWNER, page_ids=[PAGE, 11])
    unblock_envelope = feed_apply(unblock)
    assert feed_of(2) == [200, 100]
    twice(unblock_envelope, unblock)


def test_a_known_page_is_read_as_stored_and_an_unknown_one_created(db) -> None:
    FeedPage.objects.create(page_id=5, owner_id=9, blocked=True, owner_blocked=False, read_time_merge=True)
    FeedPage.objects.create(page_id=6, owner_id=9, owner_blocked=True, deleted=True)
    columns = ["page_id", "owner_id", "blocked", "owner_blocked", "read_time_merge", "deleted"]
    for page_id in (5, 6):
        read = handlers._page(page_id, owner_id=1)  # the owner given is only for a new page
        assert [getattr(read, c) for c in columns] == list(
            FeedPage.objects.filter(page_id=page_id).values_list(*columns).get()
        )
    read.blocked = True
    read.save(update_fields=["blocked"])  # an instance read this way saves like any other
    assert FeedPage.objects.get(page_id=6).blocked
    created = handlers._page(7, owner_id=3)
    assert (created.owner_id, created.visible) == (3, True)
    assert FeedPage.objects.get(page_id=7).owner_id == 3


def test_events_without_a_feed_handler_are_not_recorded(db) -> None:
    from projections.tests.conftest import envelope_of

    payload = PostLiked(post_id=1, page_id=2, page_owner_id=3, user_id=4)
    assert apply_feed_event(envelope_of(payload), payload, InlineFeedWork()) is False
    assert not AppliedEvent.objects.exists()


@pytest.mark.django_db
def test_fanout_keeps_the_newest_entries_of_every_feed(settings) -> None:
    settings.FEED_MAX_ENTRIES = 3
    for post_id in (3, 1, 7, 5, 2, 6, 4):
        assert store.fanout_to(PostRef(post_id, PAGE, BASE_TIME), [5, 6]) == 2
    assert feed_of(5) == feed_of(6) == [7, 6, 5]
    assert store.fanout_to(PostRef(7, PAGE, BASE_TIME), [5, 6]) == 0  # again: nothing changes
    assert feed_of(5) == [7, 6, 5]


@pytest.mark.django_db
def test_fanout_takes_back_a_post_whose_page_was_blocked() -> None:
    FeedPage.objects.create(page_id=PAGE, owner_id=OWNER, blocked=True)
    assert store.fanout_to(PostRef(100, PAGE, BASE_TIME), [2, 3]) == 0
    assert store.all_feeds() == {}


@pytest.mark.django_db
def test_backfill_skips_deleted_posts_and_is_idempotent(settings) -> None:
    settings.FEED_BACKFILL_POSTS = 3
    for post_id, deleted_ in ((1, False), (2, True), (3, False), (4, False), (5, False)):
        FeedPost.objects.create(post_id=post_id, page_id=PAGE, created_at=BASE_TIME, deleted=deleted_)
    assert store.backfill(PAGE, [8, 9]) == 6
    assert store.backfill(PAGE, [8, 9]) == 0
    assert feed_of(8) == feed_of(9) == [5, 4, 3]


@pytest.mark.django_db
def test_remove_page_takes_only_that_pages_posts(settings) -> None:
    FeedPost.objects.create(post_id=1, page_id=PAGE, created_at=BASE_TIME)
    FeedPost.objects.create(post_id=2, page_id=11, created_at=BASE_TIME)
    FeedPost.objects.create(post_id=3, page_id=PAGE, created_at=BASE_TIME)
    for post_id, page_id in ((1, PAGE), (2, 11), (3, PAGE)):
        store.fanout_to(PostRef(post_id, page_id, BASE_TIME), [5, 6])
    store.remove_page(PAGE, [5])
    assert feed_of(5) == [2]
    assert feed_of(6) == [3, 2, 1]


# --- post.created in one statement ---------------------------------------------------------------


def statements_of(envelope, payload) -> list[str]:
    """The first word of each statement the feed sends for one event."""
    with CaptureQueriesContext(connection) as queries:
        apply_feed_event(envelope, payload, InlineFeedWork())
    return [q["sql"].split()[0] for q in queries.captured_queries]


def test_post_created_records_the_post_and_reads_page_and_followers_in_one_statement(feed_apply) -> None:
    feed_apply(page())
    feed_apply(follow(2))
    feed_apply(follow(3))
    payload = post(100)
    envelope = envelope_of(payload)
    # Its savepoint, the AppliedEvent row, the post with its page and followers, the re-check
    # after the Redis add (store.RECHECK_SQL), the savepoint's release: 5 (7 before).
    assert statements_of(envelope, payload) == ["SAVEPOINT", "INSERT", "WITH", "SELECT", "RELEASE"]
    assert feed_of(OWNER) == feed_of(2) == feed_of(3) == [100]
    assert list(FeedPost.objects.values_list("post_id", "page_id", "created_at", "deleted")) == [
        (100, PAGE, envelope.occurred_at, False)
    ]
    twice(envelope, payload)


@pytest.mark.parametrize("state", ["blocked", "owner_blocked", "deleted", "read_time_merge"])
def test_post_of_a_page_not_fanned_out_reads_no_followers(feed_apply, state) -> None:
    feed_apply(page())
    feed_apply(follow(2))
    FeedPage.objects.filter(page_id=PAGE).update(**{state: True})
    post_ref = PostRef(100, PAGE, BASE_TIME)
    read, followers = handlers._record_post(post_ref, OWNER, limit=10)
    assert followers is None and getattr(read, state) is True
    payload = post(101)
    envelope = feed_apply(payload)
    assert store.all_feeds() == {}
    assert sorted(FeedPost.objects.values_list("post_id", flat=True)) == [100, 101]
    twice(envelope, payload)


def test_record_post_reads_the_page_as_stored_and_at_most_limit_followers(feed_apply) -> None:
    feed_apply(page())
    for user_id in (2, 3, 4):
        feed_apply(follow(user_id))
    read, followers = handlers._record_post(PostRef(100, PAGE, BASE_TIME), owner_id=9, limit=2)
    columns = handlers.PAGE_FIELDS
    assert [getattr(read, c) for c in columns] == list(
        FeedPage.objects.filter(page_id=PAGE).values_list(*columns).get()
    )
    assert followers is not None and len(followers) == 2 and set(followers) <= {2, 3, 4}
    assert read.owner_id == OWNER  # as stored, not the owner given


def test_post_of_an_unknown_page_creates_it_and_fans_out(feed_apply) -> None:
    FeedFollow.objects.create(page_id=PAGE, user_id=2)  # no FeedPage row yet
    payload = post(100)
    envelope = feed_apply(payload)
    assert FeedPage.objects.get(page_id=PAGE).owner_id == OWNER
    assert list(FeedPost.objects.values_list("post_id", flat=True)) == [100]
    assert feed_of(OWNER) == feed_of(2) == [100]
    twice(envelope, payload)
