"""Rebuild the feed projection from the event log, through the live handlers, with no e-mail.

All in one transaction: the projection tables are locked against writers (the live consumer
waits), emptied and refilled by replaying every event. The home feeds are written to the
rebuild's own Redis keys (readers keep seeing the old feeds), which replace the live ones just
before the commit, while the live consumer still waits on the lock: a fan-out task still
running for an event the rebuild has replayed adds what the rebuilt feed holds already.
Events the live consumer applies afterwards are the ones the rebuild has not seen; those it has
seen are skipped as already applied.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from django.db import connection, transaction

from events.append import to_envelope
from events.models import StoredEvent
from projections.feed import store
from projections.feed.handlers import CONSUMER, apply_feed_event
from projections.feed.work import InlineFeedWork

TABLES = (
    "projections_appliedevent",
    "projections_feedfollow",
    "projections_feedpage",
    "projections_feedpost",
)


def _events(chunk_size: int) -> Iterator[StoredEvent]:
    return StoredEvent.objects.order_by("position").iterator(chunk_size=chunk_size)


def _clear() -> None:
    with connection.cursor() as cursor:
        cursor.execute(f"LOCK TABLE {', '.join(TABLES)} IN EXCLUSIVE MODE")
        for table in TABLES[1:]:
            cursor.execute(f"DELETE FROM {table}")
        cursor.execute("DELETE FROM projections_appliedevent WHERE consumer = %s", [CONSUMER])


@transaction.atomic
def rebuild_feed(*, progress: Callable[[int], object] | None = None, chunk_size: int = 2000) -> int:
    """Replay the whole log into empty feed tables; returns the number of events replayed."""
    _clear()
    work = InlineFeedWork()
    replayed = 0
    with store.building():
        for stored in _events(chunk_size):
            envelope = to_envelope(stored)
            apply_feed_event(envelope, envelope.parse_payload(), work)
            replayed += 1
            if progress is not None:
                progress(1)
    store.publish_build()
    return replayed


def event_count() -> int:
    return StoredEvent.objects.count()
