"""The broker topology on the real RabbitMQ (unique names, deleted afterwards)."""

from __future__ import annotations

import asyncio
import uuid

import aio_pika
import pytest
from django.conf import settings

from events.relay import publish_batch
from events.tests.test_relay import row
from events.topology import Topology, declare_on_channel, declare_topology, delete_topology

pytestmark = pytest.mark.integration


@pytest.fixture
def topology():
    suffix = uuid.uuid4().hex[:10]
    names = Topology(
        exchange=f"t-{suffix}.events",
        projections_queue=f"t-{suffix}.projections",
        stats_queue=f"t-{suffix}.stats",
        dead_letter_exchange=f"t-{suffix}.dead",
        max_deliveries=2,
    )
    yield names
    asyncio.run(delete_topology(settings.RABBITMQ_URL, names))


class Inbox:
    """Consumes a queue (quorum single-active-consumer queues allow no basic.get) into a local queue."""

    def __init__(self) -> None:
        self.messages: asyncio.Queue = asyncio.Queue()

    @classmethod
    async def open(cls, channel, queue_name: str) -> Inbox:
        inbox = cls()
        queue = await channel.get_queue(queue_name, ensure=False)
        await queue.consume(inbox.messages.put)
        return inbox

    async def next(self, wait: float = 10.0):
        try:
            return await asyncio.wait_for(self.messages.get(), wait)
        except TimeoutError:
            return None


def test_declaring_twice_is_harmless_and_both_queues_get_every_event(topology) -> None:
    async def scenario():
        await declare_topology(settings.RABBITMQ_URL, topology)
        connection = await aio_pika.connect(settings.RABBITMQ_URL)
        async with connection:
            channel = await connection.channel(publisher_confirms=True, on_return_raises=True)
            exchange = await declare_on_channel(channel, topology)
            source = row()
            await publish_batch(exchange, [source])
            got = [await (await Inbox.open(channel, name)).next() for name in topology.queues]
            for message in got:
                await message.ack()
            return source, got

    source, got = asyncio.run(scenario())
    assert [m.message_id for m in got] == [str(source["event_id"])] * 2


def test_an_unroutable_event_is_an_error_not_silently_dropped(topology) -> None:
    async def scenario():
        connection = await aio_pika.connect(settings.RABBITMQ_URL)
        async with connection:
            channel = await connection.channel(publisher_confirms=True, on_return_raises=True)
            exchange = await channel.declare_exchange(
                topology.exchange, aio_pika.ExchangeType.TOPIC, durable=True
            )
            await publish_batch(exchange, [row()])  # no queue bound yet

    with pytest.raises(aio_pika.exceptions.DeliveryError):
        asyncio.run(scenario())


def test_rejected_and_repeatedly_failing_messages_are_dead_lettered(topology) -> None:
    async def scenario():
        await declare_topology(settings.RABBITMQ_URL, topology)
        connection = await aio_pika.connect(settings.RABBITMQ_URL)
        async with connection:
            channel = await connection.channel(publisher_confirms=True, on_return_raises=True)
            exchange = await declare_on_channel(channel, topology)
            poison, flaky = row(1), row(2)
            await publish_batch(exchange, [poison, flaky])
            queue = topology.projections_queue
            inbox = await Inbox.open(channel, queue)
            await (await inbox.next()).reject(requeue=False)
            for _ in range(topology.max_deliveries + 1):  # handed back until the delivery limit
                message = await inbox.next(wait=3)
                if message is None:
                    break
                await message.reject(requeue=True)
            dead_inbox = await Inbox.open(channel, topology.dead_letter_queue(queue))
            dead = [await dead_inbox.next() for _ in range(2)]
            for message in dead:
                await message.ack()
            return poison, flaky, dead

    poison, flaky, dead = asyncio.run(scenario())
    assert [m.message_id for m in dead] == [str(poison["event_id"]), str(flaky["event_id"])]
