from __future__ import annotations

import itertools
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest

from events.contracts import EventEnvelope, EventPayload
from projections.feed.handlers import apply_feed_event
from projections.feed.work import InlineFeedWork

_positions = itertools.count(1)
BASE_TIME = datetime(2026, 1, 1, tzinfo=UTC)


def envelope_of(payload: EventPayload, position: int | None = None) -> EventEnvelope:
    position = position if position is not None else next(_positions)
    return EventEnvelope(
        event_id=uuid.uuid4(),
        position=position,
        type=payload.type,
        version=payload.version,
        aggregate_type=payload.aggregate_type,
        aggregate_id=payload.aggregate_id(),
        actor_id=None,
        occurred_at=BASE_TIME + timedelta(seconds=position),
        payload=payload.model_dump(mode="json"),
    )


@pytest.fixture
def feed_apply(db: None) -> Callable[[EventPayload], EventEnvelope]:
    """Apply a payload to the feed projection (inline work); returns its envelope for replays."""

    def apply(payload: EventPayload) -> EventEnvelope:
        envelope = envelope_of(payload)
        apply_feed_event(envelope, payload, InlineFeedWork())
        return envelope

    return apply
