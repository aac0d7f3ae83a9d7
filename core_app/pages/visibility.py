"""Visibility rules, written once and used by every selector (pages, posts, feed, search).

- A page is *blocked* while `blocked_permanently`, while `blocked_until` is in the future, or
  while its owner is blocked. Timed blocks therefore end by themselves at read time.
- Page metadata: staff see every page; others see unblocked pages and their own pages.
- Posts: staff see all; the page's owner sees their own; others see posts of unblocked pages
  that are public or that they follow (accepted).
"""

from __future__ import annotations

from django.db.models import Exists, OuterRef, Q
from django.utils import timezone

from core_app.pages.models import Follow, FollowStatus, Page
from core_app.users.models import User


def blocked_page_q(prefix: str = "") -> Q:
    """Matches blocked pages; `prefix` is the path to the page (e.g. "page__")."""
    return (
        Q(**{f"{prefix}blocked_permanently": True})
        | Q(**{f"{prefix}blocked_until__gt": timezone.now()})
        | Q(**{f"{prefix}owner__is_blocked": True})
    )


def page_is_blocked(page: Page) -> bool:
    """The rule of `blocked_page_q` for one loaded page (owner loaded too)."""
    timed = page.blocked_until is not None and page.blocked_until > timezone.now()
    return page.blocked_permanently or timed or page.owner.is_blocked


def can_see_page(viewer: User, page: Page) -> bool:
    """The rule of `visible_pages_q` for one loaded page (owner loaded too)."""
    return viewer.is_staff_role or page.owner_id == viewer.pk or not page_is_blocked(page)


def can_read_posts_of(viewer: User, page: Page) -> bool:
    """The rule of `readable_posts_q` for one loaded page (owner loaded too).

    Cheaper than a query with the rule when the page is at hand: it asks the database only
    whether the viewer follows a private page.
    """
    if viewer.is_staff_role or page.owner_id == viewer.pk:
        return True
    if page_is_blocked(page):
        return False
    if not page.is_private:
        return True
    return Follow.objects.filter(page_id=page.pk, follower=viewer, status=FollowStatus.ACCEPTED).exists()


def blocked_page_sql(page: str, owner: str) -> str:
    """`blocked_page_q` for hand-written SQL: `page` and `owner` are the aliases of a page and its
    owner; the statement binds the current time as `%(now)s`."""
    return (
        f"({page}.blocked_permanently"
        f" OR ({page}.blocked_until IS NOT NULL AND {page}.blocked_until > %(now)s)"
        f" OR {owner}.is_blocked)"
    )


def visible_pages_q(viewer: User, prefix: str = "") -> Q:
    """Pages whose metadata the viewer may see."""
    if viewer.is_staff_role:
        return Q()
    return Q(**{f"{prefix}owner": viewer}) | ~blocked_page_q(prefix)


def followed_page_ids(viewer: User):  # type: ignore[no-untyped-def]
    """A subquery of the ids of pages the viewer follows (accepted)."""
    return Follow.objects.filter(follower=viewer, status=FollowStatus.ACCEPTED).values("page_id")


def readable_posts_q(viewer: User, prefix: str = "page__") -> Q:
    """Posts the viewer may read; `prefix` is the path from the post to its page."""
    if viewer.is_staff_role:
        return Q()
    page_id = f"{prefix}id" if prefix else "id"
    open_to_viewer = Q(**{f"{prefix}is_private": False}) | Q(**{f"{page_id}__in": followed_page_ids(viewer)})
    return Q(**{f"{prefix}owner": viewer}) | (~blocked_page_q(prefix) & open_to_viewer)


def follows_page(viewer: User, page_ref: str) -> Exists:
    """True where the viewer follows (accepted) the page at `page_ref`: one unique-key probe per row.

    Cheaper than `followed_page_ids` when only a few rows are checked (a feed page), because it
    never reads all of the viewer's follows.
    """
    return Exists(
        Follow.objects.filter(follower=viewer, status=FollowStatus.ACCEPTED, page_id=OuterRef(page_ref))
    )


def feed_posts_q(viewer: User) -> Q:
    """Posts that belong in the viewer's feed: their own pages', or readable ones of pages they follow."""
    followed = Q(follows_page(viewer, "page_id"))
    if not viewer.is_staff_role:
        followed &= ~blocked_page_q("page__")
    return Q(page__owner=viewer) | followed
