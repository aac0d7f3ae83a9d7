"""Relay throughput: append N events with SQL, then time one relay publishing them all with confirms.

Usage (its own database, created by bench/feed/run.py or any migrated one):
    POSTGRES_DB=innotter_bench .venv/bin/python -m bench.relay.run --events 50000
Options --batch-size and --in-flight override the relay's defaults (RELAY_BATCH_SIZE and
RELAY_BATCHES_IN_FLIGHT) to tune them.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import time
import uuid

import psycopg

from events.relay import Relay, RelayConfig
from events.topology import Topology, declare_topology, delete_topology

APPEND_SQL = """
    INSERT INTO event_log (event_id, type, version, aggregate_type, aggregate_id, actor_id, payload,
                           occurred_at, is_moderation)
    SELECT gen_random_uuid(), 'post.liked', 1, 'post', g::text, 1,
           jsonb_build_object('post_id', g, 'page_id', 1, 'page_owner_id', 1, 'user_id', 1), now(), false
    FROM generate_series(1, %s) AS g
"""


def prepare(conninfo: str, name: str, events: int) -> int:
    """Put the cursor at the head, append `events` events; returns the new head."""
    with psycopg.connect(conninfo, autocommit=True) as conn:
        head = conn.execute("SELECT coalesce(max(position), 0) FROM event_log").fetchone()[0]  # type: ignore[index]
        conn.execute(
            "INSERT INTO event_relay_cursor (name, position, updated_at) VALUES (%s, %s, now())"
            " ON CONFLICT (name) DO UPDATE SET position = excluded.position",
            [name, head],
        )
        conn.execute(APPEND_SQL, [events])
        return int(conn.execute("SELECT max(position) FROM event_log").fetchone()[0])  # type: ignore[index]


async def run_until(relay: Relay, conninfo: str, name: str, target: int) -> float:
    """Run the relay until its cursor reaches `target`; returns the seconds it took."""
    started = time.perf_counter()
    task = asyncio.create_task(relay.run())
    async with await psycopg.AsyncConnection.connect(conninfo, autocommit=True) as conn:
        while True:
            cur = await conn.execute("SELECT position FROM event_relay_cursor WHERE name = %s", [name])
            row = await cur.fetchone()
            if row and row[0] >= target:
                break
            if task.done():
                task.result()
            await asyncio.sleep(0.01)
    elapsed = time.perf_counter() - started
    relay.stop()
    await task
    return elapsed


def measure(
    conninfo: str, amqp_url: str, events: int, batch_size: int, batches_in_flight: int
) -> dict[str, float]:
    topology = Topology.with_prefix(f"bench-{uuid.uuid4().hex[:8]}")
    name = f"bench-relay-{uuid.uuid4().hex[:6]}"
    asyncio.run(declare_topology(amqp_url, topology))
    try:
        target = prepare(conninfo, name, events)
        config = RelayConfig(
            conninfo=conninfo,
            amqp_url=amqp_url,
            topology=topology,
            name=name,
            batch_size=batch_size,
            batches_in_flight=batches_in_flight,
        )
        relay = Relay(config)
        seconds = asyncio.run(run_until(relay, conninfo, name, target))
    finally:
        asyncio.run(delete_topology(amqp_url, topology))
    return {
        "events": events,
        "batch_size": batch_size,
        "batches_in_flight": batches_in_flight,
        "seconds": round(seconds, 2),
        "events_per_second": round(events / seconds),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=50000)
    parser.add_argument("--batch-size", type=int, default=RelayConfig.batch_size)
    parser.add_argument("--in-flight", type=int, default=RelayConfig.batches_in_flight)
    args = parser.parse_args()
    conninfo = (
        f"host=127.0.0.1 port=5432 user=postgres dbname={os.environ.get('POSTGRES_DB', 'innotter_bench')}"
    )
    amqp_url = os.environ.get("RABBITMQ_URL", "amqp://guest:guest@127.0.0.1:5672/")
    print(json.dumps(measure(conninfo, amqp_url, args.events, args.batch_size, args.in_flight)))


if __name__ == "__main__":
    main()
