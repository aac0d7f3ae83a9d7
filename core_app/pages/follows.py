"""Follow services: follow, unfollow, and the owner's decisions on follow requests.

`Page.followers_count` counts accepted follows; every change to it is an F() update in the
transaction that changes the follows, so it stays exact under concurrency. Bulk decisions
lock the affected follow rows and then change exactly those rows (by id), so a request
arriving meanwhile is neither changed nor counted without its event.

Lock order, to stay free of deadlocks: the page row first, then its follow rows (as
`page_update` and `page_delete` do).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from django.db import connection, transaction
from django.db.models import QuerySet
from django.utils import timezone

from core_app.common.exceptions import NotFound, ValidationFailed
from core_app.pages.errors import CannotFollowOwnPage, NotFollowing, ensure_owner
from core_app.pages.models import Follow, FollowStatus, Page
from core_app.pages.selectors import page_with_owner
from core_app.users.models import User
from events.append import append_event, append_events
from events.contracts import FollowAccepted, FollowRejected, FollowRemoved, FollowRequested

CHUNK = 5000


def _add_followers(page: Page, delta: int) -> None:
    if delta:
        with connection.cursor() as cursor:
            cursor.execute(
                "UPDATE pages_page SET followers_count = followers_count + %s WHERE id = %s", [delta, page.pk]
            )


def _lock_page(page: Page) -> Page:
    """The page afresh, locked (FOR NO KEY UPDATE); NotFound when it was deleted meanwhile."""
    locked = page_with_owner(page.pk, lock=True)
    if locked is None:
        raise NotFound()
    return locked


def _chunks(items: Sequence[int]) -> Iterable[Sequence[int]]:
    for start in range(0, len(items), CHUNK):
        yield items[start : start + CHUNK]


def _insert_follow(*, page: Page, user: User, accepted: bool) -> Follow | None:
    """INSERT .. ON CONFLICT DO NOTHING (no read first, no savepoint); None when it existed."""
    now = timezone.now()
    follow = Follow(
        page=page,
        follower=user,
        status=FollowStatus.ACCEPTED if accepted else FollowStatus.PENDING,
        created_at=now,
        accepted_at=now if accepted else None,
    )
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {Follow._meta.db_table} (page_id, follower_id, status, created_at, accepted_at)"
            " VALUES (%s, %s, %s, %s, %s) ON CONFLICT (page_id, follower_id) DO NOTHING RETURNING id",
            [page.pk, user.pk, str(follow.status), follow.created_at, follow.accepted_at],
        )
        row = cursor.fetchone()
    if row is None:
        return None
    follow.pk = row[0]
    follow._state.adding = False
    return follow


@transaction.atomic
def follow_create(*, page: Page, user: User) -> Follow:
    """Follow a public page or ask to follow a private one; a repeat is a no-op.

    Appends `follow.accepted` (was_requested false) or `follow.requested`. The owner may not
    follow their own page (409).
    """
    if page.owner_id == user.pk:
        raise CannotFollowOwnPage()
    # The row lock orders this against a concurrent private -> public switch of the page.
    page = _lock_page(page)
    accepted = not page.is_private
    follow = _insert_follow(page=page, user=user, accepted=accepted)
    if follow is None:  # a repeat
        return Follow.objects.get(page=page, follower=user)
    ids = {"page_id": page.pk, "page_owner_id": page.owner_id, "follower_id": user.pk}
    if accepted:
        _add_followers(page, 1)
        append_event(FollowAccepted(**ids, was_requested=False), actor_id=user.pk)
    else:
        append_event(FollowRequested(**ids), actor_id=user.pk)
    return follow


@transaction.atomic
def follow_delete(*, page: Page, user: User) -> None:
    """Unfollow, or withdraw a pending request; appends `follow.removed`. Not following: 404."""
    page = _lock_page(page)
    follow = Follow.objects.select_for_update().filter(page=page, follower=user).first()
    if follow is None:
        raise NotFollowing()
    previous = follow.status
    follow.delete()
    if previous == FollowStatus.ACCEPTED:
        _add_followers(page, -1)
    append_event(
        FollowRemoved(
            page_id=page.pk, page_owner_id=page.owner_id, follower_id=user.pk, previous_status=previous
        ),
        actor_id=user.pk,
    )


def _locked(follows: QuerySet[Follow]) -> list[tuple[int, int, str]]:
    return list(follows.select_for_update().order_by("id").values_list("id", "follower_id", "status"))


def accept_pending_follows(*, page: Page, user_ids: Sequence[int] | None = None) -> list[FollowAccepted]:
    """Accept pending requests (all, or those of `user_ids`); returns the events to append.

    Runs inside the caller's transaction; the caller appends the events.
    """
    pending = Follow.objects.filter(page=page, status=FollowStatus.PENDING)
    if user_ids is not None:
        pending = pending.filter(follower_id__in=user_ids)
    rows = _locked(pending)
    now = timezone.now()
    for chunk in _chunks([row[0] for row in rows]):
        Follow.objects.filter(pk__in=chunk).update(status=FollowStatus.ACCEPTED, accepted_at=now)
    _add_followers(page, len(rows))
    return [
        FollowAccepted(
            page_id=page.pk, page_owner_id=page.owner_id, follower_id=follower_id, was_requested=True
        )
        for _, follower_id, _ in rows
    ]


def _exactly_one(user_ids: Sequence[int] | None, all_requests: bool) -> None:
    if (user_ids is None) == (not all_requests):
        raise ValidationFailed.field("non_field_errors", "Give exactly one of 'user_ids' or 'all: true'.")


@transaction.atomic
def follow_requests_accept(
    *, page: Page, actor: User, user_ids: Sequence[int] | None = None, all_requests: bool = False
) -> int:
    """Accept the pending requests of `user_ids`, or all of them (owner only).

    Appends `follow.accepted` (was_requested true) per accepted request; ids without a
    pending request are ignored. Returns how many were accepted.
    """
    ensure_owner(page, actor)
    _exactly_one(user_ids, all_requests)
    page = _lock_page(page)
    events = accept_pending_follows(page=page, user_ids=user_ids)
    append_events(list(events), actor_id=actor.pk)
    return len(events)


@transaction.atomic
def follow_requests_reject(
    *, page: Page, actor: User, user_ids: Sequence[int] | None = None, all_requests: bool = False
) -> int:
    """Reject pending requests (all, or of `user_ids`); named accepted followers are removed.

    Appends `follow.rejected` with `previous_status` per removed follow; returns their number.
    """
    ensure_owner(page, actor)
    _exactly_one(user_ids, all_requests)
    page = _lock_page(page)
    follows = Follow.objects.filter(page=page)
    if user_ids is None:
        follows = follows.filter(status=FollowStatus.PENDING)
    else:
        follows = follows.filter(follower_id__in=user_ids)
    rows = _locked(follows)
    for chunk in _chunks([row[0] for row in rows]):
        Follow.objects.filter(pk__in=chunk).delete()
    _add_followers(page, -sum(1 for row in rows if row[2] == FollowStatus.ACCEPTED))
    append_events(
        [
            FollowRejected(
                page_id=page.pk, page_owner_id=page.owner_id, follower_id=follower_id, previous_status=status
            )
            for _, follower_id, status in rows
        ],
        actor_id=actor.pk,
    )
    return len(rows)
