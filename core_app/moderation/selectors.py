"""The moderation history, read straight from the event log (`is_moderation` rows)."""

from __future__ import annotations

from django.db.models import Q, QuerySet

from events.models import StoredEvent

TARGET_TYPES = ("page", "user", "post")
# A user block also blocks (and its undoing unblocks) the user's pages, listed in the payload.
USER_BLOCK_TYPES = ("user.blocked", "user.unblocked")


def _target_q(target_type: str, target_id: int | None) -> Q:
    target = Q(aggregate_type=target_type)
    if target_id is None:
        return target
    target &= Q(aggregate_id=str(target_id))
    if target_type == "page":
        target |= Q(type__in=USER_BLOCK_TYPES, payload__page_ids__contains=[target_id])
    return target


def moderation_event_list(
    *, target_type: str | None = None, target_id: int | None = None, actor_id: int | None = None
) -> QuerySet[StoredEvent]:
    """Moderation events with their actors, optionally about one target or by one actor."""
    events = StoredEvent.objects.filter(is_moderation=True).select_related("actor")
    if target_type is not None:
        events = events.filter(_target_q(target_type, target_id))
    if actor_id is not None:
        events = events.filter(actor_id=actor_id)
    return events


def page_moderation_history(*, page_id: int) -> QuerySet[StoredEvent]:
    """Everything moderation did to a page, newest first: its blocks and unblocks (also through
    its owner's), and staff deletions of its posts."""
    staff_post_deletions = Q(type="post.deleted", payload__page_id=page_id)
    return (
        StoredEvent.objects.filter(is_moderation=True)
        .filter(_target_q("page", page_id) | staff_post_deletions)
        .select_related("actor")
        .order_by("-position")
    )


def user_moderation_history(*, user_id: int) -> QuerySet[StoredEvent]:
    """Everything moderation did to a user, newest first: blocks, unblocks, role changes."""
    return moderation_event_list(target_type="user", target_id=user_id).order_by("-position")
