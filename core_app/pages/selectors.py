"""Reads of pages, followers and follow requests, scoped to the viewer (see visibility.py)."""

from __future__ import annotations

from django.db import connection
from django.db.models import (
    BooleanField,
    Case,
    CharField,
    OuterRef,
    Prefetch,
    QuerySet,
    Subquery,
    Value,
    When,
)

from core_app.common.exceptions import NotFound
from core_app.common.ids import parse_pk
from core_app.common.rows import Columns, cache_related
from core_app.pages.errors import ensure_owner
from core_app.pages.models import Follow, FollowStatus, Page, Tag
from core_app.pages.visibility import blocked_page_q, can_see_page, visible_pages_q
from core_app.users.models import User

FOLLOW_STATUS_OWNER = "owner"
FOLLOW_STATUS_FOLLOWING = "following"
FOLLOW_STATUS_REQUESTED = "requested"
FOLLOW_STATUS_NONE = "none"
FOLLOW_STATUS_BY_STATE = {
    FollowStatus.ACCEPTED.value: FOLLOW_STATUS_FOLLOWING,
    FollowStatus.PENDING.value: FOLLOW_STATUS_REQUESTED,
}
FOLLOW_STATUSES = (FOLLOW_STATUS_OWNER, FOLLOW_STATUS_FOLLOWING, FOLLOW_STATUS_REQUESTED, FOLLOW_STATUS_NONE)


def _follow_status_case(viewer: User) -> Case:
    return Case(
        When(owner=viewer, then=Value(FOLLOW_STATUS_OWNER)),
        When(viewer_follow_state=FollowStatus.ACCEPTED, then=Value(FOLLOW_STATUS_FOLLOWING)),
        When(viewer_follow_state=FollowStatus.PENDING, then=Value(FOLLOW_STATUS_REQUESTED)),
        default=Value(FOLLOW_STATUS_NONE),
        output_field=CharField(),
    )


def annotate_pages(pages: QuerySet[Page], *, viewer: User) -> QuerySet[Page]:
    """What PageSerializer reads: `follow_status`, `is_blocked`, the owner and sorted tags."""
    viewer_follow = Follow.objects.filter(page=OuterRef("pk"), follower=viewer).values("status")[:1]
    return (
        pages.select_related("owner")
        .prefetch_related(Prefetch("tags", queryset=Tag.objects.order_by("name")))
        .annotate(
            viewer_follow_state=Subquery(viewer_follow),
            # CASE, not the bare condition: `blocked_until > now` is NULL for a NULL column.
            is_blocked=Case(
                When(blocked_page_q(), then=Value(True)), default=Value(False), output_field=BooleanField()
            ),
        )
        .annotate(follow_status=_follow_status_case(viewer))
    )


def page_list(*, viewer: User, owner_id: int | None = None, tag: str | None = None) -> QuerySet[Page]:
    """Pages whose metadata the viewer may see, newest first, annotated for PageSerializer.

    The owner's own pages are included even while blocked (`is_blocked` true).
    """
    pages = Page.objects.filter(visible_pages_q(viewer))
    if owner_id is not None:
        pages = pages.filter(owner_id=owner_id)
    if tag is not None:
        pages = pages.filter(tags__name=tag)
    return annotate_pages(pages, viewer=viewer).order_by("-id")


def page_get(*, viewer: User, page_id: object) -> Page:
    """One page the viewer may see, annotated; 404 otherwise (a blocked page for non-staff)."""
    page = page_list(viewer=viewer).filter(pk=parse_pk(page_id)).first()
    if page is None:
        raise NotFound()
    return page


PAGE, USER = Columns.of(Page), Columns.of(User)
# Every page action and every post starts here, so the statement is written once (see rows.py).
PAGE_WITH_OWNER_SQL = f"""
    SELECT {PAGE.select("page")}, {USER.select("owner")}
    FROM pages_page AS page JOIN users_user AS owner ON owner.id = page.owner_id
    WHERE page.id = %s
"""
LOCK_SQL = " FOR NO KEY UPDATE OF page"


def page_with_owner(page_id: int, *, lock: bool = False) -> Page | None:
    """A page by id with its owner loaded, whoever may see it; `lock`: FOR NO KEY UPDATE."""
    with connection.cursor() as cursor:
        cursor.execute(PAGE_WITH_OWNER_SQL + LOCK_SQL if lock else PAGE_WITH_OWNER_SQL, [page_id])
        row = cursor.fetchone()
    if row is None:
        return None
    page = PAGE.load(row)
    cache_related(page, "owner", USER.load(row, len(PAGE)))
    return page


def visible_page_get(*, viewer: User, page_id: object) -> Page:
    """One page the viewer may see, not annotated (what an action on the page needs); 404 otherwise."""
    page = page_with_owner(parse_pk(page_id))
    if page is None or not can_see_page(viewer, page):
        raise NotFound()
    return page


def page_follower_list(*, page: Page, viewer: User) -> QuerySet[Follow]:
    """Accepted follows of a page with their users, most recent first (owner and staff)."""
    if not viewer.is_staff_role:
        ensure_owner(page, viewer)
    follows = Follow.objects.filter(page=page, status=FollowStatus.ACCEPTED)
    return follows.select_related("follower").order_by("-id")


def follow_request_list(*, page: Page, viewer: User) -> QuerySet[Follow]:
    """Pending requests of a page with their users, oldest first (owner only)."""
    ensure_owner(page, viewer)
    follows = Follow.objects.filter(page=page, status=FollowStatus.PENDING)
    return follows.select_related("follower").order_by("id")
