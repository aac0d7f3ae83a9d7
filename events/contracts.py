"""Typed, versioned event contracts shared by the core, the Celery projections and the stats service.

An event travels as an `EventEnvelope` (what the log row and the broker message hold); its
`payload` is one of the payload models registered below under its type and version.
This module must not import Django.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any, ClassVar, Literal, TypeVar
from uuid import UUID

from pydantic import AwareDatetime, BaseModel, ConfigDict

FollowStatus = Literal["pending", "accepted"]
SessionRevokedReason = Literal["token_reused", "user_blocked", "user_deactivated"]


class EventPayload(BaseModel):
    """Base of every payload: strict, immutable, no unknown fields."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    type: ClassVar[str]
    version: ClassVar[int]
    aggregate_type: ClassVar[str]

    def aggregate_id(self) -> str:
        raise NotImplementedError

    def is_moderation(self) -> bool:
        """Whether the moderation history (audit) lists this event."""
        return False


class EventEnvelope(BaseModel):
    """One event as stored in the log and published to the broker."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    event_id: UUID
    position: int
    type: str
    version: int
    aggregate_type: str
    aggregate_id: str
    actor_id: int | None
    occurred_at: AwareDatetime
    payload: dict[str, Any]

    def parse_payload(self) -> EventPayload:
        """The typed payload; raises UnknownEventError or pydantic.ValidationError."""
        return parse_payload(self.type, self.version, self.payload)


class UnknownEventError(ValueError):
    """No contract is registered for this type and version."""


REGISTRY: dict[tuple[str, int], type[EventPayload]] = {}
P = TypeVar("P", bound=type[EventPayload])


def contract(type_: str, version: int, aggregate_type: str) -> Callable[[P], P]:
    """Register a payload model under its type and version."""

    def register(cls: P) -> P:
        key = (type_, version)
        if key in REGISTRY:
            raise RuntimeError(f"contract {key} registered twice")
        cls.type, cls.version, cls.aggregate_type = type_, version, aggregate_type
        REGISTRY[key] = cls
        return cls

    return register


def parse_payload(type_: str, version: int, payload: dict[str, Any]) -> EventPayload:
    try:
        cls = REGISTRY[(type_, version)]
    except KeyError:
        raise UnknownEventError(f"no contract for {type_} v{version}") from None
    return cls.model_validate(payload)


# --- users -------------------------------------------------------------------------------


class _UserEvent(EventPayload):
    user_id: int

    def aggregate_id(self) -> str:
        return str(self.user_id)


@contract("user.registered", 1, "user")
class UserRegistered(_UserEvent):
    username: str


@contract("user.updated", 1, "user")
class UserUpdated(_UserEvent):
    """Profile fields changed; `changes` maps field -> new value."""

    changes: dict[str, Any]


@contract("user.avatar_changed", 1, "user")
class UserAvatarChanged(_UserEvent):
    avatar_key: str


@contract("user.logged_in", 1, "user")
class UserLoggedIn(_UserEvent):
    session_id: UUID


@contract("user.token_refreshed", 1, "user")
class UserTokenRefreshed(_UserEvent):
    session_id: UUID


@contract("user.logged_out", 1, "user")
class UserLoggedOut(_UserEvent):
    session_id: UUID


@contract("user.session_revoked", 1, "user")
class UserSessionRevoked(_UserEvent):
    """A login session ended by the server: a spent refresh token was presented again
    (`token_reused`: someone holds a copy), or its user was blocked or deactivated."""

    session_id: UUID
    reason: SessionRevokedReason


@contract("user.login_failed", 1, "login")
class UserLoginFailed(EventPayload):
    """A failed login for an e-mail address (known or not); the throttle counts these."""

    email: str
    user_id: int | None

    def aggregate_id(self) -> str:
        return self.email


@contract("user.blocked", 1, "user")
class UserBlocked(_UserEvent):
    reason: str
    page_ids: list[int]

    def is_moderation(self) -> bool:
        return True


@contract("user.unblocked", 1, "user")
class UserUnblocked(_UserEvent):
    page_ids: list[int]

    def is_moderation(self) -> bool:
        return True


@contract("user.role_changed", 1, "user")
class UserRoleChanged(_UserEvent):
    old_role: str
    new_role: str

    def is_moderation(self) -> bool:
        return True


# --- pages -------------------------------------------------------------------------------


class _PageEvent(EventPayload):
    page_id: int
    owner_id: int

    def aggregate_id(self) -> str:
        return str(self.page_id)


@contract("page.created", 1, "page")
class PageCreated(_PageEvent):
    uuid: str
    name: str
    is_private: bool
    tags: list[str]


@contract("page.updated", 1, "page")
class PageUpdated(_PageEvent):
    """Page fields changed; `changes` maps field -> new value (tags: the full new list)."""

    changes: dict[str, Any]


@contract("page.image_changed", 1, "page")
class PageImageChanged(_PageEvent):
    image_key: str


@contract("page.deleted", 1, "page")
class PageDeleted(_PageEvent):
    pass


@contract("page.blocked", 1, "page")
class PageBlocked(_PageEvent):
    """`until` None means permanently."""

    until: datetime | None
    reason: str

    def is_moderation(self) -> bool:
        return True


@contract("page.unblocked", 1, "page")
class PageUnblocked(_PageEvent):
    """`expired` is true when a timed block ended by itself (actor is then None)."""

    expired: bool

    def is_moderation(self) -> bool:
        return True


# --- follows -----------------------------------------------------------------------------


class _FollowEvent(EventPayload):
    page_id: int
    page_owner_id: int
    follower_id: int

    def aggregate_id(self) -> str:
        return str(self.page_id)


@contract("follow.requested", 1, "page")
class FollowRequested(_FollowEvent):
    pass


@contract("follow.accepted", 1, "page")
class FollowAccepted(_FollowEvent):
    """`was_requested` is false for a direct follow of a public page."""

    was_requested: bool


@contract("follow.rejected", 1, "page")
class FollowRejected(_FollowEvent):
    """The owner rejected a request, or removed an accepted follower (`previous_status`)."""

    previous_status: FollowStatus


@contract("follow.removed", 1, "page")
class FollowRemoved(_FollowEvent):
    """The follower unfollowed, or withdrew a request (`previous_status`)."""

    previous_status: FollowStatus


# --- posts -------------------------------------------------------------------------------


class _PostEvent(EventPayload):
    post_id: int
    page_id: int
    page_owner_id: int

    def aggregate_id(self) -> str:
        return str(self.post_id)


@contract("post.created", 1, "post")
class PostCreated(_PostEvent):
    page_is_private: bool
    reply_to_id: int | None
    reply_to_page_id: int | None


@contract("post.updated", 1, "post")
class PostUpdated(_PostEvent):
    pass


@contract("post.deleted", 1, "post")
class PostDeleted(_PostEvent):
    """Counts at deletion time let consumers take figures down without the core's database."""

    reply_to_id: int | None
    reply_to_page_id: int | None
    likes_count: int
    replies_count: int
    by_staff: bool
    reason: str

    def is_moderation(self) -> bool:
        return self.by_staff


@contract("post.liked", 1, "post")
class PostLiked(_PostEvent):
    user_id: int


@contract("post.unliked", 1, "post")
class PostUnliked(_PostEvent):
    user_id: int


# --- e-mail preferences (digests) --------------------------------------------------------------

EmailPreference = Literal["instant", "daily", "weekly", "off"]
Weekday = Literal["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]


@contract("user.notifications_changed", 1, "user")
class UserNotificationsChanged(_UserEvent):
    """The user's e-mail preference, as it now is; `via` tells the API from a one-click unsubscribe."""

    email: EmailPreference
    hour: int
    weekday: Weekday
    via: Literal["api", "unsubscribe"]
