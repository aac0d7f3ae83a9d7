"""The news-feed read: projection rows + read-time-merged pages, visibility re-checked, fixed queries.

A page of the feed costs two queries and one Redis command, whatever the number of follows:

1. *Candidates*: the newest ids below the cursor in the caller's home feed (a Redis sorted
   set, `projections.feed.store`) united with the newest posts of followed pages that are
   merged at read time instead of fanned out.
2. *Posts*: the candidates the caller may still read, with their pages, in one query that
   re-checks visibility and the follow itself, so a blocked page, a deleted post or an
   unfollowed page never shows even before the projection has caught up.

The window is a few times the page size, so a handful of stale rows (the projection removes
them soon after the change) cost nothing extra. Only when a whole window is stale does the read
go on below it, with a wider window, for at most `MAX_ROUNDS` rounds; after that the page is
returned short with a cursor below what was examined, so paging stays complete and the cost of
one request stays bounded.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db import connection
from django.utils import timezone

from core_app.common.rows import Columns, cache_related
from core_app.pages.models import FollowStatus, Page
from core_app.pages.visibility import blocked_page_sql
from core_app.posts.models import Post
from core_app.users.models import User
from projections.feed import store as feed_store

WINDOW_FACTOR = 2  # candidates per round in the first round: (limit + 1) x this
MAX_ROUNDS = 3  # each further round looks at a window WIDEN times wider
WIDEN = 4


@dataclass(frozen=True)
class FeedSlice:
    posts: list[Post]
    next_before: int | None


def feed_candidate_ids(*, viewer: User, before: int | None, count: int) -> list[int]:
    """Up to `count` newest ids below `before` from the projection and the merged pages (unchecked)."""
    return feed_store.feed_candidate_ids(viewer.pk, before=before, count=count)


POST = Columns.of(Post)
PAGE = Columns.of(Page)
# The rule of `visibility.feed_posts_q` (own pages', or followed and unblocked unless staff) with
# each post's page and `liked_by_me`; written out because it runs on every feed read.
POSTS_SQL = f"""
    SELECT {POST.select("post")}, {PAGE.select("page")},
        EXISTS (SELECT 1 FROM posts_like AS l WHERE l.post_id = post.id AND l.user_id = %(viewer)s)
    FROM posts_post AS post
    JOIN pages_page AS page ON page.id = post.page_id
    JOIN users_user AS owner ON owner.id = page.owner_id
    WHERE post.id = ANY(%(ids)s)
      AND (page.owner_id = %(viewer)s OR (
           EXISTS (SELECT 1 FROM pages_follow AS follow
                   WHERE follow.page_id = post.page_id AND follow.follower_id = %(viewer)s
                     AND follow.status = %(accepted)s)
           AND (%(staff)s OR NOT {blocked_page_sql("page", "owner")})))
    ORDER BY post.id DESC LIMIT %(count)s
"""


def _post_with_page(row: tuple[Any, ...]) -> Post:
    post = POST.load(row)
    cache_related(post, "page", PAGE.load(row, len(POST)))
    post.liked_by_me = row[-1]  # type: ignore[attr-defined]
    return post


def readable_feed_posts(*, viewer: User, ids: list[int], count: int) -> list[Post]:
    """Of these ids, the newest `count` posts the viewer may read in their feed, with their pages."""
    params: dict[str, Any] = {
        "viewer": viewer.pk,
        "ids": ids,
        "count": count,
        "accepted": str(FollowStatus.ACCEPTED),
        "staff": viewer.is_staff_role,
        "now": timezone.now(),
    }
    with connection.cursor() as cursor:
        cursor.execute(POSTS_SQL, params)
        return [_post_with_page(row) for row in cursor.fetchall()]


def feed_list(*, viewer: User, before: int | None, limit: int) -> FeedSlice:
    """One page of the viewer's feed and the cursor of the next one (None at the end)."""
    want = limit + 1  # one more than shown tells whether there is a next page
    window = want * WINDOW_FACTOR
    found: list[Post] = []
    for _ in range(MAX_ROUNDS):
        candidates = feed_candidate_ids(viewer=viewer, before=before, count=window)
        if candidates:
            found += readable_feed_posts(viewer=viewer, ids=candidates, count=want - len(found))
        if len(found) > limit:
            return FeedSlice(posts=found[:limit], next_before=found[limit - 1].pk)
        if len(candidates) < window:  # the feed ends here
            return FeedSlice(posts=found, next_before=None)
        before = candidates[-1]
        window *= WIDEN
    # Still short after the last round: show what was found; the next page starts below it.
    return FeedSlice(posts=found, next_before=before)
