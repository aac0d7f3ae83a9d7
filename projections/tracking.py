"""Exactly-once effects: an event's effect and its AppliedEvent row commit together."""

from __future__ import annotations

from collections.abc import Callable

from django.db import connection, transaction

from events.contracts import EventEnvelope

RECORD_SQL = """
    INSERT INTO projections_appliedevent (consumer, event_id, position, applied_at)
    VALUES {rows}
    ON CONFLICT (consumer, event_id) DO NOTHING
    RETURNING consumer
"""
RECORD_ROW = "(%s, %s, %s, now())"


def apply_once_each(
    envelope: EventEnvelope, effects: dict[str, Callable[[], None]], *, savepoint: bool = True
) -> dict[str, bool]:
    """Run each consumer's effect unless that consumer already applied this event; per consumer,
    False when it was a duplicate.

    One savepoint and one insert for all of them (an event no consumer handles gets neither):
    a failing effect rolls back the whole event, which its redelivery then applies again.
    With `savepoint=False` (inside a transaction) there is no savepoint: a failing effect
    spoils the whole transaction, which the caller must then roll back.
    The insert takes the unique-index entries first, so a concurrent duplicate waits for this
    transaction and then finds the rows: two deliveries never both apply.
    """
    if not effects:
        return {}
    sql = RECORD_SQL.format(rows=", ".join([RECORD_ROW] * len(effects)))
    params = [value for consumer in effects for value in (consumer, envelope.event_id, envelope.position)]
    with transaction.atomic(savepoint=savepoint):
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            new = {row[0] for row in cursor.fetchall()}
        for consumer, effect in effects.items():
            if consumer in new:
                effect()
    return {consumer: consumer in new for consumer in effects}


def apply_once(consumer: str, envelope: EventEnvelope, effect: Callable[[], None]) -> bool:
    """Run `effect` unless `consumer` already applied this event; False when it was a duplicate."""
    return apply_once_each(envelope, {consumer: effect})[consumer]
