"""Publisher throughput: the relay's own confirm-mode publisher against maintained AMQP clients.

Each client publishes the same N persistent, mandatory event messages (the relay's properties:
content type, `position` header, message id, timestamp, type) to a topic exchange bound to the
two quorum queues of the real topology, in batches of `--batch-size` with up to `--in-flight`
batches awaiting their confirms (the relay's shape), and the run ends when the broker has
confirmed all of them. It prints events/s and the client's CPU per 1,000 events.

- `lean`: `events.publisher.Publisher` (frames packed with struct, one write and one future
  per batch).
- `aiormq`: aiormq's channel in confirm mode, every message's `basic_publish` started without
  awaiting it (`wait=False`), the batch's confirmations gathered.
- `aio-pika`: the same through aio-pika's `Exchange.publish`, gathered per batch.

Usage: `.venv/bin/python -m bench.publishers.run --events 50000 [--clients lean,aiormq,aio-pika]`
(RABBITMQ_URL picks the broker; the run declares and deletes its own topology).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import time
import uuid
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime

import aio_pika
import aiormq
from pamqp.commands import Basic

from events.publisher import EventMessage, Publisher
from events.topology import Topology, declare_topology, delete_topology

BODY_TEMPLATE = (
    '{{"event_id": "{id}", "position": {pos}, "type": "post.liked", "version": 1, '
    '"aggregate_type": "post", "aggregate_id": "{pos}", "actor_id": 1, '
    '"occurred_at": "2026-12-06T11:00:00+00:00", '
    '"payload": {{"post_id": {pos}, "page_id": 1, "page_owner_id": 1, "user_id": 1}}}}'
)

PublishBatch = Callable[[Sequence[EventMessage]], Awaitable[None]]


def make_messages(count: int) -> list[EventMessage]:
    now = int(time.time())
    messages = []
    for position in range(1, count + 1):
        event_id = str(uuid.uuid4())
        body = BODY_TEMPLATE.format(id=event_id, pos=position).encode()
        messages.append(EventMessage(body, event_id, "post.liked", now, position))
    return messages


async def run_window(publish: PublishBatch, messages: list[EventMessage], batch: int, in_flight: int) -> None:
    """Publish batch after batch, keeping at most `in_flight` unconfirmed (the relay's window)."""
    window: deque[asyncio.Future[None]] = deque()
    for start in range(0, len(messages), batch):
        if len(window) >= in_flight:
            await window.popleft()
        window.append(asyncio.ensure_future(publish(messages[start : start + batch])))
    for confirmed in window:
        await confirmed


async def lean(url: str, exchange: str, messages: list[EventMessage], batch: int, in_flight: int) -> None:
    async with await Publisher.connect(url) as publisher:

        async def publish(chunk: Sequence[EventMessage]) -> None:
            await publisher.publish(exchange, chunk)

        await run_window(publish, messages, batch, in_flight)


def aiormq_properties(message: EventMessage) -> Basic.Properties:
    return Basic.Properties(
        content_type="application/json",
        delivery_mode=2,
        message_id=message.message_id,
        timestamp=datetime.fromtimestamp(message.timestamp, UTC),
        message_type=message.type,
        headers={"position": message.position},
    )


async def with_aiormq(
    url: str, exchange: str, messages: list[EventMessage], batch: int, in_flight: int
) -> None:
    connection = await aiormq.connect(url)
    try:
        channel = await connection.channel(publisher_confirms=True)

        async def publish(chunk: Sequence[EventMessage]) -> None:
            confirms = [
                channel.basic_publish(
                    m.body,
                    exchange=exchange,
                    routing_key=m.type,
                    properties=aiormq_properties(m),
                    mandatory=True,
                    wait=False,
                )
                for m in chunk
            ]
            for frame in await asyncio.gather(*confirms):
                if not isinstance(frame, Basic.Ack):
                    raise RuntimeError(f"not confirmed: {frame!r}")

        await run_window(publish, messages, batch, in_flight)
    finally:
        await connection.close()


async def with_aio_pika(
    url: str, exchange_name: str, messages: list[EventMessage], batch: int, in_flight: int
) -> None:
    connection = await aio_pika.connect(url)
    try:
        channel = await connection.channel(publisher_confirms=True, on_return_raises=True)
        exchange = await channel.get_exchange(exchange_name, ensure=False)

        async def publish(chunk: Sequence[EventMessage]) -> None:
            await asyncio.gather(
                *(
                    exchange.publish(
                        aio_pika.Message(
                            m.body,
                            content_type="application/json",
                            delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
                            message_id=m.message_id,
                            timestamp=datetime.fromtimestamp(m.timestamp, UTC),
                            type=m.type,
                            headers={"position": m.position},
                        ),
                        routing_key=m.type,
                        mandatory=True,
                    )
                    for m in chunk
                )
            )

        await run_window(publish, messages, batch, in_flight)
    finally:
        await connection.close()


CLIENTS = {"lean": lean, "aiormq": with_aiormq, "aio-pika": with_aio_pika}


async def measure(client: str, url: str, events: int, batch: int, in_flight: int) -> dict[str, object]:
    topology = Topology.with_prefix(f"bench-pub-{uuid.uuid4().hex[:8]}")
    await declare_topology(url, topology)
    try:
        messages = make_messages(events)
        cpu, wall = time.process_time(), time.perf_counter()
        await CLIENTS[client](url, topology.exchange, messages, batch, in_flight)
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    finally:
        await delete_topology(url, topology)
    return {
        "client": client,
        "events": events,
        "seconds": round(wall, 2),
        "events_per_second": round(events / wall),
        "client_cpu_ms_per_1000": round(cpu * 1000 / events * 1000, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--events", type=int, default=50000)
    parser.add_argument("--batch-size", type=int, default=500)
    parser.add_argument("--in-flight", type=int, default=4)
    parser.add_argument("--clients", default=",".join(CLIENTS))
    parser.add_argument("--rounds", type=int, default=1, help="repeat the clients in turn this many times")
    args = parser.parse_args()
    url = os.environ.get("RABBITMQ_URL", "amqp://guest:guest@127.0.0.1:5672/")
    for _ in range(args.rounds):
        for client in args.clients.split(","):
            result = asyncio.run(measure(client, url, args.events, args.batch_size, args.in_flight))
            print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
