"""The broker topology of the event pipeline, declared idempotently by code.

- `events` (topic, durable): the relay publishes every event there, routing key = type.
- Two durable quorum queues bound with `#`: one for the Celery projections, one for the
  statistics service. Each is single-active-consumer (events are applied in log order) and
  has `x-delivery-limit`: after that many deliveries a message is dead-lettered instead of
  looping forever.
- `events.dead` (direct, durable) with one `<queue>.dead` queue per consumer queue; dead
  letters keep their queue name as routing key so each consumer's failures stay apart.

This module must not import Django: the statistics service imports it. Names come in as a
`Topology` (built from the environment by `topology_from_env`).
"""

from __future__ import annotations

import asyncio
import os
from dataclasses import dataclass
from typing import Any

import aio_pika
from aio_pika.abc import AbstractChannel


@dataclass(frozen=True)
class Topology:
    """Names and limits of the exchange, the consumer queues and their dead letters."""

    exchange: str = "events"
    projections_queue: str = "projections.events"
    stats_queue: str = "stats.events"
    dead_letter_exchange: str = "events.dead"
    max_deliveries: int = 10

    @classmethod
    def with_prefix(cls, prefix: str, max_deliveries: int = 10) -> Topology:
        """Every name under one prefix (`<prefix>.events`, ...): tests and benchmarks declare
        their own, under a prefix no other run uses, and delete it afterwards."""
        return cls(
            exchange=f"{prefix}.events",
            projections_queue=f"{prefix}.projections",
            stats_queue=f"{prefix}.stats",
            dead_letter_exchange=f"{prefix}.dead",
            max_deliveries=max_deliveries,
        )

    @property
    def queues(self) -> tuple[str, str]:
        return (self.projections_queue, self.stats_queue)

    @staticmethod
    def dead_letter_queue(queue: str) -> str:
        return f"{queue}.dead"

    def queue_arguments(self, queue: str) -> dict[str, Any]:
        """The arguments a consumer queue is declared with (must match on every declare)."""
        return {
            "x-queue-type": "quorum",
            "x-single-active-consumer": True,
            "x-delivery-limit": self.max_deliveries,
            "x-dead-letter-exchange": self.dead_letter_exchange,
            "x-dead-letter-routing-key": queue,
        }


def topology_from_env(environ: dict[str, str] | None = None) -> Topology:
    """The topology named by EVENTS_* environment variables (defaults match settings)."""
    env = os.environ if environ is None else environ
    return Topology(
        exchange=env.get("EVENTS_EXCHANGE", "events"),
        projections_queue=env.get("EVENTS_QUEUE_PROJECTIONS", "projections.events"),
        stats_queue=env.get("EVENTS_QUEUE_STATS", "stats.events"),
        dead_letter_exchange=env.get("EVENTS_DEAD_LETTER_EXCHANGE", "events.dead"),
        max_deliveries=int(env.get("EVENTS_MAX_DELIVERIES", "10")),
    )


async def declare_on_channel(channel: AbstractChannel, topology: Topology) -> aio_pika.abc.AbstractExchange:
    """Declare everything on an open channel; returns the events exchange."""
    exchange = await channel.declare_exchange(topology.exchange, aio_pika.ExchangeType.TOPIC, durable=True)
    dead = await channel.declare_exchange(
        topology.dead_letter_exchange, aio_pika.ExchangeType.DIRECT, durable=True
    )
    for name in topology.queues:
        dlq = await channel.declare_queue(
            topology.dead_letter_queue(name), durable=True, arguments={"x-queue-type": "quorum"}
        )
        await dlq.bind(dead, routing_key=name)
        queue = await channel.declare_queue(name, durable=True, arguments=topology.queue_arguments(name))
        await queue.bind(exchange, routing_key="#")
    return exchange


async def declare_topology(url: str, topology: Topology) -> None:
    """Connect, declare the whole topology (idempotent), disconnect."""
    connection = await aio_pika.connect(url)
    async with connection:
        channel = await connection.channel()
        await declare_on_channel(channel, topology)


def declare_topology_sync(url: str, topology: Topology) -> None:
    """`declare_topology` for synchronous callers (commands, the Celery worker)."""
    asyncio.run(declare_topology(url, topology))


async def delete_topology(url: str, topology: Topology) -> None:
    """Remove everything `declare_topology` created (tests use unique names and clean up)."""
    connection = await aio_pika.connect(url)
    async with connection:
        channel = await connection.channel()
        for name in topology.queues:
            await channel.queue_delete(name)
            await channel.queue_delete(topology.dead_letter_queue(name))
        await channel.exchange_delete(topology.exchange)
        await channel.exchange_delete(topology.dead_letter_exchange)
