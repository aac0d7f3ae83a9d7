"""The home feeds: a Redis sorted set of post ids per user, capped at the FEED_MAX_ENTRIES newest.

Why Redis (bench/feed/RESULTS.md, 2026-12-06, on the feed benchmark's dataset): a row of the
PostgreSQL feed table cost 13.8 us of CPU (12.2 of them in the backend: a B-tree insert per
follower and its WAL) and the Celery fan-out wrote 27,000 rows/s, so 20 posts/s x 1,000
followers lagged p99 9.6 s on two shared cores; a sorted-set entry written by a server-side
script costs 5.0 us (4.3 in Redis) and the same fan-out writes 102,000 entries/s. The feeds
stay a projection: PostgreSQL (the log and the core's tables) is the source of truth,
`rebuild_feed` rebuilds them, and the read re-checks visibility. Keys are
`feed:<database>:<user id>`: one Redis serves several databases (tests, benchmarks) without
their feeds meeting. Member and score are both the post id.

Every write is idempotent (adding a member twice, removing one that is gone), so a redelivered
event or a retried task changes nothing. Redis is not in PostgreSQL's transaction, so writes
that add posts re-check the projection's tombstones afterwards, waiting on the row locks of a
concurrent delete or block (`FOR SHARE`): whichever of the two runs last removes the post.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any, cast

import redis
from django.conf import settings
from django.db import connection

from core_app.pages.models import FollowStatus
from events.consumer import chunked
from observability.metrics import FANOUT_ROWS

SCRIPT_ARGS = 1000  # members per script call (Lua unpacks them onto its stack)
SCAN_COUNT = 1000

# KEYS: feeds; ARGV: cap, then post ids. Adds each post to each feed, trims to the newest `cap`.
ADD_LUA = """
local cap = tonumber(ARGV[1])
local pairs = {}
for i = 2, #ARGV do
  pairs[#pairs + 1] = ARGV[i]
  pairs[#pairs + 1] = ARGV[i]
end
local added = 0
for _, key in ipairs(KEYS) do
  added = added + redis.call('ZADD', key, unpack(pairs))
  redis.call('ZREMRANGEBYRANK', key, 0, -cap - 1)
end
return added
"""
# KEYS: feeds; ARGV: post ids. Removes each post from each feed.
REMOVE_LUA = """
for _, key in ipairs(KEYS) do
  redis.call('ZREM', key, unpack(ARGV))
end
return #KEYS
"""
# KEYS: feeds. The lowest post id any of them holds (0 when all are empty).
OLDEST_LUA = """
local oldest = nil
for _, key in ipairs(KEYS) do
  local first = redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')
  if first[2] and (oldest == nil or tonumber(first[2]) < oldest) then
    oldest = tonumber(first[2])
  end
end
return oldest or 0
"""

# FOR SHARE in the subqueries waits for a concurrent delete or block to commit and then reads
# the row as it committed (a filter outside the lock would have read the old row and not waited).
RECHECK_SQL = """
    SELECT (SELECT blocked OR owner_blocked OR deleted FROM projections_feedpage
            WHERE page_id = %(page_id)s FOR SHARE),
           ARRAY(SELECT post_id FROM (
                    SELECT post_id, deleted FROM projections_feedpost
                    WHERE post_id = ANY(%(post_ids)s::bigint[]) FOR SHARE) AS locked
                 WHERE deleted)::bigint[]
"""
BACKFILL_SQL = """
    SELECT post_id FROM projections_feedpost
    WHERE page_id = %(page_id)s AND NOT deleted
    ORDER BY post_id DESC LIMIT %(limit)s
"""
PAGE_POSTS_SQL = """
    SELECT post_id FROM projections_feedpost
    WHERE page_id = %(page_id)s AND post_id >= %(oldest)s ORDER BY post_id
"""
# The pages merged at read time (too many followers to fan out): the newest posts of those the
# viewer follows or owns. Visibility is re-checked with the posts, as for the fanned-out ids.
MERGED_SQL = """
    SELECT post.id FROM posts_post AS post
    JOIN pages_page AS page ON page.id = post.page_id
    WHERE post.page_id IN (SELECT page_id FROM projections_feedpage WHERE read_time_merge)
      AND post.id < %(before)s
      AND (page.owner_id = %(viewer)s OR EXISTS (
           SELECT 1 FROM pages_follow AS follow
           WHERE follow.page_id = post.page_id AND follow.follower_id = %(viewer)s
             AND follow.status = %(accepted)s))
    ORDER BY post.id DESC LIMIT %(count)s
"""
NO_CURSOR = 2**63 - 1

_namespace: ContextVar[str] = ContextVar("feed_namespace", default="feed")


@dataclass(frozen=True)
class PostRef:
    """What a fan-out needs to know about a post (carried in the task message)."""

    post_id: int
    page_id: int
    created_at: datetime


@lru_cache(maxsize=1)
def redis_client() -> redis.Redis:
    """The process's client (its pool re-opens its connections in a forked worker)."""
    return redis.Redis.from_url(settings.REDIS_URL)


@lru_cache(maxsize=4)
def _script(source: str) -> Any:
    return redis_client().register_script(source)


def _prefix(namespace: str | None = None) -> str:
    return f"{namespace or _namespace.get()}:{connection.settings_dict['NAME']}:"


def feed_key(user_id: int) -> str:
    return f"{_prefix()}{user_id}"


def _keys(user_ids: Sequence[int]) -> list[str]:
    prefix = _prefix()
    return [f"{prefix}{u}" for u in user_ids]


# --- writes --------------------------------------------------------------------------------


def _add(user_ids: Sequence[int], post_ids: Sequence[int]) -> int:
    added = 0
    script = _script(ADD_LUA)
    for posts in chunked(post_ids, SCRIPT_ARGS // 2):  # each post is a score and a member
        for users in chunked(user_ids, SCRIPT_ARGS):
            added += int(script(keys=_keys(users), args=[settings.FEED_MAX_ENTRIES, *posts]))
    return added


def _remove(user_ids: Sequence[int], post_ids: Sequence[int]) -> None:
    script = _script(REMOVE_LUA)
    for posts in chunked(post_ids, SCRIPT_ARGS):
        for users in chunked(user_ids, SCRIPT_ARGS):
            script(keys=_keys(users), args=posts)


def _take_back_removed(page_id: int, post_ids: Sequence[int], user_ids: Sequence[int]) -> list[int]:
    """After adding: remove what a delete or block made invisible meanwhile (see the docstring).

    Returns the posts taken back. (A late fan-out of a deleted post thus adds and removes it at
    once: readers re-check visibility anyway, and this way no check can come too early.)
    """
    with connection.cursor() as cursor:
        cursor.execute(RECHECK_SQL, {"page_id": page_id, "post_ids": list(post_ids)})
        page_gone, deleted = cursor.fetchone()
    gone = list(post_ids) if page_gone else deleted
    if gone:
        _remove(user_ids, gone)
    return gone


def fanout_to(post: PostRef, user_ids: Sequence[int]) -> int:
    """Add the post to these users' feeds (each trimmed to the cap); returns entries added."""
    if not user_ids:
        return 0
    added = _add(user_ids, [post.post_id])
    if _take_back_removed(post.page_id, [post.post_id], user_ids):
        return 0
    FANOUT_ROWS.inc(added)  # the consumer's first chunk and the tasks' others alike
    return added


def backfill(page_id: int, user_ids: Sequence[int]) -> int:
    """Add the page's most recent posts to these users' feeds; returns entries added."""
    with connection.cursor() as cursor:
        cursor.execute(BACKFILL_SQL, {"page_id": page_id, "limit": settings.FEED_BACKFILL_POSTS})
        post_ids = [row[0] for row in cursor.fetchall()]
    if not post_ids or not user_ids:
        return 0
    added = _add(user_ids, post_ids)
    gone = _take_back_removed(page_id, post_ids, user_ids)
    return 0 if len(gone) == len(post_ids) else added


def remove_post(post_id: int, user_ids: Sequence[int]) -> None:
    """Remove one post from these users' feeds."""
    _remove(user_ids, [post_id])


def remove_page(page_id: int, user_ids: Sequence[int]) -> None:
    """Remove a page's posts from these users' feeds.

    Only posts at least as new as the oldest entry of these feeds can be in them, so only those
    are looked up (the projection's FeedPost rows of the page) and removed.
    """
    oldest_script = _script(OLDEST_LUA)
    for users in chunked(user_ids, SCRIPT_ARGS):
        oldest = int(oldest_script(keys=_keys(users)))
        if not oldest:
            continue
        with connection.cursor() as cursor:
            cursor.execute(PAGE_POSTS_SQL, {"page_id": page_id, "oldest": oldest})
            post_ids = [row[0] for row in cursor.fetchall()]
        _remove(users, post_ids)


# --- reads ---------------------------------------------------------------------------------


def fanned_out_ids(user_id: int, *, before: int | None, count: int) -> list[int]:
    """The newest `count` post ids below `before` in the user's feed."""
    high = "+inf" if before is None else f"({before}"
    ids = redis_client().zrevrangebyscore(feed_key(user_id), high, "-inf", start=0, num=count)
    return [int(i) for i in cast(list[bytes], ids)]


def merged_ids(user_id: int, *, before: int | None, count: int) -> list[int]:
    """The newest `count` post ids below `before` of the read-time-merged pages the user reads."""
    params: dict[str, int | str] = {
        "viewer": user_id,
        "before": NO_CURSOR if before is None else before,
        "count": count,
        "accepted": str(FollowStatus.ACCEPTED),
    }
    with connection.cursor() as cursor:
        cursor.execute(MERGED_SQL, params)
        return [row[0] for row in cursor.fetchall()]


def feed_candidate_ids(user_id: int, *, before: int | None, count: int) -> list[int]:
    """Up to `count` newest ids below `before`: the user's feed and the merged pages (unchecked)."""
    fanned_out = fanned_out_ids(user_id, before=before, count=count)
    merged = merged_ids(user_id, before=before, count=count)
    return sorted({*fanned_out, *merged}, reverse=True)[:count]


def feed_of(user_id: int) -> list[int]:
    """The whole feed of one user, newest first (tests, checks)."""
    members = cast(list[bytes], redis_client().zrevrange(feed_key(user_id), 0, -1))
    return [int(i) for i in members]


def all_feeds() -> dict[int, list[int]]:
    """Every non-empty feed of this database, newest first (tests, checks)."""
    users = [int(key.removeprefix(_prefix())) for key in _scan(_namespace.get())]
    return {user_id: feed_of(user_id) for user_id in sorted(users)}


# --- rebuild -------------------------------------------------------------------------------


def _scan(namespace: str) -> Iterator[str]:
    for key in redis_client().scan_iter(match=f"{_prefix(namespace)}*", count=SCAN_COUNT):
        yield key.decode()


def clear(namespace: str = "feed") -> None:
    """Delete every feed of this database in `namespace`."""
    client = redis_client()
    batch: list[str] = []
    for key in _scan(namespace):
        batch.append(key)
        if len(batch) >= SCAN_COUNT:
            client.unlink(*batch)
            batch.clear()
    if batch:
        client.unlink(*batch)


@contextlib.contextmanager
def building() -> Iterator[None]:
    """Write feeds to the rebuild's own keys inside the block (emptied first)."""
    clear("feedbuild")
    token = _namespace.set("feedbuild")
    try:
        yield
    finally:
        _namespace.reset(token)


def publish_build() -> int:
    """Replace the live feeds with the rebuilt ones; returns the number of feeds.

    Each key is renamed over the live one (atomic per feed), then live feeds the rebuild did
    not produce are deleted: a reader meanwhile sees, per user, the old feed or the new one.
    """
    client = redis_client()
    live, built = _prefix("feed"), _prefix("feedbuild")
    stale = set(_scan("feed"))
    count = 0
    pipe = client.pipeline(transaction=False)
    for key in _scan("feedbuild"):
        target = live + key.removeprefix(built)
        pipe.rename(key, target)
        stale.discard(target)
        count += 1
        if len(pipe) >= SCAN_COUNT:
            pipe.execute()
    pipe.execute()
    for keys in chunked(sorted(stale), SCAN_COUNT):
        client.unlink(*keys)
    return count
