from __future__ import annotations

import asyncio
import io
import itertools
import json
import time
import uuid
from collections import deque
from collections.abc import Sequence
from datetime import UTC, datetime

import psycopg
import pytest
from django.core.management import call_command
from django.db import transaction

from events.append import append_event, to_envelope
from events.contracts import EventEnvelope, PostLiked
from events.management.config import conninfo_from_settings
from events.models import RelayCursor, StoredEvent
from events.publisher import EventMessage
from events.relay import (
    CursorMovedError,
    InFlight,
    Relay,
    RelayConfig,
    advance_cursor,
    advisory_lock_key,
    read_batch,
    read_cursor,
    relay_lag,
    request_ids_of,
)
from events.topology import Topology, topology_from_env

pytestmark = pytest.mark.django_db(transaction=True)


def append(n: int) -> list:
    with transaction.atomic():
        return [
            append_event(PostLiked(post_id=i, page_id=2, page_owner_id=3, user_id=4), actor_id=4)
            for i in range(n)
        ]


def config(name: str = "unit", **options) -> RelayConfig:
    return RelayConfig(
        conninfo=conninfo_from_settings(), amqp_url="amqp://unused", topology=Topology(), name=name, **options
    )


def test_lock_key_is_stable_per_name() -> None:
    assert advisory_lock_key("main") == advisory_lock_key("main") != advisory_lock_key("other")
    assert -(2**63) <= advisory_lock_key("main") < 2**63


def stored(position: int, payload: dict, actor_id: int | None = 4, request_id: str | None = None):
    return StoredEvent.objects.create(
        position=position,
        event_id=uuid.uuid4(),
        type="post.liked",
        version=1,
        aggregate_type="post",
        aggregate_id="1",
        actor_id=actor_id,
        occurred_at=datetime(2026, 1, 1, 12, 30, 15, 999_000, tzinfo=UTC),
        payload=payload,
        request_id=request_id,
    )


def test_message_bodies_parse_exactly_like_the_pydantic_envelope() -> None:
    """The body PostgreSQL builds is what `EventEnvelope.model_dump_json()` would say, to every consumer."""
    events = [
        stored(1, {"post_id": 1, "page_id": 2, "page_owner_id": 3, "user_id": 4}),
        stored(2, {"text": 'naïve “quotes” \\ "\n\t ✓ 😀', "nested": {"list": [1, 2.5, None, True]}}, None),
        stored(3, {"big": 2**62, "negative": -7, "float": 0.1, "empty": {}}),
    ]
    messages = asyncio.run(_with_conn(lambda conn: read_batch(conn, 0, 10**9, 10)))
    assert [m.position for m in messages] == [1, 2, 3]
    for event, message in zip(events, messages, strict=True):
        expected = to_envelope(StoredEvent.objects.get(pk=event.pk))
        from_pydantic = EventEnvelope.model_validate_json(expected.model_dump_json())
        assert EventEnvelope.model_validate_json(message.body) == from_pydantic
        assert (message.message_id, message.type) == (str(event.event_id), "post.liked")
        assert message.timestamp == int(event.occurred_at.timestamp())  # whole seconds, like aio-pika


def test_messages_carry_the_request_id_of_their_event_and_the_envelope_stays_as_it_was() -> None:
    payload = {"post_id": 1, "page_id": 2, "page_owner_id": 3, "user_id": 4}
    stored(1, payload, request_id="req-1")
    stored(2, payload)
    with_id, without = asyncio.run(_with_conn(lambda conn: read_batch(conn, 0, 10**9, 10)))
    assert (with_id.request_id, without.request_id) == ("req-1", None)
    assert "request_id" not in json.loads(with_id.body)  # the contract (extra="forbid") is unchanged


def test_a_confirmed_batch_is_logged_once_with_its_request_ids(caplog) -> None:
    relay = Relay(config())

    async def scenario(data, lock):
        confirmed = asyncio.get_running_loop().create_future()
        confirmed.set_result(None)
        batch = InFlight(7, 3, confirmed, ("req-a", "req-b"))
        with caplog.at_level("INFO", logger="events.relay"):
            await relay._advance_confirmed(data, lock, 0, deque([batch]))

    append(1)
    RelayCursor.objects.create(name="unit", position=0)
    asyncio.run(_with_conns(scenario))
    [line] = [r for r in caplog.records if r.name == "events.relay"]
    assert line.getMessage() == "3 events published up to position 7"
    assert line.request_ids == ["req-a", "req-b"]


def test_a_batchs_request_ids_are_listed_once_each_in_order() -> None:
    def msg(position: int, request_id: str | None) -> EventMessage:
        return EventMessage(b"{}", "id", "post.liked", 0, position, request_id)

    batch = [msg(1, "b"), msg(2, None), msg(3, "a"), msg(4, "b")]
    assert request_ids_of(batch) == ("b", "a")


def test_topology_names_from_the_environment() -> None:
    topology = topology_from_env(
        {"EVENTS_EXCHANGE": "x", "EVENTS_QUEUE_STATS": "s", "EVENTS_MAX_DELIVERIES": "3"}
    )
    assert (topology.exchange, topology.stats_queue, topology.projections_queue) == (
        "x",
        "s",
        "projections.events",
    )
    args = topology.queue_arguments("s")
    assert args["x-queue-type"] == "quorum" and args["x-delivery-limit"] == 3
    assert args["x-dead-letter-routing-key"] == "s" and topology.dead_letter_queue("s") == "s.dead"
    prefixed = Topology.with_prefix("t-1", max_deliveries=2)
    assert (prefixed.exchange, prefixed.queues, prefixed.dead_letter_exchange, prefixed.max_deliveries) == (
        "t-1.events",
        ("t-1.projections", "t-1.stats"),
        "t-1.dead",
        2,
    )


async def _with_conn(fn):
    async with await psycopg.AsyncConnection.connect(conninfo_from_settings(), autocommit=True) as conn:
        return await fn(conn)


def test_cursor_is_created_at_zero_and_moves_only_from_the_expected_position() -> None:
    async def scenario(conn):
        assert await read_cursor(conn, "unit") == 0
        await advance_cursor(conn, "unit", 0, 5)
        with pytest.raises(CursorMovedError):
            await advance_cursor(conn, "unit", 0, 9)
        return await read_cursor(conn, "unit")

    assert asyncio.run(_with_conn(scenario)) == 5


def test_lag_counts_unpublished_events_and_their_age() -> None:
    events = append(3)
    RelayCursor.objects.create(name="unit", position=events[0].position)
    lag = asyncio.run(_with_conn(lambda conn: relay_lag(conn, "unit")))
    assert (lag.behind, lag.head, lag.cursor) == (2, events[-1].position, events[0].position)
    assert lag.oldest_unpublished_age_seconds is not None and lag.oldest_unpublished_age_seconds >= 0


def test_relay_status_prints_the_lag_as_json(settings) -> None:
    events = append(2)
    settings.RELAY_NAME = "unit"
    RelayCursor.objects.create(name="unit", position=events[-1].position)
    out = io.StringIO()
    call_command("relay_status", stdout=out)
    assert json.loads(out.getvalue()) == {
        "relay": "unit",
        "cursor": events[-1].position,
        "head": events[-1].position,
        "behind": 0,
        "oldest_unpublished_age_seconds": None,
    }


class FakePublisher:
    """Records the batches; each confirm is a future the test resolves (or confirms at once)."""

    def __init__(self, confirm_at_once: bool = False, on_publish=None) -> None:
        self.batches: list[list[int]] = []
        self.confirms: list[asyncio.Future[None]] = []
        self.confirm_at_once = confirm_at_once
        self.on_publish = on_publish

    def publish(self, exchange: str, messages: Sequence[EventMessage]) -> asyncio.Future[None]:
        self.batches.append([m.position for m in messages])
        confirmed = asyncio.get_running_loop().create_future()
        if self.confirm_at_once:
            confirmed.set_result(None)
        self.confirms.append(confirmed)
        if self.on_publish:
            self.on_publish(self)
        return confirmed


async def _with_conns(fn):
    async with (
        await psycopg.AsyncConnection.connect(conninfo_from_settings(), autocommit=True) as data,
        await psycopg.AsyncConnection.connect(conninfo_from_settings(), autocommit=True) as lock,
    ):
        return await fn(data, lock)


def test_the_log_is_published_in_order_in_batches_and_the_cursor_follows() -> None:
    events = append(5)
    relay = Relay(config(batch_size=2, batches_in_flight=2))
    # Stop once the last event went out: the relay still awaits the batches in flight.
    publisher = FakePublisher(confirm_at_once=True, on_publish=lambda p: len(p.batches) == 3 and relay.stop())
    asyncio.run(_with_conns(lambda data, lock: relay._publish_until_stopped(data, lock, publisher)))
    positions = [e.position for e in events]
    assert publisher.batches == [positions[0:2], positions[2:4], positions[4:5]]
    assert RelayCursor.objects.get(name="unit").position == positions[-1] and relay.published == 5


def test_under_load_cycles_start_at_most_once_per_cycle_seconds() -> None:
    events = append(3)
    # One batch of one event per cycle: each cycle must wait for the previous one's spacing.
    relay = Relay(config(batch_size=1, batches_in_flight=1, cycle_seconds=0.2))
    times: list[float] = []

    def record(p: FakePublisher) -> None:
        times.append(time.monotonic())
        if len(p.batches) == 3:
            relay.stop()

    publisher = FakePublisher(confirm_at_once=True, on_publish=record)
    asyncio.run(_with_conns(lambda data, lock: relay._publish_until_stopped(data, lock, publisher)))
    assert publisher.batches == [[e.position] for e in events]
    # (Measured from publish to publish: a cycle's reads before its publish vary by a few ms.)
    assert [b - a > 0.15 for a, b in itertools.pairwise(times)] == [True, True]


def test_the_window_bounds_the_batches_awaiting_confirms() -> None:
    append(4)
    relay = Relay(config(batch_size=1, batches_in_flight=2))
    publisher = FakePublisher()

    async def scenario(data, lock):
        running = asyncio.create_task(relay._publish_until_stopped(data, lock, publisher))
        done, _ = await asyncio.wait([running], timeout=0.3)  # nothing to await: it must stay blocked
        assert not done and len(publisher.batches) == 2
        relay.stop()
        for confirmed in publisher.confirms:
            confirmed.set_result(None)
        await running

    asyncio.run(_with_conns(scenario))
    assert len(publisher.batches) == 2 and relay.published == 2


def test_the_cursor_advances_only_past_batches_confirmed_in_order() -> None:
    p1, p2, p3 = [e.position for e in append(3)]
    relay = Relay(config())

    async def scenario(data, lock):
        loop = asyncio.get_running_loop()
        first, second, third = (loop.create_future() for _ in range(3))
        in_flight = deque([InFlight(p1, 1, first), InFlight(p2, 1, second), InFlight(p3, 1, third)])
        second.set_result(None)  # confirmed before the batch ahead of it
        advancing = asyncio.create_task(relay._advance_confirmed(data, lock, 0, in_flight))
        done, _ = await asyncio.wait([advancing], timeout=0.3)
        assert not done and await read_cursor(data, "unit") == 0
        first.set_result(None)
        assert await advancing == p2 and await read_cursor(data, "unit") == p2
        third.set_exception(ConnectionError("broker gone"))
        with pytest.raises(ConnectionError):
            await relay._advance_confirmed(data, lock, p2, in_flight)
        return await read_cursor(data, "unit")

    assert asyncio.run(_with_conns(scenario)) == p2
    assert relay.published == 2


def test_a_cursor_set_back_by_an_operator_is_resumed_from() -> None:
    p1, p2 = [e.position for e in append(2)]
    RelayCursor.objects.create(name="unit", position=p1)
    relay = Relay(config(batch_size=10))

    def replay_from_the_start(publisher: FakePublisher) -> None:
        with psycopg.connect(conninfo_from_settings(), autocommit=True) as conn:
            conn.execute("UPDATE event_relay_cursor SET position = 0 WHERE name = 'unit'")

    first = FakePublisher(confirm_at_once=True, on_publish=replay_from_the_start)
    with pytest.raises(CursorMovedError):
        asyncio.run(_with_conns(lambda data, lock: relay._publish_until_stopped(data, lock, first)))
    assert first.batches == [[p2]] and RelayCursor.objects.get(name="unit").position == 0
    again = FakePublisher(confirm_at_once=True, on_publish=lambda p: relay.stop())
    asyncio.run(_with_conns(lambda data, lock: relay._publish_until_stopped(data, lock, again)))
    assert again.batches == [[p1, p2]] and RelayCursor.objects.get(name="unit").position == p2


async def advisory_locks(conn, *, of, granted: bool) -> int:
    """Advisory locks the session of connection `of` holds (granted) or waits for."""
    sql = "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND pid = %s AND granted = %s"
    row = await (await conn.execute(sql, [of.info.backend_pid, granted])).fetchone()
    return int(row[0])


async def blocked_in_the_server(conn, standby) -> None:
    """Until the standby's session waits for the advisory lock (in pg_advisory_lock)."""
    for _ in range(500):
        if await advisory_locks(conn, of=standby, granted=False):
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the standby relay never waited for the lock")


def test_a_standby_relay_takes_the_lock_the_moment_the_holder_session_ends() -> None:
    # A poll far longer than the test: only the blocking wait can take over this fast.
    standby = Relay(config(name="standby", poll_seconds=60))

    async def scenario(data, lock):
        await data.execute("SELECT pg_advisory_lock(%s)", [advisory_lock_key("standby")])  # the holder
        waiting = asyncio.create_task(standby._acquire_lock(lock))
        await blocked_in_the_server(data, lock)
        assert not waiting.done(), "the standby must wait while the lock is held"
        await data.close()  # the holder's session ends (as when its process is SIGKILLed)
        started = asyncio.get_running_loop().time()
        await asyncio.wait_for(waiting, timeout=5)
        assert asyncio.get_running_loop().time() - started < 0.5
        assert await advisory_locks(lock, of=lock, granted=True) == 1

    asyncio.run(_with_conns(scenario))


def test_a_waiting_relay_stops_at_once_without_the_lock() -> None:
    standby = Relay(config(name="stopping", poll_seconds=60))

    async def scenario(data, lock):
        await data.execute("SELECT pg_advisory_lock(%s)", [advisory_lock_key("stopping")])
        waiting = asyncio.create_task(standby._acquire_lock(lock))
        await blocked_in_the_server(data, lock)
        standby.stop()
        await asyncio.wait_for(waiting, timeout=5)
        # the waiting query was cancelled: the connection is usable, waits for and holds nothing
        assert await advisory_locks(lock, of=lock, granted=False) == 0
        assert await advisory_locks(lock, of=lock, granted=True) == 0

    asyncio.run(_with_conns(scenario))
