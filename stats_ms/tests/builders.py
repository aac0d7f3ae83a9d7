"""Envelopes of contract events for the statistics tests."""

from __future__ import annotations

import itertools
import uuid
from datetime import UTC, datetime
from typing import Any

from events.contracts import (
    EventEnvelope,
    EventPayload,
    FollowAccepted,
    FollowRejected,
    FollowRemoved,
    FollowRequested,
    PageBlocked,
    PageCreated,
    PageDeleted,
    PostCreated,
    PostDeleted,
    PostLiked,
    PostUnliked,
    UserBlocked,
    UserLoggedOut,
    UserRegistered,
    UserSessionRevoked,
    UserUnblocked,
)

_positions = itertools.count(1)
NOW = datetime(2026, 11, 27, 10, 0, tzinfo=UTC)


def envelope(payload: EventPayload, *, at: datetime = NOW, actor_id: int | None = None) -> EventEnvelope:
    return EventEnvelope(
        event_id=uuid.uuid4(),
        position=next(_positions),
        type=payload.type,
        version=payload.version,
        aggregate_type=payload.aggregate_type,
        aggregate_id=payload.aggregate_id(),
        actor_id=actor_id,
        occurred_at=at,
        payload=payload.model_dump(mode="json"),
    )


def raw_envelope(type_: str, payload: dict[str, Any], *, version: int = 1) -> EventEnvelope:
    return EventEnvelope(
        event_id=uuid.uuid4(),
        position=next(_positions),
        type=type_,
        version=version,
        aggregate_type="page",
        aggregate_id="1",
        actor_id=None,
        occurred_at=NOW,
        payload=payload,
    )


def page_created(page_id: int, owner_id: int, **kw: Any) -> EventEnvelope:
    payload = PageCreated(
        page_id=page_id, owner_id=owner_id, uuid=f"p{page_id}", name="P", is_private=False, tags=[]
    )
    return envelope(payload, **kw)


def page_deleted(page_id: int, owner_id: int, **kw: Any) -> EventEnvelope:
    return envelope(PageDeleted(page_id=page_id, owner_id=owner_id), **kw)


def page_blocked(page_id: int, owner_id: int, **kw: Any) -> EventEnvelope:
    return envelope(PageBlocked(page_id=page_id, owner_id=owner_id, until=None, reason="spam"), **kw)


def post_created(
    post_id: int, page_id: int, owner_id: int, *, reply_to: tuple[int, int] | None = None, **kw: Any
) -> EventEnvelope:
    payload = PostCreated(
        post_id=post_id,
        page_id=page_id,
        page_owner_id=owner_id,
        page_is_private=False,
        reply_to_id=reply_to[0] if reply_to else None,
        reply_to_page_id=reply_to[1] if reply_to else None,
    )
    return envelope(payload, **kw)


def post_deleted(
    post_id: int,
    page_id: int,
    owner_id: int,
    *,
    likes: int = 0,
    replies: int = 0,
    reply_to: tuple[int, int] | None = None,
    **kw: Any,
) -> EventEnvelope:
    payload = PostDeleted(
        post_id=post_id,
        page_id=page_id,
        page_owner_id=owner_id,
        reply_to_id=reply_to[0] if reply_to else None,
        reply_to_page_id=reply_to[1] if reply_to else None,
        likes_count=likes,
        replies_count=replies,
        by_staff=False,
        reason="",
    )
    return envelope(payload, **kw)


def post_liked(post_id: int, page_id: int, owner_id: int, user_id: int, **kw: Any) -> EventEnvelope:
    return envelope(
        PostLiked(post_id=post_id, page_id=page_id, page_owner_id=owner_id, user_id=user_id), **kw
    )


def post_unliked(post_id: int, page_id: int, owner_id: int, user_id: int, **kw: Any) -> EventEnvelope:
    return envelope(
        PostUnliked(post_id=post_id, page_id=page_id, page_owner_id=owner_id, user_id=user_id), **kw
    )


def follow_requested(page_id: int, owner_id: int, follower_id: int, **kw: Any) -> EventEnvelope:
    return envelope(FollowRequested(page_id=page_id, page_owner_id=owner_id, follower_id=follower_id), **kw)


def follow_accepted(
    page_id: int, owner_id: int, follower_id: int, *, was_requested: bool, **kw: Any
) -> EventEnvelope:
    payload = FollowAccepted(
        page_id=page_id, page_owner_id=owner_id, follower_id=follower_id, was_requested=was_requested
    )
    return envelope(payload, **kw)


def follow_rejected(
    page_id: int, owner_id: int, follower_id: int, *, previous: str, **kw: Any
) -> EventEnvelope:
    payload = FollowRejected(
        page_id=page_id, page_owner_id=owner_id, follower_id=follower_id, previous_status=previous
    )
    return envelope(payload, **kw)


def follow_removed(
    page_id: int, owner_id: int, follower_id: int, *, previous: str, **kw: Any
) -> EventEnvelope:
    payload = FollowRemoved(
        page_id=page_id, page_owner_id=owner_id, follower_id=follower_id, previous_status=previous
    )
    return envelope(payload, **kw)


def user_registered(user_id: int) -> EventEnvelope:
    return envelope(UserRegistered(user_id=user_id, username=f"u{user_id}"))


def user_blocked(user_id: int, **kw: Any) -> EventEnvelope:
    return envelope(UserBlocked(user_id=user_id, reason="spam", page_ids=[]), **kw)


def user_unblocked(user_id: int, **kw: Any) -> EventEnvelope:
    return envelope(UserUnblocked(user_id=user_id, page_ids=[]), **kw)


def user_session_revoked(user_id: int, **kw: Any) -> EventEnvelope:
    payload = UserSessionRevoked(user_id=user_id, session_id=uuid.uuid4(), reason="user_blocked")
    return envelope(payload, **kw)


def user_logged_out(user_id: int, **kw: Any) -> EventEnvelope:
    return envelope(UserLoggedOut(user_id=user_id, session_id=uuid.uuid4()), **kw)
