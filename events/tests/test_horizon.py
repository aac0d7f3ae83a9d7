from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Iterator

import psycopg
import pytest
from django.core.management import call_command
from django.db import connection, transaction
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from events.append import NOTIFY_CHANNEL, NOTIFY_IF_RELAY_SLEEPS_SQL, append_event
from events.contracts import PostLiked
from events.horizon import APPEND_LOCK, Horizon, settle, stable_head
from events.management.config import conninfo_from_settings
from events.relay import InFlight, Relay, RelayConfig, StableHead, read_horizon
from events.topology import Topology

INSERT_SQL = """
    INSERT INTO event_log (event_id, type, version, aggregate_type, aggregate_id, actor_id, payload,
                           occurred_at, is_moderation)
    VALUES (gen_random_uuid(), 'post.liked', 1, 'post', '1', 1,
            '{"post_id": 1, "page_id": 1, "page_owner_id": 1, "user_id": 1}', now(), false)
    RETURNING position
"""


def h(head: int, *running: str) -> Horizon:
    return Horizon(head, frozenset(running))


def test_a_head_with_nothing_running_is_stable_at_once() -> None:
    assert settle(0, [h(7)], frozenset()) == (7, [])


def test_a_head_waits_for_the_appenders_running_when_it_was_read() -> None:
    pending = [h(7, "3/100", "4/101")]
    assert settle(0, pending, frozenset({"4/101", "5/9"})) == (0, pending)
    assert settle(0, pending, frozenset({"5/9"})) == (7, [])


def test_a_later_head_that_settles_first_settles_the_earlier_ones() -> None:
    pending = [h(5, "3/100"), h(9, "4/101"), h(12, "4/101", "6/2")]
    assert settle(3, pending, frozenset({"3/100", "6/2"})) == (9, [h(12, "4/101", "6/2")])


def test_the_stable_position_never_goes_back() -> None:
    assert settle(20, [h(9)], frozenset()) == (20, [])


def _connect(**options) -> psycopg.Connection:
    return psycopg.connect(conninfo_from_settings(), **options)


VXID_SQL = "SELECT virtualtransaction FROM pg_locks WHERE pid = pg_backend_pid() AND locktype = 'virtualxid'"


@pytest.fixture
def open_appender() -> Iterator[tuple[psycopg.Connection, int, str]]:
    """A transaction that took a position and has not committed: (connection, position, its id)."""
    conn = _connect()
    position = conn.execute(INSERT_SQL).fetchone()[0]  # type: ignore[index]
    vxid = conn.execute(VXID_SQL).fetchone()[0]  # type: ignore[index]
    yield conn, position, vxid
    conn.close()


def _commit_one() -> int:
    with _connect(autocommit=True) as conn:
        return int(conn.execute(INSERT_SQL).fetchone()[0])  # type: ignore[index]


async def _async(fn):
    async with await psycopg.AsyncConnection.connect(conninfo_from_settings(), autocommit=True) as conn:
        return await fn(conn)


APPEND_LOCK_HELD_SQL = (
    "SELECT count(*) FROM pg_locks WHERE pid = pg_backend_pid() AND locktype = 'advisory'"
    f" AND classid = {APPEND_LOCK[0]} AND objid = {APPEND_LOCK[1]} AND objsubid = 2"
)


@pytest.mark.django_db(transaction=True)
def test_taking_a_position_marks_the_transaction_as_appending_until_it_ends() -> None:
    with _connect() as conn:
        assert conn.execute(APPEND_LOCK_HELD_SQL).fetchone() == (0,)
        conn.execute("SELECT event_log_next_position()")
        assert conn.execute(APPEND_LOCK_HELD_SQL).fetchone() == (1,)
        conn.commit()
        assert conn.execute(APPEND_LOCK_HELD_SQL).fetchone() == (0,)


@pytest.mark.django_db(transaction=True)
def test_the_stable_head_stays_below_an_uncommitted_position(open_appender) -> None:
    conn, held, vxid = open_appender
    later = _commit_one()
    stable = StableHead()

    async def look(db):
        await stable.refresh(db)
        return stable.position

    horizon = asyncio.run(_async(read_horizon))
    assert horizon.head >= later > held and horizon.running == {vxid}
    assert asyncio.run(_async(look)) < held and stable.pending
    conn.commit()
    assert asyncio.run(_async(look)) >= later and stable.pending == []


@pytest.mark.django_db(transaction=True)
def test_the_relay_publishes_nothing_past_an_open_transaction_then_both_in_order(open_appender) -> None:
    conn, held, _ = open_appender
    later = _commit_one()
    relay = Relay(
        RelayConfig(conninfo=conninfo_from_settings(), amqp_url="amqp://unused", topology=Topology())
    )
    published: list[list[int]] = []

    class Publisher:
        def publish(self, exchange, messages):
            published.append([m.position for m in messages])
            future = asyncio.get_running_loop().create_future()
            future.set_result(None)
            return future

    in_flight: deque[InFlight] = deque()
    fill = lambda db: relay._fill_window(db, Publisher(), in_flight, after=0)  # noqa: E731
    asyncio.run(_async(fill))
    assert published == [] and relay._stable.pending  # the later commit waits for the open one
    conn.commit()
    asyncio.run(_async(fill))
    assert published == [[held, later]]


@pytest.mark.django_db(transaction=True)
def test_stable_head_waits_for_the_open_transaction(open_appender) -> None:
    conn, held, _ = open_appender
    with connection.cursor() as cursor, pytest.raises(TimeoutError):
        stable_head(cursor, timeout=0.2)
    conn.commit()
    with connection.cursor() as cursor:
        assert stable_head(cursor, timeout=5) >= held


@pytest.mark.django_db(transaction=True)
def test_the_readers_own_transaction_does_not_hold_the_head_back() -> None:
    with transaction.atomic():
        event = append_event(PostLiked(post_id=1, page_id=1, page_owner_id=1, user_id=1), actor_id=None)
        with connection.cursor() as cursor:
            assert stable_head(cursor, timeout=5) >= event.position


@pytest.mark.django_db(transaction=True)
def test_a_long_transaction_that_appends_nothing_does_not_hold_the_head_back() -> None:
    with _connect() as writer:  # a rebuild, say: it writes, holds its transaction open, appends nothing
        writer.execute("INSERT INTO event_relay_cursor (name, position, updated_at) VALUES ('x', 0, now())")
        committed = _commit_one()
        stable = StableHead()
        asyncio.run(_async(stable.refresh))
        assert stable.position >= committed


@pytest.mark.django_db(transaction=True)
def test_an_appender_of_another_database_does_not_hold_the_head_back() -> None:
    other = make_conninfo(conninfo_from_settings(), dbname="postgres")
    assert conninfo_to_dict(other)["dbname"] != connection.settings_dict["NAME"]
    with psycopg.connect(other) as foreign:
        foreign.execute("SELECT pg_advisory_xact_lock_shared(%s, %s)", APPEND_LOCK)
        committed = _commit_one()
        horizon = asyncio.run(_async(read_horizon))
        assert horizon.running == frozenset()
        stable = StableHead()
        asyncio.run(_async(stable.refresh))
        assert stable.position >= committed


@pytest.mark.django_db(transaction=True)
def test_the_migration_keeps_an_existing_log_and_continues_its_positions() -> None:
    call_command("migrate", "events", "0002", verbosity=0)
    with _connect(autocommit=True) as conn:
        existing = [conn.execute(INSERT_SQL).fetchone()[0] for _ in range(3)]  # type: ignore[index]
        conn.execute("DELETE FROM event_log WHERE position = %s", [existing[-1]])  # a gap at the end
    call_command("migrate", "events", verbosity=0)
    with _connect(autocommit=True) as conn:
        assert [r[0] for r in conn.execute("SELECT position FROM event_log ORDER BY 1")] == existing[:2]
        assert _commit_one() == existing[-1] + 1  # where the identity stopped, not reusing the gap
        default = conn.execute(
            "SELECT column_default FROM information_schema.columns"
            " WHERE table_name = 'event_log' AND column_name = 'position'"
        ).fetchone()
        assert default == ("event_log_next_position()",)


@pytest.mark.django_db(transaction=True)
def test_the_relay_does_not_sleep_while_an_appender_found_it_awake() -> None:
    relay = Relay(
        RelayConfig(conninfo=conninfo_from_settings(), amqp_url="amqp://unused", topology=Topology())
    )
    with _connect() as appender:
        position = appender.execute(INSERT_SQL).fetchone()[0]  # type: ignore[index]
        appender.execute(NOTIFY_IF_RELAY_SLEEPS_SQL, [NOTIFY_CHANNEL])  # the relay is awake: no notify
        assert asyncio.run(_async(relay._sleep_until_notified)) is False
        appender.commit()
    # Now it may sleep, but its last look finds the event first and goes back to reading.
    assert asyncio.run(_async(relay._sleep_until_notified)) is True
    assert relay._stable.position >= position
