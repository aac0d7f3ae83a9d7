"""Exactly-once effects: an event's effect and its AppliedEvent row commit together."""

from __future__ import annotations

from collections.abc import Callable

from django.db import connection, transaction

from events.contracts import EventEnvelope

RECORD_SQL = """
    INSERT INTO projections_appliedevent (consumer, event_id, position, applied_at)
    VALUES (%s, %s, %s, now())
    ON CONFLICT (consumer, event_id) DO NOTHING
"""


def apply_once(consumer: str, envelope: EventEnvelope, effect: Callable[[], None]) -> bool:
    """Run `effect` unless `consumer` already applied this event; False when it was a duplicate.

    The insert takes the unique-index entry first, so a concurrent duplicate waits for this
    transaction and then finds the row: two deliveries never both apply.
    """
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute(RECORD_SQL, [consumer, envelope.event_id, envelope.position])
            if cursor.rowcount == 0:
                return False
        effect()
    return True
