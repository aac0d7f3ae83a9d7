"""The digest builder: for a batch of users, what is new since each one's last digest.

Built per batch, not per user, from the core's tables as they are at build time (so a deleted
post, a blocked page or an ended follow never appears, as in the feed read):

1. the batch's accepted follows of visible pages (one query),
2. the period's posts, newest first, as `(id, page_id, created_at)` (one query, found by id:
   `posts_post` has no index on time, ids grow with time, and a binary search over the primary
   key finds where the period begins),
3. for the batch's own pages, new followers, pending requests and likes (two queries),
4. the chosen posts with their pages (one query).

Per user the newest posts are picked by walking the period's posts newest first until
`MAX_POSTS` are from followed pages; a user whose pages are too quiet for that walk is served
from per-page lists instead, so no user costs more than `SCAN_LIMIT` steps plus a small merge.
"""

from __future__ import annotations

import heapq
import time
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from itertools import chain
from typing import Any

from django.db import connection

from core_app.pages.visibility import blocked_page_q
from core_app.posts.models import Post

MAX_POSTS = 20
SCAN_LIMIT = 4000
# A post's id is taken a moment before its created_at; a transaction open this long could
# commit a post with a smaller id than one already committed with a later time.
ID_TIME_SKEW = timedelta(minutes=5)

PostRow = tuple[int, int, float]  # (post id, page id, created_at as a POSIX timestamp)
# A run's batches share one period: its posts are read once per process and kept this long.
# Staleness is harmless: the follows are read per batch and the chosen posts re-checked.
PERIOD_CACHE_SECONDS = 120.0

FOLLOWS_SQL = """
    SELECT f.follower_id, array_agg(f.page_id) FROM pages_follow AS f
    JOIN pages_page AS p ON p.id = f.page_id
    JOIN users_user AS o ON o.id = p.owner_id
    WHERE f.follower_id = ANY(%(users)s) AND f.status = 'accepted' AND p.owner_id <> f.follower_id
      AND NOT p.blocked_permanently AND (p.blocked_until IS NULL OR p.blocked_until <= now())
      AND NOT o.is_blocked
    GROUP BY f.follower_id
"""
PERIOD_POSTS_SQL = """
    SELECT id, page_id, extract(epoch FROM created_at)::float8 FROM posts_post
    WHERE id >= %(first_id)s AND created_at >= %(start)s AND created_at < %(until)s
    ORDER BY id DESC
"""
FOLLOWERS_SQL = """
    WITH u(id, start) AS (SELECT * FROM unnest(%(users)s::bigint[], %(starts)s::timestamptz[]))
    SELECT u.id,
        count(*) FILTER (WHERE f.status = 'accepted' AND f.accepted_at >= u.start),
        count(*) FILTER (WHERE f.status = 'pending' AND f.created_at >= u.start)
    FROM u JOIN pages_page AS p ON p.owner_id = u.id JOIN pages_follow AS f ON f.page_id = p.id
    WHERE coalesce(f.accepted_at, f.created_at) < %(until)s
      AND (f.accepted_at >= u.start OR f.created_at >= u.start)
    GROUP BY u.id
"""
LIKES_SQL = """
    WITH u(id, start) AS (SELECT * FROM unnest(%(users)s::bigint[], %(starts)s::timestamptz[]))
    SELECT u.id, count(*)
    FROM u JOIN pages_page AS p ON p.owner_id = u.id JOIN posts_post AS post ON post.page_id = p.id
    JOIN posts_like AS l ON l.post_id = post.id
    WHERE l.created_at >= u.start AND l.created_at < %(until)s AND l.user_id <> u.id
    GROUP BY u.id
"""
FIRST_ID_AFTER_SQL = "SELECT id, created_at FROM posts_post WHERE id >= %s ORDER BY id LIMIT 1"


@dataclass(frozen=True)
class Digest:
    """One user's digest: the newest post ids (newest first), how many more, own-page activity."""

    user_id: int
    period_start: datetime
    period_end: datetime
    post_ids: list[int]
    more: int = 0
    new_followers: int = 0
    follow_requests: int = 0
    likes_received: int = 0
    posts: list[Post] = field(default_factory=list, compare=False)

    @property
    def is_empty(self) -> bool:
        return not (self.post_ids or self.new_followers or self.follow_requests or self.likes_received)


class PeriodPosts:
    """The posts of one period (newest first) and, per page, its count and newest ids."""

    def __init__(self, rows: Sequence[PostRow], limit: int = MAX_POSTS) -> None:
        self.rows = rows
        self.limit = limit
        self.counts: Counter[int] = Counter(page_id for _, page_id, _ in rows)
        self.newest: dict[int, list[int]] = defaultdict(list)
        for post_id, page_id, _ in rows:
            if len(ids := self.newest[page_id]) < limit:
                ids.append(post_id)

    def since(self, start: datetime) -> PeriodPosts:
        moment = start.timestamp()
        return PeriodPosts([row for row in self.rows if row[2] >= moment], self.limit)

    def pick(self, followed: Iterable[int]) -> tuple[list[int], int]:
        """The newest `limit` post ids of the followed pages and how many posts they have in all."""
        followed = set(followed)
        total = sum(self.counts.get(page_id, 0) for page_id in followed)
        if total == 0:
            return [], 0
        picked: list[int] = []
        want = min(self.limit, total)
        for post_id, page_id, _ in self.rows[:SCAN_LIMIT]:
            if page_id in followed:
                picked.append(post_id)
                if len(picked) == want:
                    return picked, total
        merged = chain.from_iterable(self.newest[p] for p in followed if p in self.newest)
        return heapq.nlargest(want, merged), total


def assemble(
    starts: Mapping[int, datetime],
    until: datetime,
    follows: Mapping[int, set[int]],
    period: PeriodPosts,
    activity: Mapping[int, tuple[int, int, int]],
) -> dict[int, Digest]:
    """The digests of a batch from what was loaded (pure: no database)."""
    floor = min(starts.values(), default=until)
    by_start = {floor: period}
    digests: dict[int, Digest] = {}
    for user_id, start in starts.items():
        posts = by_start.get(start) or by_start.setdefault(start, period.since(start))
        post_ids, total = posts.pick(follows.get(user_id, ()))
        followers, requests, likes = activity.get(user_id, (0, 0, 0))
        digests[user_id] = Digest(
            user_id=user_id,
            period_start=start,
            period_end=until,
            post_ids=post_ids,
            more=total - len(post_ids),
            new_followers=followers,
            follow_requests=requests,
            likes_received=likes,
        )
    return digests


# --- loading ------------------------------------------------------------------------------------


def first_post_id_since(moment: datetime) -> int:
    """The smallest post id created at or after `moment` (binary search over the primary key)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT coalesce(min(id), 1), coalesce(max(id), 0) + 1 FROM posts_post")
        low, high = cursor.fetchone()
        while low < high:
            middle = (low + high) // 2
            cursor.execute(FIRST_ID_AFTER_SQL, [middle])
            row = cursor.fetchone()
            if row is None or row[1] >= moment:
                high = middle
            else:
                low = row[0] + 1
    return int(low)


def load_follows(user_ids: Sequence[int]) -> dict[int, set[int]]:
    """Each user's followed pages that are visible now (own pages left out)."""
    with connection.cursor() as cursor:
        cursor.execute(FOLLOWS_SQL, {"users": list(user_ids)})
        return {user_id: set(page_ids) for user_id, page_ids in cursor.fetchall()}


_period_cache: dict[tuple[datetime, datetime], tuple[float, PeriodPosts]] = {}


def load_period(start: datetime, until: datetime) -> PeriodPosts:
    """The period's posts, newest first (read once per process and period: PERIOD_CACHE_SECONDS)."""
    key = (start, until)
    cached = _period_cache.get(key)
    if cached is not None and time.monotonic() - cached[0] < PERIOD_CACHE_SECONDS:
        return cached[1]
    params: dict[str, Any] = {
        "first_id": first_post_id_since(start - ID_TIME_SKEW),
        "start": start,
        "until": until,
    }
    with connection.cursor() as cursor:
        cursor.execute(PERIOD_POSTS_SQL, params)
        period = PeriodPosts(cursor.fetchall())
    _period_cache.clear()
    _period_cache[key] = (time.monotonic(), period)
    return period


def load_activity(starts: Mapping[int, datetime], until: datetime) -> dict[int, tuple[int, int, int]]:
    """Per owner: (new followers, pending requests, likes received) on their pages in the period."""
    params: dict[str, Any] = {"users": list(starts), "starts": list(starts.values()), "until": until}
    with connection.cursor() as cursor:
        cursor.execute(FOLLOWERS_SQL, params)
        followers = {row[0]: (row[1], row[2]) for row in cursor.fetchall()}
        cursor.execute(LIKES_SQL, params)
        likes = dict(cursor.fetchall())
    return {
        user_id: (*followers.get(user_id, (0, 0)), likes.get(user_id, 0))
        for user_id in set(followers) | set(likes)
    }


def load_posts(post_ids: Iterable[int]) -> dict[int, Post]:
    """The posts with their pages, unless deleted or blocked by now."""
    queryset = (
        Post.objects.select_related("page").exclude(blocked_page_q("page__")).filter(pk__in=list(post_ids))
    )
    return {post.pk: post for post in queryset}


def build_digests(starts: Mapping[int, datetime], until: datetime) -> dict[int, Digest]:
    """The digests of a batch of users, each from its start to `until`, with their posts."""
    if not starts:
        return {}
    period = load_period(min(starts.values()), until)
    digests = assemble(starts, until, load_follows(list(starts)), period, load_activity(starts, until))
    posts = load_posts(chain.from_iterable(d.post_ids for d in digests.values()))
    for digest in digests.values():
        digest.posts.extend(posts[post_id] for post_id in digest.post_ids if post_id in posts)
    return digests
