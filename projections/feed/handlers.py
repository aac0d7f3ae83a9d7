"""Feed projection handlers: one small function per event type, plain Python.

They read only the projection's own tables (FeedFollow, FeedPage, FeedPost), never the core's,
so the projection is a pure function of the log: `rebuild_feed` replays it and gets the live
feed. `apply_feed_event` records the event in the transaction of those tables' changes, and
every write to the home feeds (Redis, `store`) is idempotent, so a redelivered event changes
nothing, even one whose transaction rolled back after its feed writes.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from django.conf import settings
from django.db import connection
from django.db.models import Q

from events.consumer import chunked
from events.contracts import (
    EventEnvelope,
    EventPayload,
    FollowAccepted,
    FollowRejected,
    FollowRemoved,
    PageBlocked,
    PageCreated,
    PageDeleted,
    PageUnblocked,
    PostCreated,
    PostDeleted,
    UserBlocked,
    UserUnblocked,
)
from projections.feed import store
from projections.feed.store import PostRef
from projections.feed.work import FeedWork
from projections.models import FeedFollow, FeedPage, FeedPost
from projections.tracking import apply_once

CONSUMER = "feed"
# One array rather than a row per follower: the ORM's rows cost ~3 ms per 1,000 followers.
FOLLOWERS_SQL = "SELECT ARRAY(SELECT user_id FROM projections_feedfollow WHERE page_id = %s LIMIT %s)"
PAGE_FIELDS = ["page_id", "owner_id", "blocked", "owner_blocked", "read_time_merge", "deleted"]
PAGE_SQL = f"SELECT {', '.join(PAGE_FIELDS)} FROM projections_feedpage WHERE page_id = %s"
# A post.created records the post, reads its page and, if the page is fanned out
# (`FeedPage.fanned_out`), its followers, all in one statement: each
# post event in the worker made three round trips for these. No row when the page is unknown
# (the post is recorded all the same).
POST_CREATED_SQL = f"""
    WITH recorded AS (
        INSERT INTO projections_feedpost (post_id, page_id, created_at, deleted)
        VALUES (%(post_id)s, %(page_id)s, %(created_at)s, false)
        ON CONFLICT (post_id) DO NOTHING
    )
    SELECT {", ".join(PAGE_FIELDS)},
           CASE WHEN NOT (blocked OR owner_blocked OR deleted OR read_time_merge) THEN ARRAY(
               SELECT user_id FROM projections_feedfollow WHERE page_id = %(page_id)s LIMIT %(limit)s)
           END
    FROM projections_feedpage WHERE page_id = %(page_id)s
"""


def _page(page_id: int, owner_id: int) -> FeedPage:
    # Read by a written-once statement (every post reads its page; the ORM's get_or_create
    # built and compiled its SELECT each time); created through the ORM the first time.
    with connection.cursor() as cursor:
        cursor.execute(PAGE_SQL, [page_id])
        row = cursor.fetchone()
    if row is not None:
        return FeedPage.from_db(connection.alias, PAGE_FIELDS, row)
    page, _ = FeedPage.objects.get_or_create(page_id=page_id, defaults={"owner_id": owner_id})
    return page


def _followers(page_id: int, limit: int) -> list[int]:
    with connection.cursor() as cursor:  # one read decides the size and gives the audience
        cursor.execute(FOLLOWERS_SQL, [page_id, limit])
        follower_ids: list[int] = cursor.fetchone()[0]
    return follower_ids


def _record_post(post: PostRef, owner_id: int, limit: int) -> tuple[FeedPage, list[int] | None]:
    """Record the post; its page and up to `limit` followers (None: the page is not fanned out)."""
    params: dict[str, int | datetime] = {
        "post_id": post.post_id,
        "page_id": post.page_id,
        "created_at": post.created_at,
        "limit": limit,
    }
    with connection.cursor() as cursor:
        cursor.execute(POST_CREATED_SQL, params)
        row = cursor.fetchone()
    if row is not None:
        return FeedPage.from_db(connection.alias, PAGE_FIELDS, row[:-1]), row[-1]
    # Rare: page.created normally comes first and creates the row.
    page, _ = FeedPage.objects.get_or_create(page_id=post.page_id, defaults={"owner_id": owner_id})
    return page, _followers(page.page_id, limit) if page.fanned_out else None


def _audience(page: FeedPage) -> list[int]:
    """Accepted followers and the owner, sorted (chunks come out the same on every replay)."""
    followers = FeedFollow.objects.filter(page_id=page.page_id).values_list("user_id", flat=True)
    return sorted({*followers, page.owner_id})


def _backfill_audience(page: FeedPage, work: FeedWork) -> None:
    if not page.fanned_out:
        return
    for chunk in chunked(_audience(page), settings.FEED_FANOUT_CHUNK):
        work.backfill(page.page_id, chunk)


def on_page_created(event: PageCreated, envelope: EventEnvelope, work: FeedWork) -> None:
    """Know the page and its owner."""
    _page(event.page_id, event.owner_id)


def on_post_created(event: PostCreated, envelope: EventEnvelope, work: FeedWork) -> None:
    """Fan the post out to the owner and the followers; big pages merge at read time.

    The owner and the first chunk of followers are written at once, the other chunks as
    separate work: a page of up to FEED_FANOUT_CHUNK followers reaches every feed with the
    event itself, without a task's round trip through the broker and the worker's pool.
    """
    post = PostRef(post_id=event.post_id, page_id=event.page_id, created_at=envelope.occurred_at)
    limit = settings.FEED_FANOUT_MAX_FOLLOWERS
    page, follower_ids = _record_post(post, event.page_owner_id, limit + 1)
    if follower_ids is None:  # blocked, deleted or merged at read time
        return
    if len(follower_ids) > limit:
        # Too many followers to copy the post into every feed: readers merge this page's
        # posts at read time from now on (the flag stays, so the read side is complete).
        FeedPage.objects.filter(page_id=page.page_id).update(read_time_merge=True)
        return
    # Sorted, so the chunks come out the same on every replay.
    followers = sorted(set(follower_ids) - {page.owner_id})
    chunks = list(chunked(followers, settings.FEED_FANOUT_CHUNK)) or [[]]
    store.fanout_to(post, [page.owner_id, *chunks[0]])
    for chunk in chunks[1:]:
        work.fanout(post, chunk)


def on_post_deleted(event: PostDeleted, envelope: EventEnvelope, work: FeedWork) -> None:
    """Remove the post from every feed and keep a tombstone against late fan-out."""
    FeedPost.objects.update_or_create(
        post_id=event.post_id,
        defaults={"deleted": True},
        create_defaults={"page_id": event.page_id, "created_at": envelope.occurred_at, "deleted": True},
    )
    store.remove_post(event.post_id, _audience(_page(event.page_id, event.page_owner_id)))


def on_follow_accepted(event: FollowAccepted, envelope: EventEnvelope, work: FeedWork) -> None:
    """Record the follow and back-fill the page's recent posts into the follower's feed."""
    FeedFollow.objects.get_or_create(page_id=event.page_id, user_id=event.follower_id)
    page = _page(event.page_id, event.page_owner_id)
    if page.fanned_out:
        store.backfill(page.page_id, [event.follower_id])


def _unfollow(page_id: int, owner_id: int, follower_id: int) -> None:
    FeedFollow.objects.filter(page_id=page_id, user_id=follower_id).delete()
    if follower_id != owner_id:
        store.remove_page(page_id, [follower_id])


def on_follow_removed(event: FollowRemoved, envelope: EventEnvelope, work: FeedWork) -> None:
    """An unfollow takes the page's posts out of the follower's feed."""
    if event.previous_status == "accepted":
        _unfollow(event.page_id, event.page_owner_id, event.follower_id)


def on_follow_rejected(event: FollowRejected, envelope: EventEnvelope, work: FeedWork) -> None:
    """Removing an accepted follower takes the page's posts out of their feed."""
    if event.previous_status == "accepted":
        _unfollow(event.page_id, event.page_owner_id, event.follower_id)


def on_page_blocked(event: PageBlocked, envelope: EventEnvelope, work: FeedWork) -> None:
    """A blocked page leaves every feed."""
    page = _page(event.page_id, event.owner_id)
    FeedPage.objects.filter(page_id=event.page_id).update(blocked=True)
    store.remove_page(event.page_id, _audience(page))


def on_page_unblocked(event: PageUnblocked, envelope: EventEnvelope, work: FeedWork) -> None:
    """An unblocked page comes back: back-fill its followers again."""
    page = _page(event.page_id, event.owner_id)
    page.blocked = False
    page.save(update_fields=["blocked"])
    _backfill_audience(page, work)


def on_page_deleted(event: PageDeleted, envelope: EventEnvelope, work: FeedWork) -> None:
    """A deleted page leaves every feed for good."""
    page = _page(event.page_id, event.owner_id)
    FeedPage.objects.filter(page_id=event.page_id).update(deleted=True)
    store.remove_page(event.page_id, _audience(page))
    FeedFollow.objects.filter(page_id=event.page_id).delete()


def _owned_pages(user_id: int, page_ids: list[int]) -> list[FeedPage]:
    for page_id in page_ids:
        _page(page_id, user_id)
    return list(FeedPage.objects.filter(Q(owner_id=user_id) | Q(page_id__in=page_ids)).order_by("page_id"))


def on_user_blocked(event: UserBlocked, envelope: EventEnvelope, work: FeedWork) -> None:
    """A blocked user's pages leave every feed."""
    for page in _owned_pages(event.user_id, event.page_ids):
        FeedPage.objects.filter(page_id=page.page_id).update(owner_blocked=True)
        store.remove_page(page.page_id, _audience(page))


def on_user_unblocked(event: UserUnblocked, envelope: EventEnvelope, work: FeedWork) -> None:
    """An unblocked user's pages (those not blocked on their own) come back into feeds."""
    for page in _owned_pages(event.user_id, event.page_ids):
        page.owner_blocked = False
        page.save(update_fields=["owner_blocked"])
        _backfill_audience(page, work)


HANDLERS: dict[str, Callable[[Any, EventEnvelope, FeedWork], None]] = {
    "page.created": on_page_created,
    "page.blocked": on_page_blocked,
    "page.unblocked": on_page_unblocked,
    "page.deleted": on_page_deleted,
    "post.created": on_post_created,
    "post.deleted": on_post_deleted,
    "follow.accepted": on_follow_accepted,
    "follow.removed": on_follow_removed,
    "follow.rejected": on_follow_rejected,
    "user.blocked": on_user_blocked,
    "user.unblocked": on_user_unblocked,
}


def feed_effect(envelope: EventEnvelope, payload: EventPayload, work: FeedWork) -> Callable[[], None] | None:
    """The event's effect on the feed projection, to apply once; None for an event it ignores."""
    handler = HANDLERS.get(envelope.type)
    if handler is None:
        return None
    return lambda: handler(payload, envelope, work)


def apply_feed_event(envelope: EventEnvelope, payload: EventPayload, work: FeedWork) -> bool:
    """Apply one event to the feed projection once; False if ignored or already applied."""
    effect = feed_effect(envelope, payload, work)
    return effect is not None and apply_once(CONSUMER, envelope, effect)
