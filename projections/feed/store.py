"""SQL of the feed projection: every statement is idempotent (re-running it changes nothing).

Posts fanned out are checked against the projection's tombstones (deleted posts, blocked or
deleted pages) so a fan-out task that runs late does not bring back what was removed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.conf import settings
from django.db import connection

# Trimming a user costs a scan of their newest FEED_MAX_ENTRIES entries, so each fan-out trims
# only about one user in TRIM_EVERY (chosen by a hash of user and post, deterministic so a
# rebuild trims exactly as live did). A feed therefore holds on average ~64 entries over
# the cap; reads only ever look at the newest page of it.
TRIM_EVERY = 128

FANOUT_SQL = """
    INSERT INTO projections_feedentry (user_id, post_id, page_id, created_at)
    SELECT u, %(post_id)s, %(page_id)s, %(created_at)s
    FROM unnest(%(user_ids)s::bigint[]) AS u
    WHERE NOT EXISTS (
            SELECT 1 FROM projections_feedpost WHERE post_id = %(post_id)s AND deleted)
      AND NOT EXISTS (
            SELECT 1 FROM projections_feedpage
            WHERE page_id = %(page_id)s AND (blocked OR owner_blocked OR deleted))
    ON CONFLICT DO NOTHING
"""

BACKFILL_SQL = """
    INSERT INTO projections_feedentry (user_id, post_id, page_id, created_at)
    SELECT u, p.post_id, p.page_id, p.created_at
    FROM unnest(%(user_ids)s::bigint[]) AS u
    CROSS JOIN (
        SELECT post_id, page_id, created_at FROM projections_feedpost
        WHERE page_id = %(page_id)s AND NOT deleted
        ORDER BY post_id DESC LIMIT %(limit)s
    ) AS p
    ON CONFLICT DO NOTHING
"""

TRIM_SQL = """
    DELETE FROM projections_feedentry AS f
    USING (
        SELECT u AS user_id,
               (SELECT e.post_id FROM projections_feedentry AS e WHERE e.user_id = u
                ORDER BY e.post_id DESC OFFSET %(cap)s LIMIT 1) AS cutoff
        FROM unnest(%(user_ids)s::bigint[]) AS u
    ) AS c
    WHERE f.user_id = c.user_id AND f.post_id <= c.cutoff
"""


@dataclass(frozen=True)
class PostRef:
    """What a fan-out needs to know about a post (carried in the task message)."""

    post_id: int
    page_id: int
    created_at: datetime


def fanout_to(post: PostRef, user_ids: Sequence[int]) -> int:
    """Insert the post into these users' feeds; returns rows inserted."""
    params: dict[str, Any] = {
        "post_id": post.post_id,
        "page_id": post.page_id,
        "created_at": post.created_at,
        "user_ids": list(user_ids),
    }
    with connection.cursor() as cursor:
        cursor.execute(FANOUT_SQL, params)
        inserted = cursor.rowcount
    trim_feeds([u for u in user_ids if (u * 31 + post.post_id) % TRIM_EVERY == 0])
    return inserted


def backfill(page_id: int, user_ids: Sequence[int]) -> int:
    """Insert the page's most recent posts into these users' feeds; returns rows inserted."""
    params: dict[str, Any] = {
        "page_id": page_id,
        "user_ids": list(user_ids),
        "limit": settings.FEED_BACKFILL_POSTS,
    }
    with connection.cursor() as cursor:
        cursor.execute(BACKFILL_SQL, params)
        return cursor.rowcount


def trim_feeds(user_ids: Sequence[int]) -> None:
    """Cut these users' feeds to the FEED_MAX_ENTRIES newest entries."""
    if not user_ids:
        return
    with connection.cursor() as cursor:
        cursor.execute(TRIM_SQL, {"cap": settings.FEED_MAX_ENTRIES, "user_ids": list(user_ids)})


def remove_page(page_id: int, user_ids: Sequence[int]) -> None:
    """Remove a page's posts from these users' feeds (primary-key range per user)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "DELETE FROM projections_feedentry WHERE user_id = ANY(%s::bigint[]) AND page_id = %s",
            [list(user_ids), page_id],
        )


def remove_post(post_id: int, user_ids: Sequence[int]) -> None:
    """Remove one post from these users' feeds (primary-key lookups)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "DELETE FROM projections_feedentry WHERE user_id = ANY(%s::bigint[]) AND post_id = %s",
            [list(user_ids), post_id],
        )
