"""The append API: services call `append_event` inside their transaction.

Ordering: `LOCK TABLE event_log IN EXCLUSIVE MODE` before the insert serializes appending
transactions from the lock until their commit (the approach of eventsourcing's
`_lock_table`). A later transaction therefore can neither take a position nor commit
before an earlier one commits, so position order *is* commit order and the relay never
meets a gap that fills in later: reading `position > cursor` is enough. The lock allows
concurrent readers (ACCESS SHARE), so the relay and the API's reads never wait on it.
The price is that appends are serial; services append last, just before commit, to keep
the lock short.
"""

from __future__ import annotations

import uuid

from django.db import connection
from django.utils import timezone

from events.contracts import EventEnvelope, EventPayload
from events.models import StoredEvent

NOTIFY_CHANNEL = "event_log"


class NotInTransactionError(RuntimeError):
    """An event must be appended in the transaction of the change it records."""


def _lock_log(payload: EventPayload) -> None:
    if not connection.in_atomic_block:
        raise NotInTransactionError(f"{payload.type} appended outside a transaction")
    with connection.cursor() as cursor:
        cursor.execute("LOCK TABLE event_log IN EXCLUSIVE MODE")
        # Delivered at commit; PostgreSQL folds identical notifications of one transaction.
        cursor.execute("SELECT pg_notify(%s, '')", [NOTIFY_CHANNEL])


def _new_event(payload: EventPayload, actor_id: int | None) -> StoredEvent:
    return StoredEvent(
        event_id=uuid.uuid4(),
        type=payload.type,
        version=payload.version,
        aggregate_type=payload.aggregate_type,
        aggregate_id=payload.aggregate_id(),
        actor_id=actor_id,
        payload=payload.model_dump(mode="json"),
        occurred_at=timezone.now(),
        is_moderation=payload.is_moderation(),
    )


def append_event(payload: EventPayload, *, actor_id: int | None) -> StoredEvent:
    """Append one event in the current transaction (which must exist)."""
    _lock_log(payload)
    event = _new_event(payload, actor_id)
    event.save(force_insert=True)
    return event


def append_events(payloads: list[EventPayload], *, actor_id: int | None) -> list[StoredEvent]:
    """Append several events, in order, in the current transaction.

    One lock and multi-row inserts (positions follow the list order), so a bulk operation
    recording thousands of events does not pay a round trip per event.
    """
    if not payloads:
        return []
    _lock_log(payloads[0])
    return StoredEvent.objects.bulk_create([_new_event(p, actor_id) for p in payloads], batch_size=1000)


def to_envelope(event: StoredEvent) -> EventEnvelope:
    """The wire form of a stored event."""
    return EventEnvelope(
        event_id=event.event_id,
        position=event.position,
        type=event.type,
        version=event.version,
        aggregate_type=event.aggregate_type,
        aggregate_id=event.aggregate_id,
        actor_id=event.actor_id,
        occurred_at=event.occurred_at,
        payload=event.payload,
    )
