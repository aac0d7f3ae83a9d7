from __future__ import annotations

import asyncio
import json
import uuid
from datetime import UTC, datetime
from unittest import mock

import psycopg
import pytest
from django.db import transaction

from events.append import append_event
from events.contracts import EventEnvelope, PostLiked
from events.management.config import conninfo_from_settings
from events.models import RelayCursor
from events.relay import (
    Relay,
    RelayConfig,
    advance_cursor,
    advisory_lock_key,
    build_message,
    publish_batch,
    read_cursor,
    relay_lag,
)
from events.topology import Topology, topology_from_env

pytestmark = pytest.mark.django_db(transaction=True)


def row(position: int = 7, type_: str = "post.liked") -> dict:
    return {
        "position": position,
        "event_id": uuid.uuid4(),
        "type": type_,
        "version": 1,
        "aggregate_type": "post",
        "aggregate_id": "1",
        "actor_id": 4,
        "occurred_at": datetime(2026, 1, 1, tzinfo=UTC),
        "payload": {"post_id": 1, "page_id": 2, "page_owner_id": 3, "user_id": 4},
    }


def append(n: int) -> list:
    with transaction.atomic():
        return [
            append_event(PostLiked(post_id=i, page_id=2, page_owner_id=3, user_id=4), actor_id=4)
            for i in range(n)
        ]


def config(name: str = "unit") -> RelayConfig:
    return RelayConfig(
        conninfo=conninfo_from_settings(), amqp_url="amqp://unused", topology=Topology(), name=name
    )


def test_lock_key_is_stable_per_name() -> None:
    assert advisory_lock_key("main") == advisory_lock_key("main") != advisory_lock_key("other")
    assert -(2**63) <= advisory_lock_key("main") < 2**63


def test_message_carries_the_envelope_and_its_identity() -> None:
    source = row()
    message = build_message(source)
    envelope = EventEnvelope.model_validate_json(message.body)
    assert envelope.event_id == source["event_id"] and envelope.position == 7
    assert message.message_id == str(source["event_id"])
    assert message.content_type == "application/json"
    assert message.delivery_mode == 2  # persistent
    assert message.type == "post.liked" and message.headers == {"position": 7}
    assert json.loads(message.body)["payload"]["user_id"] == 4


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


def test_publish_batch_is_mandatory_routed_by_type_and_in_order() -> None:
    exchange = mock.Mock()
    exchange.publish = mock.AsyncMock()
    rows = [row(1), row(2, "post.unliked"), row(3)]
    asyncio.run(publish_batch(exchange, rows))
    calls = exchange.publish.call_args_list
    assert [c.kwargs["routing_key"] for c in calls] == ["post.liked", "post.unliked", "post.liked"]
    assert all(c.kwargs["mandatory"] for c in calls)
    assert [c.args[0].headers["position"] for c in calls] == [1, 2, 3]


async def _with_conn(fn):
    async with await psycopg.AsyncConnection.connect(conninfo_from_settings(), autocommit=True) as conn:
        return await fn(conn)


def test_cursor_is_created_at_zero_and_moves_only_from_the_expected_position() -> None:
    async def scenario(conn):
        assert await read_cursor(conn, "unit") == 0
        await advance_cursor(conn, "unit", 0, 5)
        with pytest.raises(RuntimeError):
            await advance_cursor(conn, "unit", 0, 9)
        return await read_cursor(conn, "unit")

    assert asyncio.run(_with_conn(scenario)) == 5


def test_lag_counts_unpublished_events_and_their_age() -> None:
    events = append(3)
    RelayCursor.objects.create(name="unit", position=events[0].position)
    lag = asyncio.run(_with_conn(lambda conn: relay_lag(conn, "unit")))
    assert (lag.behind, lag.head, lag.cursor) == (2, events[-1].position, events[0].position)
    assert lag.oldest_unpublished_age_seconds is not None and lag.oldest_unpublished_age_seconds >= 0


def test_a_batch_advances_the_cursor_only_after_the_broker_confirmed() -> None:
    events = append(3)
    relay = Relay(config())

    async def scenario(failing: bool):
        exchange = mock.Mock()
        exchange.publish = mock.AsyncMock(side_effect=ConnectionError("broker gone") if failing else None)
        async with (
            await psycopg.AsyncConnection.connect(conninfo_from_settings(), autocommit=True) as data,
            await psycopg.AsyncConnection.connect(conninfo_from_settings(), autocommit=True) as lock,
        ):
            return await relay._relay_one_batch(data, lock, exchange), exchange.publish.await_count

    with pytest.raises(ConnectionError):
        asyncio.run(scenario(failing=True))
    assert RelayCursor.objects.get(name="unit").position == 0
    assert asyncio.run(scenario(failing=False)) == (True, 3)
    assert RelayCursor.objects.get(name="unit").position == events[-1].position
    assert asyncio.run(scenario(failing=False)) == (False, 0)
