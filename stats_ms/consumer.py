"""The statistics consumer: `python -m stats_ms.consumer`.

It reads the statistics queue (declared by `events.topology`: quorum, single active
consumer, delivery limit, dead-letter queue) with a bounded prefetch, folds what arrived
together in one go (so a burst on a hot page becomes one write per item), and acks the
batch (one multiple-ack) only after its write. A message that cannot be parsed or folded is rejected
without requeue, which sends it to the dead-letter queue, and the consumer goes on.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import math
import signal
from collections.abc import Awaitable, Callable
from typing import TypeVar

import aio_pika
from aio_pika.abc import AbstractIncomingMessage, AbstractQueue

from events.contracts import EventEnvelope
from events.topology import Topology, declare_on_channel, topology_from_env
from observability.logs import configure_logging
from observability.metrics import record_consumed, serve_metrics
from observability.trace import request_id_from_headers
from stats_ms.aws import dynamodb_resource
from stats_ms.repository import FoldedEvent, StatsRepository
from stats_ms.settings import Settings, get_settings

logger = logging.getLogger(__name__)
T = TypeVar("T")
MAX_BACKOFF_SECONDS = 10.0
PREFETCH_BATCHES = 2
CONSUMER = "stats"  # the `consumer` label of the consumer metrics


def decode(message: AbstractIncomingMessage) -> FoldedEvent:
    """The folded form of one broker message; ValueError when it is not a valid event."""
    envelope = EventEnvelope.model_validate_json(message.body)
    return FoldedEvent.of(envelope)


class StatsConsumer:
    """Folds batches of messages into the repository, acking after the write."""

    def __init__(
        self,
        repo: StatsRepository,
        *,
        batch_limit: int,
        batch_interval: float = 0.0,
        writes_per_second: float | None = None,
        max_spacing: float = 2.0,
    ) -> None:
        self.repo = repo
        self.batch_limit = batch_limit
        self.batch_interval = batch_interval
        self.writes_per_second = writes_per_second
        self.max_spacing = max_spacing  # the write budget never holds a batch back longer
        self.spacing = batch_interval  # between the starts of two batches, under load
        self.holding = asyncio.Event()  # set while a rebuild holds the writes

    async def handle_batch(self, messages: list[AbstractIncomingMessage], stop: asyncio.Event) -> None:
        """Fold the valid messages, dead-letter the others, then ack."""
        folded: list[FoldedEvent] = []
        valid: list[AbstractIncomingMessage] = []
        for message in messages:
            try:
                folded.append(decode(message))
                valid.append(message)
            except Exception as exc:  # json, contract validation, unknown type, out-of-range ids...
                logger.error("dead-lettering message %s (%s): %s", message.message_id, message.type, exc)
                await _settle(message.reject(requeue=False))
        if not await self._write(folded, stop):
            return  # stopping: unacked messages go back to the queue and are deduplicated later
        if valid:
            # One frame for the batch: the broker delivers in order and the batch is taken from
            # the head of the inbox, so every unsettled delivery up to the last one is this
            # batch's (the dead-lettered ones are settled already).
            await _settle(valid[-1].ack(multiple=True))
            log_folded(valid)
        if folded and folded[-1].occurred_at is not None:  # the batch's newest event gives the lag
            record_consumed(CONSUMER, folded[-1].occurred_at, applied=len(folded))

    async def _write(self, folded: list[FoldedEvent], stop: asyncio.Event) -> bool:
        """Write with backoff while DynamoDB is unavailable; False if asked to stop first."""
        delay = 0.1
        while True:
            try:
                if not await self._hold_during_rebuild(stop):
                    return False
                self._space_after(await self.repo.apply(folded))
                return True
            except Exception:
                logger.exception("folding %d events failed; retrying in %.1fs", len(folded), delay)
            if await _stopped(stop, delay):
                return False
            delay = min(delay * 2, MAX_BACKOFF_SECONDS)

    def _space_after(self, writes: int) -> None:
        """Space the next batch by the interval, or longer if this one's writes used up the budget.

        Each item a batch touches costs a write whatever the batch's size, so with more pages
        written at once batches come further apart (up to `max_spacing`) and fold more events
        per write, instead of writing more often: the store's load (and on moto's server, its
        CPU) stays flat as the number of pages grows, up to writes_per_second x max_spacing
        pages a batch (bench/writes/RESULTS.md).
        """
        spacing = self.batch_interval
        if self.writes_per_second is not None:
            spacing = max(spacing, min(self.max_spacing, writes / self.writes_per_second))
        self.spacing = spacing

    async def _hold_during_rebuild(self, stop: asyncio.Event) -> bool:
        """Hold the batch (unacked) while a rebuild runs; it goes to the new tables afterwards.

        Events of the held batch that the export already holds are dropped there by the
        position check, the others are folded: nothing is lost or counted twice.
        """
        refresh = self.repo.settings.stats_meta_refresh_seconds
        while (await self.repo.generations()).building is not None:
            if not self.holding.is_set():
                logger.info("a rebuild is in progress: holding writes until it switches")
                self.holding.set()
            if await _stopped(stop, refresh):
                return False
        self.holding.clear()
        return True

    async def run(self, queue: AbstractQueue, stop: asyncio.Event) -> None:
        """Consume until `stop` is set; each batch is what has arrived since the last write.

        Under load a batch is also given until `spacing` after the previous batch's start to
        fill up (unless it is full): each batch costs a write per item it touches, whatever its
        size, so fewer, larger batches spare the store (and the write units) when events keep
        coming. A message after a quiet spell is written at once.
        """
        loop = asyncio.get_running_loop()
        inbox: asyncio.Queue[AbstractIncomingMessage] = asyncio.Queue()
        tag = await queue.consume(inbox.put)
        started = -math.inf
        try:
            while (first := await _next(inbox, stop)) is not None:
                batch = [first]
                fill_until = started + self.spacing
                # What has arrived is taken at once; then more is awaited until `fill_until`.
                while (
                    len(batch) < self.batch_limit
                    and (message := await _next(inbox, stop, fill_until - loop.time())) is not None
                ):
                    batch.append(message)
                started = loop.time()
                await self.handle_batch(batch, stop)
        finally:
            with contextlib.suppress(Exception):
                await queue.cancel(tag)


def log_folded(messages: list[AbstractIncomingMessage]) -> None:
    """One line per folded event, with the request id its message carries."""
    if not logger.isEnabledFor(logging.INFO):
        return
    for message in messages:
        trace = {
            "request_id": request_id_from_headers(message.headers),
            "event_id": message.message_id,
            "event_type": message.type,
        }
        logger.info("event %s folded", message.type, extra=trace)


async def _next(
    inbox: asyncio.Queue[AbstractIncomingMessage], stop: asyncio.Event, seconds: float | None = None
) -> AbstractIncomingMessage | None:
    """The next message; None once `stop` is set or, with `seconds`, when none arrives in time."""
    if not inbox.empty():
        return inbox.get_nowait()
    if stop.is_set() or (seconds is not None and seconds <= 0):
        return None
    getter = asyncio.ensure_future(inbox.get())
    stopper = asyncio.ensure_future(stop.wait())
    await asyncio.wait({getter, stopper}, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
    stopper.cancel()
    if not getter.cancel():  # it had finished: the message was taken
        return getter.result()
    return None


async def _stopped(stop: asyncio.Event, seconds: float) -> bool:
    """Wait up to `seconds` for `stop`; whether it is set."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)
    return stop.is_set()


async def _settle(action: Awaitable[object]) -> None:
    """Ack/reject; a channel lost meanwhile only means the broker will redeliver (deduplicated)."""
    try:
        await action
    except Exception:
        logger.warning("could not settle a message; it will be redelivered", exc_info=True)


def stats_topology(settings: Settings) -> Topology:
    """The pipeline's topology, with this service's exchange and queue names."""
    return dataclasses.replace(
        topology_from_env(), exchange=settings.events_exchange, stats_queue=settings.events_queue_stats
    )


async def consume(settings: Settings, topology: Topology, stop: asyncio.Event) -> None:
    """Connect to DynamoDB and the broker, declare the topology, consume until `stop`."""
    async with dynamodb_resource(settings) as dynamodb:
        repo = StatsRepository(dynamodb, settings)
        await _retry("DynamoDB tables", repo.ensure_tables, stop)
        connection = await _retry("broker", lambda: aio_pika.connect_robust(settings.rabbitmq_url), stop)
        if connection is None:
            return
        async with connection:
            channel = await connection.channel()
            # Two batches' worth unacked: while one batch is written the next one is delivered
            # whole, so a backlog is folded in full batches rather than in what trickled in
            # since the last acks.
            prefetch = PREFETCH_BATCHES * settings.stats_prefetch
            await channel.set_qos(prefetch_count=prefetch)
            await declare_on_channel(channel, topology)
            queue = await channel.get_queue(topology.stats_queue)
            logger.info("consuming %s (prefetch %d)", topology.stats_queue, prefetch)
            consumer = StatsConsumer(
                repo,
                batch_limit=settings.stats_prefetch,
                batch_interval=settings.stats_batch_interval_seconds,
                writes_per_second=settings.stats_writes_per_second,
                max_spacing=settings.stats_max_batch_spacing_seconds,
            )
            await consumer.run(queue, stop)


async def _retry(what: str, action: Callable[[], Awaitable[T]], stop: asyncio.Event) -> T | None:
    delay = 0.5
    while not stop.is_set():
        try:
            return await action()
        except Exception as exc:
            logger.warning("%s unavailable (%s); retrying in %.1fs", what, exc, delay)
        if await _stopped(stop, delay):
            return None
        delay = min(delay * 2, MAX_BACKOFF_SECONDS)
    return None


async def main() -> None:
    configure_logging()  # JSON lines, LOG_LEVEL (observability/logs.py)
    settings = get_settings()
    serve_metrics("stats-consumer")
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await consume(settings, stats_topology(settings), stop)


if __name__ == "__main__":
    asyncio.run(main())
