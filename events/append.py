"""The append API: services call `append_event` inside their transaction.

Ordering without a lock: an insert takes the next position (`event_log_next_position()`,
which first marks the transaction as appending with a shared lock no appender waits on), so
appending transactions run side by side. Positions are insert order, and commits may land
out of it: T1 takes 41, T2 takes 42 and commits first. Readers that must not skip read only
up to the *stable head* (events/horizon.py), below which every position is final.

Per aggregate, position order is commit order: services lock the aggregate's row (or
otherwise serialize on it) before they append, and append last, so the next transaction of
that aggregate inserts only after this one committed and takes a higher position. Across
aggregates, position order follows every dependency that passes through a commit: an event
appended after another transaction committed comes after all of that transaction's events.
Only overlapping transactions, which could not see each other, are ordered by insert rather
than by commit. (Ordering by transaction id instead would break the per-aggregate rule: a
transaction that got its id early and then waited for the aggregate's row lock would be
ordered before the event it waited for.)
"""

from __future__ import annotations

import logging
import uuid
from collections import Counter

import orjson
from django.db import connection, transaction
from django.utils import timezone

from events.contracts import EventEnvelope, EventPayload
from events.horizon import RELAY_SLEEPING
from events.models import StoredEvent
from observability.metrics import count_appended
from observability.trace import current_request_id

logger = logging.getLogger(__name__)

NOTIFY_CHANNEL = "event_log"


class NotInTransactionError(RuntimeError):
    """An event must be appended in the transaction of the change it records."""


# Wake the relay at commit only if it sleeps (it holds RELAY_SLEEPING exclusively while it
# waits; see Relay._sleep_until_notified). PostgreSQL serializes the commits of notifying
# transactions with one lock for the whole cluster, so a notification per append would
# put back the global queue the log no longer has. Run after the insert: an appender that
# finds the relay awake holds the shared lock to its commit, so the relay cannot go to sleep
# before this event is committed and seen.
_IF_RELAY_SLEEPS = f"WHERE NOT pg_try_advisory_xact_lock_shared({RELAY_SLEEPING[0]}, {RELAY_SLEEPING[1]})"
NOTIFY_IF_RELAY_SLEEPS_SQL = f"SELECT pg_notify(%s, '') {_IF_RELAY_SLEEPS}"

# One event in one round trip, written once (the ORM built and compiled its INSERT per call):
# the insert takes its position (and the append lock), then its RETURNING, evaluated on the
# inserted row, runs the wake-up check above, so the order "insert, then check" is kept.
INSERT_SQL = f"""
    INSERT INTO event_log (event_id, type, version, aggregate_type, aggregate_id, actor_id, payload,
                           occurred_at, is_moderation, request_id)
    VALUES (%s, %s, %s, %s, %s, %s, %s::jsonb, %s, %s, %s)
    RETURNING position, (SELECT pg_notify(%s, '')::text {_IF_RELAY_SLEEPS}) IS NOT NULL
"""


def _require_transaction(payload: EventPayload) -> None:
    if not connection.in_atomic_block:
        raise NotInTransactionError(f"{payload.type} appended outside a transaction")


def _notify_relay_if_asleep() -> None:
    with connection.cursor() as cursor:
        # Delivered at commit; PostgreSQL folds identical notifications of one transaction.
        cursor.execute(NOTIFY_IF_RELAY_SLEEPS_SQL, [NOTIFY_CHANNEL])


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
        request_id=current_request_id(),  # the request (or the task of the event) that caused it
    )


def _log_appended(events: list[StoredEvent]) -> None:
    """One line per committed append (one per call for a bulk append), with the bound request id."""
    if len(events) == 1:
        event = events[0]
        logger.info(
            "event %s appended",
            event.type,
            extra={
                "request_id": event.request_id,
                "event_id": event.event_id,
                "event_type": event.type,
                "position": event.position,
            },
        )
    else:
        types = sorted({event.type for event in events})
        logger.info(
            "%d events appended (%s)",
            len(events),
            ", ".join(types),
            extra={"first_position": events[0].position, "last_position": events[-1].position},
        )


def append_event(payload: EventPayload, *, actor_id: int | None) -> StoredEvent:
    """Append one event in the current transaction (which must exist)."""
    _require_transaction(payload)
    event = _new_event(payload, actor_id)
    with connection.cursor() as cursor:
        cursor.execute(
            INSERT_SQL,
            [
                event.event_id,
                event.type,
                event.version,
                event.aggregate_type,
                event.aggregate_id,
                event.actor_id,
                orjson.dumps(event.payload).decode(),
                event.occurred_at,
                event.is_moderation,
                event.request_id,
                NOTIFY_CHANNEL,
            ],
        )
        event.position = cursor.fetchone()[0]
    event._state.adding, event._state.db = False, connection.alias  # as if saved by the ORM
    if logger.isEnabledFor(logging.INFO):
        transaction.on_commit(lambda: _log_appended([event]))
    count_appended(payload.type)
    return event


def append_events(payloads: list[EventPayload], *, actor_id: int | None) -> list[StoredEvent]:
    """Append several events, in order, in the current transaction.

    Multi-row inserts (positions follow the list order), so a bulk operation
    recording thousands of events does not pay a round trip per event.
    """
    if not payloads:
        return []
    _require_transaction(payloads[0])
    events = StoredEvent.objects.bulk_create([_new_event(p, actor_id) for p in payloads], batch_size=1000)
    _notify_relay_if_asleep()
    if logger.isEnabledFor(logging.INFO):
        transaction.on_commit(lambda: _log_appended(events))
    for type_, appended in Counter(p.type for p in payloads).items():
        count_appended(type_, appended)
    return events


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
