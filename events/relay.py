"""The relay: publishes the committed event log to RabbitMQ, in position order, at least once.

Loop: read up to `batch_size` events after the last one published and up to the log's stable
head (events/horizon.py: no event below it can still commit), publish them all
(persistent, mandatory, publisher confirms) and read the next batch while the broker works:
up to `batches_in_flight` batches await their confirms at once. The cursor in PostgreSQL
advances strictly in order, past a batch only once the broker confirmed all of it and every
batch before it. Any failure drops the session; the next one republishes from the cursor.
Delivery is therefore at least once and consumers dedupe on `message_id` (the event id). The
order holds: all batches go through one channel, and a lost connection leaves a prefix of
what was sent on it enqueued, so a republished event only ever repeats earlier ones.

While a head it has seen waits for transactions to end, it re-checks every few milliseconds.
Idle, it sleeps on `LISTEN event_log` holding the RELAY_SLEEPING advisory lock, and
`append_event` notifies only when it finds that lock taken: a busy relay costs the appenders no
notification (PostgreSQL serializes notifying commits cluster-wide). It polls as a fallback.
A broker outage of any length only pauses it: it reconnects with backoff and resumes from the
cursor, so the events simply wait in the log. Only one relay per name runs: the others wait
on a PostgreSQL advisory lock held by a dedicated connection, so nothing is published twice
concurrently or out of order; a waiting relay is blocked in `pg_advisory_lock`, so it takes over
the moment the holder's session ends (bench/failover measures it).

This module is free of Django; the `run_relay` command builds a `RelayConfig` from settings.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import math
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

import aio_pika
import psycopg

from events.horizon import HEAD_SQL, RELAY_SLEEPING, RUNNING_SQL, Horizon, settle
from events.publisher import EventMessage, Publisher, PublishError
from events.topology import Topology, declare_topology
from observability.metrics import RELAY_LAG, RELAY_PUBLISHED

logger = logging.getLogger(__name__)

NOTIFY_CHANNEL = "event_log"
MAX_BACKOFF_SECONDS = 30.0
# While a head waits for appenders to end (they do not notify an awake relay), re-check after
# 5 ms, doubling up to 50 ms: at most 20 small queries a second, at most 50 ms late.
SETTLE_FIRST_WAIT_SECONDS = 0.005
SETTLE_MAX_WAIT_SECONDS = 0.05
MAX_PENDING_HORIZONS = 64
# Under load a cycle (read, publish, await the confirms, advance the cursor) starts at most this
# often: each costs ~10 round trips to PostgreSQL whatever its size, and at a few hundred writes
# a second an unpaced relay ran one per event or two (bench/writes/RESULTS.md). A first event
# after a quiet spell goes out at once; under load an event waits at most this long more.
CYCLE_SECONDS = 0.05
BROKER_ERRORS = (
    aio_pika.exceptions.AMQPError,
    aio_pika.exceptions.ChannelInvalidStateError,
    PublishError,
    ConnectionError,
    OSError,
    asyncio.TimeoutError,
)

# Appends take no lock (events/append.py), so T1 may take position 41, T2 take 42 and commit
# first; a relay reading `position > cursor` alone would publish 42, move past 41 and lose it
# when T1 commits. It reads only up to the stable head (`upto`, events/horizon.py), below which
# every position is final, so the cursor never passes an event that can still commit and the
# events go out in position order, which per aggregate is commit order. tests/integration/
# pipeline holds T1 open and checks that T2 waits for it.
#
# The body is the EventEnvelope JSON, built by PostgreSQL: no per-row parse and re-serialise
# of the payload in Python (events/tests/test_relay.py checks consumers parse it exactly like
# `EventEnvelope.model_dump_json()`). The timestamp property is whole seconds, truncated.
READ_BATCH_SQL = """
    SELECT position, event_id::text, type, floor(extract(epoch FROM occurred_at))::bigint,
           json_build_object(
               'event_id', event_id, 'position', position, 'type', type, 'version', version,
               'aggregate_type', aggregate_type, 'aggregate_id', aggregate_id,
               'actor_id', actor_id, 'occurred_at', occurred_at, 'payload', payload
           )::text,
           request_id
    FROM event_log
    WHERE position > %(cursor)s AND position <= %(upto)s
    ORDER BY position
    LIMIT %(limit)s
"""

LAG_SQL = """
    SELECT coalesce((SELECT max(position) FROM event_log), 0) AS head,
           (SELECT count(*) FROM event_log WHERE position > %(cursor)s) AS behind,
           (SELECT min(occurred_at) FROM event_log WHERE position > %(cursor)s) AS oldest
"""


@dataclass(frozen=True)
class RelayConfig:
    """Where to read, where to publish, and how."""

    conninfo: str
    amqp_url: str
    topology: Topology
    name: str = "main"
    batch_size: int = 500
    batches_in_flight: int = 4
    poll_seconds: float = 1.0
    cycle_seconds: float = CYCLE_SECONDS


@dataclass(frozen=True)
class RelayLag:
    """How far the relay is behind the log head."""

    cursor: int
    head: int
    behind: int
    oldest_unpublished_age_seconds: float | None


def advisory_lock_key(name: str) -> int:
    """A stable signed 64-bit key for `pg_advisory_lock`, derived from the relay name."""
    digest = hashlib.sha256(f"innotter.relay:{name}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


async def read_cursor(conn: psycopg.AsyncConnection[Any], name: str) -> int:
    """The relay's cursor, creating the row at 0 the first time (one SELECT once it exists)."""
    select = "SELECT position FROM event_relay_cursor WHERE name = %s"
    row = await (await conn.execute(select, [name])).fetchone()
    if row is None:
        await conn.execute(
            "INSERT INTO event_relay_cursor (name, position, updated_at) VALUES (%s, 0, now())"
            " ON CONFLICT (name) DO NOTHING",
            [name],
        )
        row = await (await conn.execute(select, [name])).fetchone()
    assert row is not None
    return int(row[0])


class CursorMovedError(RuntimeError):
    """Someone else set the cursor (an operator replaying the log): resume from where they put it."""


async def advance_cursor(conn: psycopg.AsyncConnection[Any], name: str, old: int, new: int) -> None:
    """Move the cursor from `old` to `new`; refuses if someone else moved it (compare-and-set)."""
    cur = await conn.execute(
        "UPDATE event_relay_cursor SET position = %s, updated_at = now() WHERE name = %s AND position = %s",
        [new, name, old],
    )
    if cur.rowcount != 1:
        raise CursorMovedError(f"relay cursor {name!r} moved under us (expected {old})")


async def read_batch(
    conn: psycopg.AsyncConnection[Any], after: int, upto: int, limit: int
) -> list[EventMessage]:
    """The broker messages of the next `limit` events in (`after`, `upto`], in log order."""
    cur = await conn.execute(READ_BATCH_SQL, {"cursor": after, "upto": upto, "limit": limit})
    return [
        EventMessage(body.encode(), event_id, type_, timestamp, position, request_id)
        for position, event_id, type_, timestamp, body, request_id in await cur.fetchall()
    ]


async def read_horizon(conn: psycopg.AsyncConnection[Any]) -> Horizon:
    """The last position handed out, then the transactions running (two statements, in that order)."""
    row = await (await conn.execute(HEAD_SQL)).fetchone()
    assert row is not None
    head = int(row[0])
    row = await (await conn.execute(RUNNING_SQL)).fetchone()
    assert row is not None
    return Horizon(head, frozenset(row[0]))


class StableHead:
    """The relay's view of the stable head: the horizons it has seen and which of them settled."""

    def __init__(self) -> None:
        self.position = 0
        self.pending: list[Horizon] = []
        self.log_head = 0  # the last position handed out, as last seen (for the lag metric)

    async def refresh(self, conn: psycopg.AsyncConnection[Any]) -> bool:
        """Look again (a horizon now, and which earlier ones settled); True if the head moved."""
        horizon = await read_horizon(conn)
        self.log_head = max(self.log_head, horizon.head)
        newest = self.pending[-1].head if self.pending else self.position
        if horizon.head > newest and len(self.pending) < MAX_PENDING_HORIZONS:
            self.pending.append(horizon)
        position, self.pending = settle(self.position, self.pending, horizon.running)
        moved, self.position = position > self.position, position
        return moved


async def relay_lag(conn: psycopg.AsyncConnection[Any], name: str) -> RelayLag:
    """Events behind the head and the age of the oldest unpublished one."""
    cursor = await read_cursor(conn, name)
    cur = await conn.execute(LAG_SQL, {"cursor": cursor})
    row = await cur.fetchone()
    assert row is not None
    head, behind, oldest = row
    age = (datetime.now(UTC) - oldest).total_seconds() if oldest is not None else None
    return RelayLag(cursor=cursor, head=int(head), behind=int(behind), oldest_unpublished_age_seconds=age)


class BatchPublisher(Protocol):
    """What the relay needs of a publisher (`events.publisher.Publisher`)."""

    def publish(self, exchange: str, messages: Sequence[EventMessage]) -> asyncio.Future[None]: ...


@dataclass(frozen=True)
class InFlight:
    """A published batch awaiting its confirms."""

    last_position: int
    size: int
    confirmed: asyncio.Future[None]
    request_ids: tuple[str, ...] = ()  # of its events, each once, for the log


def request_ids_of(messages: Sequence[EventMessage]) -> tuple[str, ...]:
    """The request ids of a batch's events, each once, in order (none unless INFO is logged)."""
    if not logger.isEnabledFor(logging.INFO):
        return ()
    return tuple(dict.fromkeys(m.request_id for m in messages if m.request_id is not None))


def log_published(batch: InFlight) -> None:
    """One line per confirmed batch: how many events, up to where, and the requests they came from."""
    logger.info(
        "%d event%s published up to position %d",
        batch.size,
        "" if batch.size == 1 else "s",
        batch.last_position,
        extra={"last_position": batch.last_position, "request_ids": list(batch.request_ids)},
    )


class Relay:
    """One relay process: lock, then publish batches forever (until `stop()`)."""

    def __init__(self, config: RelayConfig) -> None:
        self.config = config
        self._stopping = asyncio.Event()
        self._wakeup = asyncio.Event()
        self._stable = StableHead()
        self._settle_wait = SETTLE_FIRST_WAIT_SECONDS
        self.published = 0

    def stop(self) -> None:
        self._stopping.set()
        self._wakeup.set()

    async def run(self) -> None:
        """Hold the advisory lock and relay until stopped."""
        lock_conn = await psycopg.AsyncConnection.connect(self.config.conninfo, autocommit=True)
        try:
            await self._acquire_lock(lock_conn)
            if self._stopping.is_set():
                return
            listen_task = asyncio.create_task(self._listen())
            try:
                await self._relay_until_stopped(lock_conn)
            finally:
                listen_task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await listen_task
        finally:
            await lock_conn.close()

    async def _acquire_lock(self, lock_conn: psycopg.AsyncConnection[Any]) -> None:
        """Take the lock, or stand by blocked in `pg_advisory_lock` until the holder's session
        ends (a SIGKILLed holder's connection closes at once), or until stopped."""
        key = advisory_lock_key(self.config.name)
        row = await (await lock_conn.execute("SELECT pg_try_advisory_lock(%s)", [key])).fetchone()
        if not (row and row[0]):
            logger.info("relay %s: another relay holds the lock; waiting", self.config.name)
            waiting = asyncio.ensure_future(lock_conn.execute("SELECT pg_advisory_lock(%s)", [key]))
            stopping = asyncio.ensure_future(self._stopping.wait())
            await asyncio.wait([waiting, stopping], return_when=asyncio.FIRST_COMPLETED)
            stopping.cancel()
            if not waiting.done():  # stopped: psycopg cancels the waiting query on the server
                waiting.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await waiting
                return
            await waiting
        logger.info("relay %s: lock acquired", self.config.name)

    async def _listen(self) -> None:
        """Set the wake-up flag on every NOTIFY; reconnect quietly if the connection drops."""
        while not self._stopping.is_set():
            try:
                conn = await psycopg.AsyncConnection.connect(self.config.conninfo, autocommit=True)
                async with conn:
                    await conn.execute(f"LISTEN {NOTIFY_CHANNEL}")
                    async for _ in conn.notifies():
                        self._wakeup.set()
            except psycopg.Error as exc:
                logger.warning("relay listen connection lost: %s", exc)
                await self._sleep(self.config.poll_seconds)

    async def _relay_until_stopped(self, lock_conn: psycopg.AsyncConnection[Any]) -> None:
        backoff = 0.5
        while not self._stopping.is_set():
            try:
                await self._relay_session(lock_conn)
                backoff = 0.5
            except CursorMovedError as exc:
                logger.warning("relay: %s; resuming from it", exc)
            except BROKER_ERRORS as exc:
                logger.warning("relay: broker unavailable (%s); retrying in %.1fs", exc, backoff)
                await self._sleep(backoff)
                backoff = min(backoff * 2, MAX_BACKOFF_SECONDS)

    async def _relay_session(self, lock_conn: psycopg.AsyncConnection[Any]) -> None:
        """One broker connection's life: declare, then publish batches until stop or failure."""
        await declare_topology(self.config.amqp_url, self.config.topology)
        async with (
            await Publisher.connect(self.config.amqp_url) as publisher,
            await psycopg.AsyncConnection.connect(self.config.conninfo, autocommit=True) as data,
        ):
            logger.info(
                "relay %s: connected, publishing to %s", self.config.name, self.config.topology.exchange
            )
            await self._publish_until_stopped(data, lock_conn, publisher)

    async def _publish_until_stopped(
        self,
        data: psycopg.AsyncConnection[Any],
        lock_conn: psycopg.AsyncConnection[Any],
        publisher: BatchPublisher,
    ) -> None:
        """Keep the window of batches in flight full; advance the cursor as the oldest are confirmed."""
        self._stable = StableHead()
        cursor = 0
        in_flight: deque[InFlight] = deque()
        loop = asyncio.get_running_loop()
        started = -math.inf
        while True:
            if (pause := started + self.config.cycle_seconds - loop.time()) > 0:
                await self._sleep(pause)
            started = loop.time()
            if not in_flight:  # between bursts, honour a cursor an operator set back to replay
                cursor = await read_cursor(data, self.config.name)
            await self._fill_window(
                data, publisher, in_flight, after=in_flight[-1].last_position if in_flight else cursor
            )
            if in_flight:
                cursor = await self._advance_confirmed(data, lock_conn, cursor, in_flight)
                self._report_lag(cursor)
            elif self._stopping.is_set():
                return
            else:
                # Caught up: nothing is left unpublished below the stable head (rolled-back
                # appends leave holes in the positions, which the cursor never lands on).
                self._report_lag(max(cursor, self._stable.position))
                await self._wait_for_events(data)
                started = -math.inf  # woken after a quiet spell: read at once

    def _report_lag(self, published: int) -> None:
        RELAY_LAG.set(max(0, self._stable.log_head - published))

    async def _fill_window(
        self,
        data: psycopg.AsyncConnection[Any],
        publisher: BatchPublisher,
        in_flight: deque[InFlight],
        after: int,
    ) -> None:
        """Publish batches after position `after` until the window is full or the stable head is reached."""
        while not self._stopping.is_set() and len(in_flight) < self.config.batches_in_flight:
            self._wakeup.clear()
            messages = []
            if after < self._stable.position:
                messages = await read_batch(data, after, self._stable.position, self.config.batch_size)
            if messages:
                after = messages[-1].position
                confirmed = publisher.publish(self.config.topology.exchange, messages)
                in_flight.append(InFlight(after, len(messages), confirmed, request_ids_of(messages)))
            if len(messages) == self.config.batch_size:
                continue
            if not await self._stable.refresh(data):  # read up to the stable head: has it moved?
                return
            self._settle_wait = SETTLE_FIRST_WAIT_SECONDS

    async def _advance_confirmed(
        self,
        data: psycopg.AsyncConnection[Any],
        lock_conn: psycopg.AsyncConnection[Any],
        cursor: int,
        in_flight: deque[InFlight],
    ) -> int:
        """Await the oldest batch, then move the cursor past every leading confirmed batch."""
        await in_flight[0].confirmed
        position, confirmed = cursor, 0
        while in_flight and in_flight[0].confirmed.done():
            batch = in_flight.popleft()
            batch.confirmed.result()  # a failed later batch raises here, before the cursor moves
            position, confirmed = batch.last_position, confirmed + batch.size
            log_published(batch)
        # Still the lock holder? (If its connection died, another relay may have taken over.)
        await lock_conn.execute("SELECT 1")
        await advance_cursor(data, self.config.name, cursor, position)
        self.published += confirmed
        RELAY_PUBLISHED.inc(confirmed)
        return position

    async def _wait_for_events(self, data: psycopg.AsyncConnection[Any]) -> None:
        """Soon (then less and less soon) while a head waits to settle; else sleep until notified."""
        if not self._stable.pending and await self._sleep_until_notified(data):
            return
        timeout = min(self._settle_wait, self.config.poll_seconds)
        self._settle_wait = min(self._settle_wait * 2, SETTLE_MAX_WAIT_SECONDS)
        await self._wait(timeout)

    async def _sleep_until_notified(self, data: psycopg.AsyncConnection[Any]) -> bool:
        """Sleep until a NOTIFY or the poll, unless an appender is at work; False if it did not sleep.

        Appenders notify only while this holds RELAY_SLEEPING. One that found it free holds it
        shared until its commit, so taking it exclusively fails until then; once taken, a last
        look catches whatever committed before.
        """
        row = await (await data.execute("SELECT pg_try_advisory_lock(%s, %s)", RELAY_SLEEPING)).fetchone()
        if not (row and row[0]):
            return False
        try:
            if await self._stable.refresh(data) or self._stable.pending:
                self._settle_wait = SETTLE_FIRST_WAIT_SECONDS
                return True  # something arrived: back to reading at once
            await self._wait(self.config.poll_seconds)
            return True
        finally:
            await data.execute("SELECT pg_advisory_unlock(%s, %s)", RELAY_SLEEPING)

    async def _wait(self, seconds: float) -> None:
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self._wakeup.wait(), timeout=seconds)

    async def _sleep(self, seconds: float) -> None:
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), timeout=seconds)


async def run_forever(config: RelayConfig, relay: Relay | None = None) -> None:
    """Run a relay, restarting it (and re-taking the lock) after a database failure."""
    relay = relay or Relay(config)
    backoff = 0.5
    while not relay._stopping.is_set():
        try:
            await relay.run()
        except psycopg.OperationalError as exc:
            logger.warning("relay: database unavailable (%s); retrying in %.1fs", exc, backoff)
            await relay._sleep(backoff)
            backoff = min(backoff * 2, MAX_BACKOFF_SECONDS)
