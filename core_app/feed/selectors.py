"""The news-feed read: projection rows + read-time-merged pages, visibility re-checked, fixed queries.

One query finds the page of post ids (keyset on post id, so it is stable while posts arrive):
the caller's feed rows (a backward scan of the (user, post) primary key) united with the
newest posts of followed pages that are merged at read time instead of fanned out. Both
halves re-check visibility and the follow itself, so a blocked page, a deleted post or an
unfollowed page never shows even before the projection has caught up. A second query loads
the posts with the posts selector. The cost does not depend on how many pages are followed.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import Q

from core_app.pages.visibility import followed_page_ids, readable_posts_q
from core_app.posts.models import Post
from core_app.posts.selectors import post_queryset
from core_app.users.models import User
from projections.models import FeedEntry, FeedPage


@dataclass(frozen=True)
class FeedSlice:
    posts: list[Post]
    next_before: int | None


def _followed_or_own_q(viewer: User, prefix: str) -> Q:
    return Q(**{f"{prefix}owner": viewer}) | Q(**{f"{prefix}id__in": followed_page_ids(viewer)})


def feed_post_ids(*, viewer: User, before: int | None, count: int) -> list[int]:
    """Up to `count` ids of the viewer's feed posts, newest first, all below `before`."""
    projected = FeedEntry.objects.filter(user_id=viewer.pk).filter(
        readable_posts_q(viewer, prefix="post__page__"), _followed_or_own_q(viewer, "post__page__")
    )
    merged = Post.objects.filter(
        page_id__in=FeedPage.objects.filter(read_time_merge=True).values("page_id")
    ).filter(readable_posts_q(viewer), _followed_or_own_q(viewer, "page__"))
    if before is not None:
        projected = projected.filter(post_id__lt=before)
        merged = merged.filter(id__lt=before)
    newest = (
        projected.order_by("-post_id")
        .values_list("post_id", flat=True)[:count]
        .union(merged.order_by("-id").values_list("id", flat=True)[:count])
    )
    return sorted(newest, reverse=True)[:count]


def feed_list(*, viewer: User, before: int | None, limit: int) -> FeedSlice:
    """One page of the viewer's feed and the cursor of the next one (None at the end)."""
    ids = feed_post_ids(viewer=viewer, before=before, count=limit + 1)
    has_more = len(ids) > limit
    ids = ids[:limit]
    posts = list(post_queryset(viewer=viewer).filter(pk__in=ids).order_by("-id")) if ids else []
    return FeedSlice(posts=posts, next_before=ids[-1] if has_more else None)
