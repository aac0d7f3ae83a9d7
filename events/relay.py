"""The relay: publishes the committed event log to RabbitMQ, in commit order, at least once.

Loop: read up to `batch_size` events after the cursor, publish them all (persistent,
mandatory, publisher confirms), await every confirm, then advance the cursor in PostgreSQL.
A crash between publish and cursor update republishes the batch: delivery is at least once
and consumers dedupe on `message_id` (the event id).

It wakes on `LISTEN event_log` (`append_event` notifies at commit) and polls as a fallback.
A broker outage of any length only pauses it: it reconnects with backoff and resumes from the
cursor, so the events simply wait in the log. Only one relay per name runs: the others wait
on a PostgreSQL advisory lock held by a dedicated connection, so nothing is published twice
concurrently or out of order.

This module is free of Django; the `run_relay` command builds a `RelayConfig` from settings.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import aio_pika
import psycopg
from aio_pika.abc import AbstractExchange, AbstractRobustConnection
from psycopg.rows import dict_row

from events.contracts import EventEnvelope
from events.topology import Topology, declare_on_channel

logger = logging.getLogger(__name__)

NOTIFY_CHANNEL = "event_log"
MAX_BACKOFF_SECONDS = 30.0
BROKER_ERRORS = (
    aio_pika.exceptions.AMQPError,
    aio_pika.exceptions.ChannelInvalidStateError,
    ConnectionError,
    OSError,
    asyncio.TimeoutError,
)

# Position order is commit order (see events/append.py: every append takes
# `LOCK TABLE event_log IN EXCLUSIVE MODE` and holds it until commit). A transaction that took
# position N therefore commits before any transaction can take N+1, so once the relay sees N+1
# no event with a lower position can still appear: `position > cursor` never skips a late
# commit. (Without the lock, T1 could take 41, T2 take 42 and commit first; a relay reading
# 42 would advance past 41 and lose it when T1 commits. tests/integration/pipeline proves
# the lock closes that gap.)
READ_BATCH_SQL = """
    SELECT position, event_id, type, version, aggregate_type, aggregate_id, actor_id,
           occurred_at, payload
    FROM event_log
    WHERE position > %(cursor)s
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
    poll_seconds: float = 1.0


@dataclass(frozen=True)
class RelayLag:
    """How far the relay is behind the log head."""

    cursor: int
    head: int
    behind: int
    oldest_unpublished_age_seconds: float | None

    def as_dict(self) -> dict[str, Any]:
        return {
            "cursor": self.cursor,
            "head": self.head,
            "behind": self.behind,
            "oldest_unpublished_age_seconds": self.oldest_unpublished_age_seconds,
        }


def advisory_lock_key(name: str) -> int:
    """A stable signed 64-bit key for `pg_advisory_lock`, derived from the relay name."""
    digest = hashlib.sha256(f"innotter.relay:{name}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def build_message(row: dict[str, Any]) -> aio_pika.Message:
    """The broker message of one log row: body = EventEnvelope JSON, message_id = event id."""
    envelope = EventEnvelope.model_validate(row)
    return aio_pika.Message(
        body=envelope.model_dump_json().encode(),
        content_type="application/json",
        delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
        message_id=str(envelope.event_id),
        type=envelope.type,
        timestamp=envelope.occurred_at,
        headers={"position": envelope.position},
    )


async def read_cursor(conn: psycopg.AsyncConnection[Any], name: str) -> int:
    """The relay's cursor, creating the row at 0 the first time."""
    await conn.execute(
        "INSERT INTO event_relay_cursor (name, position, updated_at) VALUES (%s, 0, now())"
        " ON CONFLICT (name) DO NOTHING",
        [name],
    )
    cur = await conn.execute("SELECT position FROM event_relay_cursor WHERE name = %s", [name])
    row = await cur.fetchone()
    assert row is not None
    return int(row[0])


async def advance_cursor(conn: psycopg.AsyncConnection[Any], name: str, old: int, new: int) -> None:
    """Move the cursor from `old` to `new`; refuses if someone else moved it (compare-and-set)."""
    cur = await conn.execute(
        "UPDATE event_relay_cursor SET position = %s, updated_at = now() WHERE name = %s AND position = %s",
        [new, name, old],
    )
    if cur.rowcount != 1:
        raise RuntimeError(f"relay cursor {name!r} moved under us (expected {old})")


async def read_batch(conn: psycopg.AsyncConnection[Any], cursor: int, limit: int) -> list[dict[str, Any]]:
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(READ_BATCH_SQL, {"cursor": cursor, "limit": limit})
        return await cur.fetchall()


async def relay_lag(conn: psycopg.AsyncConnection[Any], name: str) -> RelayLag:
    """Events behind the head and the age of the oldest unpublished one."""
    cursor = await read_cursor(conn, name)
    cur = await conn.execute(LAG_SQL, {"cursor": cursor})
    row = await cur.fetchone()
    assert row is not None
    head, behind, oldest = row
    age = (datetime.now(UTC) - oldest).total_seconds() if oldest is not None else None
    return RelayLag(cursor=cursor, head=int(head), behind=int(behind), oldest_unpublished_age_seconds=age)


async def publish_batch(exchange: AbstractExchange, rows: Sequence[dict[str, Any]]) -> None:
    """Publish all rows, then await every confirm; any nack or return raises."""
    confirms = [exchange.publish(build_message(row), routing_key=row["type"], mandatory=True) for row in rows]
    await asyncio.gather(*confirms)


class Relay:
    """One relay process: lock, then publish batches forever (until `stop()`)."""

    def __init__(self, config: RelayConfig) -> None:
        self.config = config
        self._stopping = asyncio.Event()
        self._wakeup = asyncio.Event()
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
        key = advisory_lock_key(self.config.name)
        while not self._stopping.is_set():
            cur = await lock_conn.execute("SELECT pg_try_advisory_lock(%s)", [key])
            row = await cur.fetchone()
            if row and row[0]:
                logger.info("relay %s: lock acquired", self.config.name)
                return
            logger.info("relay %s: another relay holds the lock; waiting", self.config.name)
            await self._sleep(self.config.poll_seconds)

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
            except BROKER_ERRORS as exc:
                logger.warning("relay: broker unavailable (%s); retrying in %.1fs", exc, backoff)
                await self._sleep(backoff)
                backoff = min(backoff * 2, MAX_BACKOFF_SECONDS)

    async def _relay_session(self, lock_conn: psycopg.AsyncConnection[Any]) -> None:
        """One broker connection's life: declare, then publish batches until stop or failure."""
        connection: AbstractRobustConnection | aio_pika.abc.AbstractConnection
        connection = await aio_pika.connect(self.config.amqp_url, timeout=10)
        async with connection:
            channel = await connection.channel(publisher_confirms=True, on_return_raises=True)
            exchange = await declare_on_channel(channel, self.config.topology)
            logger.info("relay %s: connected, publishing to %s", self.config.name, exchange.name)
            async with await psycopg.AsyncConnection.connect(self.config.conninfo, autocommit=True) as data:
                while not self._stopping.is_set():
                    if not await self._relay_one_batch(data, lock_conn, exchange):
                        await self._wait_for_events()

    async def _relay_one_batch(
        self,
        data: psycopg.AsyncConnection[Any],
        lock_conn: psycopg.AsyncConnection[Any],
        exchange: AbstractExchange,
    ) -> bool:
        """Publish the next batch; False when there was nothing to publish."""
        self._wakeup.clear()
        cursor = await read_cursor(data, self.config.name)
        rows = await read_batch(data, cursor, self.config.batch_size)
        if not rows:
            return False
        started = time.monotonic()
        await publish_batch(exchange, rows)
        # Still the lock holder? (If its connection died, another relay may have taken over.)
        await lock_conn.execute("SELECT 1")
        await advance_cursor(data, self.config.name, cursor, rows[-1]["position"])
        self.published += len(rows)
        logger.debug("relay: %d events in %.3fs", len(rows), time.monotonic() - started)
        return True

    async def _wait_for_events(self) -> None:
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self._wakeup.wait(), timeout=self.config.poll_seconds)

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
