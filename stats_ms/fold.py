"""What each event does to the figures: pure functions from an envelope to per-page deltas.

The consumer and the rebuild both fold with this module, so a rebuild equals the live figures.
Daily buckets count what happened on that UTC day (posts written, likes given, followers
gained); they are not taken down by a later delete, unlike or unfollow.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from events.contracts import (
    EventEnvelope,
    EventPayload,
    FollowAccepted,
    FollowRejected,
    FollowRemoved,
    FollowRequested,
    PageCreated,
    PageDeleted,
    PostCreated,
    PostDeleted,
    PostLiked,
    PostUnliked,
    UserBlocked,
    UserUnblocked,
)

MAX_ID = 2**63 - 1
MAX_COUNT = 2**31 - 1
COUNTERS = ("posts", "followers", "follow_requests", "likes", "replies")
DAILY_COUNTERS = ("posts", "likes", "followers")
REVOKING_TYPES = frozenset({UserBlocked.type, UserUnblocked.type})


class MalformedEvent(ValueError):
    """An event that parses but cannot be folded (ids or counts out of range)."""


@dataclass
class PageDelta:
    """The change one or more events make to one page's figures."""

    counters: dict[str, int] = field(default_factory=lambda: dict.fromkeys(COUNTERS, 0))
    daily: dict[date, dict[str, int]] = field(default_factory=dict)
    owner_id: int | None = None
    deleted: bool = False
    last_at: datetime | None = None
    # Set for an effect on another page than the event's own (a reply under its post): the
    # page whose events carry it. Such effects are tracked apart, so that the two pages'
    # events may arrive in any order relative to each other.
    via: int | None = None

    def add(self, name: str, amount: int) -> None:
        self.counters[name] += amount

    def add_daily(self, day: date, name: str) -> None:
        bucket = self.daily.setdefault(day, dict.fromkeys(DAILY_COUNTERS, 0))
        bucket[name] += 1

    def merge(self, other: PageDelta) -> None:
        """Fold a later delta into this one (same page)."""
        for name, amount in other.counters.items():
            self.counters[name] += amount
        for day, bucket in other.daily.items():
            mine = self.daily.setdefault(day, dict.fromkeys(DAILY_COUNTERS, 0))
            for name, amount in bucket.items():
                mine[name] += amount
        self.owner_id = other.owner_id if other.owner_id is not None else self.owner_id
        self.deleted = self.deleted or other.deleted
        if other.last_at is not None and (self.last_at is None or other.last_at > self.last_at):
            self.last_at = other.last_at


Effects = dict[int, PageDelta]


@dataclass(frozen=True)
class Revocation:
    """A block (or its lifting) of a user's access tokens, from `user.blocked` / `user.unblocked`.

    While `blocked`, the user's tokens issued up to `at` are refused: a blocked user is given
    no new tokens by the core, so one issued later means the block has ended. An unblock
    accepts every token again, as the core does.
    """

    user_id: int
    blocked: bool
    at: datetime


def revocation_of(envelope: EventEnvelope) -> Revocation | None:
    """The revocation an event makes (None for every other type).

    `user.session_revoked` and `user.logged_out` end refresh sessions only: the access token
    carries no session, and the core accepts it until it expires, so they revoke nothing here.
    """
    if envelope.type not in REVOKING_TYPES:  # spares parsing the payload a second time
        return None
    payload = envelope.parse_payload()
    if not isinstance(payload, UserBlocked | UserUnblocked):
        return None
    _check_id(payload.user_id)
    return Revocation(payload.user_id, isinstance(payload, UserBlocked), envelope.occurred_at)


def effects_of(envelope: EventEnvelope) -> Effects:
    """The per-page deltas of one event (empty for types that do not touch the figures).

    Raises UnknownEventError / pydantic.ValidationError (from the contracts) or MalformedEvent.
    """
    payload = envelope.parse_payload()
    handler = _HANDLERS.get(type(payload))
    if handler is None:
        return {}
    effects: Effects = {}
    handler(payload, _Builder(effects, envelope.occurred_at))
    return effects


def merge_effects(all_effects: Iterable[Effects]) -> Effects:
    """Combine the effects of several events, page by page, in order."""
    merged: Effects = {}
    for effects in all_effects:
        for page_id, delta in effects.items():
            merged.setdefault(page_id, PageDelta()).merge(delta)
    return merged


class _Builder:
    def __init__(self, effects: Effects, occurred_at: datetime) -> None:
        self.effects = effects
        self.occurred_at = occurred_at
        self.day = occurred_at.astimezone(UTC).date()

    def page(self, page_id: int, owner_id: int | None = None, *, via: int | None = None) -> PageDelta:
        _check_id(page_id)
        via = None if via == page_id else via
        delta = self.effects.setdefault(page_id, PageDelta(last_at=self.occurred_at, via=via))
        if owner_id is not None:
            _check_id(owner_id)
            delta.owner_id = owner_id
        return delta


def _check_id(value: int) -> None:
    if not 0 < value <= MAX_ID:
        raise MalformedEvent(f"id out of range: {value}")


def _check_count(value: int) -> None:
    if not 0 <= value <= MAX_COUNT:
        raise MalformedEvent(f"count out of range: {value}")


def _page_created(p: PageCreated, b: _Builder) -> None:
    b.page(p.page_id, p.owner_id)


def _page_deleted(p: PageDeleted, b: _Builder) -> None:
    b.page(p.page_id, p.owner_id).deleted = True


def _post_created(p: PostCreated, b: _Builder) -> None:
    page = b.page(p.page_id, p.page_owner_id)
    page.add("posts", 1)
    page.add_daily(b.day, "posts")
    if p.reply_to_page_id is not None:
        b.page(p.reply_to_page_id, via=p.page_id).add("replies", 1)


def _post_deleted(p: PostDeleted, b: _Builder) -> None:
    _check_count(p.likes_count)
    _check_count(p.replies_count)
    page = b.page(p.page_id, p.page_owner_id)
    page.add("posts", -1)
    page.add("likes", -p.likes_count)
    page.add("replies", -p.replies_count)
    if p.reply_to_page_id is not None:
        b.page(p.reply_to_page_id, via=p.page_id).add("replies", -1)


def _post_liked(p: PostLiked, b: _Builder) -> None:
    page = b.page(p.page_id, p.page_owner_id)
    page.add("likes", 1)
    page.add_daily(b.day, "likes")


def _post_unliked(p: PostUnliked, b: _Builder) -> None:
    b.page(p.page_id, p.page_owner_id).add("likes", -1)


def _follow_requested(p: FollowRequested, b: _Builder) -> None:
    b.page(p.page_id, p.page_owner_id).add("follow_requests", 1)


def _follow_accepted(p: FollowAccepted, b: _Builder) -> None:
    page = b.page(p.page_id, p.page_owner_id)
    page.add("followers", 1)
    page.add_daily(b.day, "followers")
    if p.was_requested:
        page.add("follow_requests", -1)


def _follow_ended(p: FollowRejected | FollowRemoved, b: _Builder) -> None:
    counter = "followers" if p.previous_status == "accepted" else "follow_requests"
    b.page(p.page_id, p.page_owner_id).add(counter, -1)


_HANDLERS: dict[type[EventPayload], Callable[[Any, _Builder], None]] = {
    PageCreated: _page_created,
    PageDeleted: _page_deleted,
    PostCreated: _post_created,
    PostDeleted: _post_deleted,
    PostLiked: _post_liked,
    PostUnliked: _post_unliked,
    FollowRequested: _follow_requested,
    FollowAccepted: _follow_accepted,
    FollowRejected: _follow_ended,
    FollowRemoved: _follow_ended,
}
