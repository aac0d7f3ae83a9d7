"""The broker topology on the real RabbitMQ (unique names, deleted afterwards)."""

from __future__ import annotations

import asyncio

import aio_pika
import pytest
from django.conf import settings

from events.publisher import MessageReturnedError, Publisher
from events.tests.test_publisher import message as event_message
from events.topology import Topology, declare_on_channel, declare_topology

pytestmark = pytest.mark.integration


async def publish(topology: Topology, messages: list) -> None:
    """Publish as the relay does: persistent, mandatory, confirmed."""
    async with await Publisher.connect(settings.RABBITMQ_URL) as publisher:
        await publisher.publish(topology.exchange, messages)


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
            channel = await connection.channel()
            await declare_on_channel(channel, topology)
            source = event_message()
            await publish(topology, [source])
            got = [await (await Inbox.open(channel, name)).next() for name in topology.queues]
            for message in got:
                await message.ack()
            return source, got

    source, got = asyncio.run(scenario())
    assert [m.message_id for m in got] == [source.message_id] * 2


def test_an_unroutable_event_is_an_error_not_silently_dropped(topology) -> None:
    async def scenario():
        connection = await aio_pika.connect(settings.RABBITMQ_URL)
        async with connection:
            channel = await connection.channel()
            await channel.declare_exchange(topology.exchange, aio_pika.ExchangeType.TOPIC, durable=True)
            await publish(topology, [event_message()])  # no queue bound yet

    with pytest.raises(MessageReturnedError):
        asyncio.run(scenario())


def test_rejected_and_repeatedly_failing_messages_are_dead_lettered(topology) -> None:
    async def scenario():
        await declare_topology(settings.RABBITMQ_URL, topology)
        connection = await aio_pika.connect(settings.RABBITMQ_URL)
        async with connection:
            channel = await connection.channel()
            await declare_on_channel(channel, topology)
            poison, flaky = event_message(1), event_message(2)
            await publish(topology, [poison, flaky])
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
    assert [m.message_id for m in dead] == [poison.message_id, flaky.message_id]
