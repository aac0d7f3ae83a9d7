"""Applies raw events from the projections queue: the feed projection, then e-mail planning.

Runs inside the Celery worker (see `EventConsumerStep`) in log order, a batch at a time: the
messages the worker has read off its connection without waiting (at most the prefetch,
PROJECTIONS_EVENT_PREFETCH) are applied in one transaction, so one commit serves the batch.
The fast path applies them with no savepoint per event (a SAVEPOINT and its RELEASE are two
round trips per event). If an event fails, that transaction is rolled back and the fallback
applies the batch again in a new one, each event's effects and its AppliedEvent rows in one
savepoint of it (`apply_once_each`), so a failing event rolls back alone. Either way an
event's AppliedEvent rows commit with its effects. Messages are acked only after the commit,
so a crash means a redelivery of the batch, and a redelivery changes nothing. A poison message
is dead-lettered (once, by whichever pass meets it first), a failing one handed back (bounded
by the delivery limit); the others of the batch are applied and acked all the same.
Fan-out and e-mail tasks are published, and the feeds' Redis writes made, before the commit:
a crash in between, or a fast path rolled back for the fallback, makes them again, which is
harmless because they are idempotent.
Each event is handled with its request id (the message's `request_id` header) bound, so the
tasks it publishes carry it on, and one line per applied event logs it.
"""

from __future__ import annotations

import logging
import math
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.db import close_old_connections, connection, transaction
from psycopg.pq import TransactionStatus

from events.consumer import PoisonMessageError, decode_event, delivery_count, redelivery_backoff
from events.contracts import EventEnvelope, PostCreated
from observability.metrics import record_consumed
from observability.trace import bound, request_id_from_headers
from projections import notifications
from projections.feed.handlers import CONSUMER as FEED_CONSUMER
from projections.feed.handlers import feed_effect
from projections.feed.work import FeedWork
from projections.tracking import apply_once_each

logger = logging.getLogger(__name__)

EmailQueue = Callable[[int, Sequence[int]], None]
Schedule = Callable[[float, Callable[[], None]], None]  # (delay in seconds, callback)
BATCH_CHECK_SECONDS = 0.001  # a batch is applied once this long passes without a new message


# The event and, per consumer that handled it, whether it applied it (False: a duplicate, or
# an event it ignores).
Outcome = tuple[EventEnvelope, dict[str, bool]]


def process_event(
    body: bytes, work: FeedWork, queue_emails: EmailQueue, *, savepoint: bool = True
) -> Outcome:
    """Apply one event message to every projection (each at most once); `savepoint=False`: see
    `apply_once_each`."""
    envelope, payload = decode_event(body)
    effects: dict[str, Callable[[], None]] = {}
    feed = feed_effect(envelope, payload, work)
    if feed is not None:
        effects[FEED_CONSUMER] = feed
    if isinstance(payload, PostCreated):
        effects[notifications.CONSUMER] = notifications.post_created_effect(payload, queue_emails)
    # One savepoint for both projections, if any (none for an event neither handles, e.g. a like).
    return envelope, {FEED_CONSUMER: False, **apply_once_each(envelope, effects, savepoint=savepoint)}


def _record_committed(outcomes: list[Outcome]) -> None:
    """`innotter_consumer_applied_total` and `innotter_consumer_lag_seconds`, once the batch committed:
    one update per consumer and batch (the lag of the newest event it handled), not per event."""
    newest: dict[str, datetime] = {}
    applied: Counter[str] = Counter()
    for envelope, handled in outcomes:
        for consumer, was_applied in handled.items():
            newest[consumer] = envelope.occurred_at
            applied[consumer] += was_applied
    for consumer, occurred_at in newest.items():
        record_consumed(consumer, occurred_at, applied=applied[consumer])


def process_message(
    message: Any, work: FeedWork, queue_emails: EmailQueue, *, savepoint: bool = True
) -> Outcome:
    """`process_event` with the message's request id and event bound (the tasks it publishes carry the id)."""
    with bound(**_trace(message)):
        return process_event(message.body, work, queue_emails, savepoint=savepoint)


class _EventFailedError(Exception):
    """An event of a batch applied without savepoints failed: the batch's transaction is spoilt."""


@dataclass
class _Pass:
    """What one pass over a batch did. `poison` is shared by the passes: each is rejected once."""

    poison: list[Any]
    applied: list[Any] = field(default_factory=list)
    failed: list[Any] = field(default_factory=list)
    outcomes: list[Outcome] = field(default_factory=list)


def _apply(
    messages: Sequence[Any], done: _Pass, work: FeedWork, queue_emails: EmailQueue, savepoints: bool
) -> _Pass:
    """Apply the messages in the current transaction, skipping those already dead-lettered."""
    for message in messages:
        if not any(message is p for p in done.poison):
            _apply_one(message, done, work, queue_emails, savepoints)
    return done


def _apply_one(message: Any, done: _Pass, work: FeedWork, queue_emails: EmailQueue, savepoints: bool) -> None:
    try:
        outcome = process_message(message, work, queue_emails, savepoint=savepoints)
    except PoisonMessageError as exc:  # raised while decoding, before any SQL
        logger.error("dead-lettering message %s: %s", message.properties.get("message_id"), exc)
        message.reject(requeue=False)
        done.poison.append(message)
        return
    except Exception as exc:
        if not savepoints:
            raise _EventFailedError(message.properties.get("message_id")) from exc
        # Its savepoints are rolled back; the batch's transaction goes on without it.
        _log_failure(message)
        done.failed.append(message)
        return
    if not savepoints and _transaction_aborted():  # an error was swallowed: a RELEASE would fail
        raise _EventFailedError(message.properties.get("message_id"))
    done.outcomes.append(outcome)
    done.applied.append(message)


def _transaction_aborted() -> bool:
    """The transaction had an error (libpq's state, no round trip): a COMMIT would roll it back."""
    raw = connection.connection
    return raw is not None and raw.info.transaction_status == TransactionStatus.INERROR


def _apply_batch(
    messages: Sequence[Any], work: FeedWork, queue_emails: EmailQueue, poison: list[Any]
) -> _Pass:
    """One transaction without a savepoint per event (two round trips each); if an event fails,
    roll it all back and apply the batch again, one savepoint per event, so it fails alone."""
    try:
        with transaction.atomic():
            return _apply(messages, _Pass(poison), work, queue_emails, savepoints=False)
    except _EventFailedError as exc:
        logger.warning(
            "event %s failed (%r): its batch of %d is applied again event by event",
            exc,
            exc.__cause__,
            len(messages),
        )
    with transaction.atomic():
        return _apply(messages, _Pass(poison), work, queue_emails, savepoints=True)


def on_event_messages(messages: Sequence[Any], work: FeedWork, queue_emails: EmailQueue) -> None:
    """Apply a batch in one transaction; ack what was applied, dead-letter poison, hand back failures."""
    close_old_connections()
    poison: list[Any] = []
    try:
        done = _apply_batch(messages, work, queue_emails, poison)
    except Exception:  # the commit (or the connection) failed: nothing of the batch is applied
        logger.exception("a batch of %d events failed", len(messages))
        done = _Pass(poison, failed=[m for m in messages if not any(m is p for p in poison)])
    _settle(done)


def _settle(done: _Pass) -> None:
    """After the commit: ack what was applied, hand back what failed (after a backoff)."""
    logging_applied = logger.isEnabledFor(logging.INFO)  # no per-event work when the level is off
    for message in done.applied:
        message.ack()
        if logging_applied:
            trace = _trace(message)
            logger.info("event %s applied", trace["event_type"], extra=trace)
    _record_committed(done.outcomes)
    if done.failed:
        close_old_connections()
        time.sleep(redelivery_backoff(max(delivery_count(m.headers) for m in done.failed)))
        for message in done.failed:
            message.requeue()


def on_event_message(message: Any, work: FeedWork, queue_emails: EmailQueue) -> None:
    """A batch of one."""
    on_event_messages([message], work, queue_emails)


def _trace(message: Any) -> dict[str, Any]:
    """The request id, event id and type of an event message (from its headers and properties)."""
    properties = message.properties
    return {
        "request_id": request_id_from_headers(message.headers),
        "event_id": properties.get("message_id"),
        "event_type": properties.get("type"),
    }


def _log_failure(message: Any) -> None:
    previous = delivery_count(message.headers)
    logger.exception("event %s failed (delivery %d)", message.properties.get("message_id"), previous + 1)


class EventBatcher:
    """Gathers the messages read off the connection in one go, then applies them as one batch.

    `schedule` runs a callback later on the worker's event loop (which meanwhile reads what its
    sockets have, one message per turn): the batch is applied once a scheduled check finds it
    has not grown since the last one, i.e. the connection had nothing more to give, and at
    least `spacing` after the previous batch began, or as soon as it is full. A lone message
    after a quiet spell waits one check (a millisecond). Without a loop (`schedule` None) every
    message is its own batch. Each batch costs a transaction, its commit and its acks whatever
    its size, so under load the spacing makes a few events share them instead of one each.
    """

    def __init__(
        self,
        work: FeedWork,
        queue_emails: EmailQueue,
        *,
        limit: int,
        schedule: Schedule | None,
        spacing: float = 0.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.work, self.queue_emails = work, queue_emails
        self.limit, self.schedule = limit, schedule
        self.spacing, self.clock = spacing, clock
        self.pending: list[Any] = []
        self._seen = 0
        self._scheduled = False
        self._flushed_at = -math.inf

    def on_message(self, message: Any) -> None:
        self.pending.append(message)
        if self.schedule is None or len(self.pending) >= self.limit:
            self.flush()
        elif not self._scheduled:
            self._scheduled = True
            self._seen = len(self.pending)
            self.schedule(BATCH_CHECK_SECONDS, self._check)

    def _check(self) -> None:
        if not self.pending:  # flushed meanwhile (it filled up)
            self._scheduled = False
            return
        assert self.schedule is not None
        if len(self.pending) != self._seen:
            self._seen = len(self.pending)
            self.schedule(BATCH_CHECK_SECONDS, self._check)
            return
        if (wait := self._flushed_at + self.spacing - self.clock()) > 0:
            self.schedule(wait, self._check)
            return
        self._scheduled = False
        self.flush()

    def flush(self) -> None:
        self._flushed_at = self.clock()
        batch, self.pending = self.pending, []
        if batch:
            on_event_messages(batch, self.work, self.queue_emails)
