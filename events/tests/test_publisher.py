"""The relay's publisher: its frames decoded by pamqp, and its confirms and failures on the real RabbitMQ."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections import deque
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import aio_pika
import pytest
from django.conf import settings
from pamqp import commands, frame, header

from events.contracts import EventEnvelope
from events.publisher import (
    BrokerAddress,
    BrokerClosedError,
    EventMessage,
    MessageNackedError,
    MessageReturnedError,
    Publisher,
    encode_content,
    negotiate_heartbeat,
    publish_method_frame,
)
from events.topology import declare_topology


def message(
    position: int = 7, type_: str = "post.liked", body: bytes | None = None, request_id: str | None = None
) -> EventMessage:
    """An event message as the relay builds it (body = EventEnvelope JSON)."""
    envelope = EventEnvelope(
        event_id=uuid.uuid4(),
        position=position,
        type=type_,
        version=1,
        aggregate_type="post",
        aggregate_id="1",
        actor_id=4,
        occurred_at=datetime(2026, 1, 1, 12, 30, 15, 999_000, tzinfo=UTC),
        payload={"post_id": 1, "page_id": 2, "page_owner_id": 3, "user_id": 4},
    )
    return EventMessage(
        body=body if body is not None else envelope.model_dump_json().encode(),
        message_id=str(envelope.event_id),
        type=type_,
        timestamp=int(envelope.occurred_at.timestamp()),
        position=position,
        request_id=request_id,
    )


def decode_frames(data: bytes) -> list[tuple[int, object]]:
    frames = []
    while data:
        consumed, channel, value = frame.unmarshal(data)
        frames.append((channel, value))
        data = data[consumed:]
    return frames


# --- frames (no broker) ---------------------------------------------------------------------


def test_publish_frame_is_mandatory_and_routed_by_type() -> None:
    [(channel, method)] = decode_frames(publish_method_frame("events", "post.liked"))
    assert channel == 1 and isinstance(method, commands.Basic.Publish)
    assert (method.exchange, method.routing_key, method.mandatory, method.immediate) == (
        "events",
        "post.liked",
        True,
        False,
    )


def test_content_header_decodes_to_the_event_properties() -> None:
    source = message(position=2**40)
    [(channel, content), (_, body)] = decode_frames(b"".join(encode_content(source, 131072)))
    assert channel == 1 and isinstance(content, header.ContentHeader)
    props = content.properties
    assert content.body_size == len(source.body) and body.value == source.body  # type: ignore[attr-defined]
    assert (props.content_type, props.delivery_mode, props.message_id, props.message_type) == (
        "application/json",
        2,
        source.message_id,
        "post.liked",
    )
    assert props.headers == {"position": 2**40}
    assert props.timestamp == datetime(2026, 1, 1, 12, 30, 15, tzinfo=UTC)


@pytest.mark.parametrize(
    "request_id", ["r", "4bf92f3577b34da6a3ce929d0e0e4736", "x" * 128, "0b5c6d1e-2f3a-4b5c:req/+=@._"]
)
def test_the_request_id_is_a_long_string_header_beside_the_position(request_id: str) -> None:
    source = message(position=-(2**63), request_id=request_id)
    [(_, content), (_, body)] = decode_frames(b"".join(encode_content(source, 131072)))
    assert isinstance(content, header.ContentHeader)
    props = content.properties
    assert props.headers == {"position": -(2**63), "request_id": request_id}
    # the fields after the table are still where pamqp expects them
    assert (props.delivery_mode, props.message_id, props.message_type) == (2, source.message_id, "post.liked")
    assert body.value == source.body  # type: ignore[attr-defined]


def test_a_large_body_is_split_into_frames_of_at_most_frame_max() -> None:
    body = bytes(range(256)) * 40  # 10,240 bytes
    encoded = encode_content(message(body=body), frame_max=4096)
    assert all(len(raw) <= 4096 for raw in encoded)
    bodies = [value.value for _, value in decode_frames(b"".join(encoded))[1:]]  # type: ignore[attr-defined]
    assert len(bodies) == 3 and b"".join(bodies) == body


def test_broker_address_from_url() -> None:
    address = BrokerAddress.from_url("amqp://us%40er:p%2Fw@rabbit:5673/my%2Fvhost?heartbeat=5")
    assert (address.host, address.port, address.username, address.password) == (
        "rabbit",
        5673,
        "us@er",
        "p/w",
    )
    assert (address.virtual_host, address.heartbeat, address.tls) == ("my/vhost", 5, False)
    assert BrokerAddress.from_url("amqps://h").port == 5671
    assert BrokerAddress.from_url("amqp://guest:guest@h:5672/").virtual_host == "/"


def test_heartbeat_is_the_lower_wish_and_off_only_when_both_want_none() -> None:
    assert (negotiate_heartbeat(60, 30), negotiate_heartbeat(0, 30), negotiate_heartbeat(0, 0)) == (30, 30, 0)


class WrittenTransport(asyncio.Transport):
    """Keeps what the publisher writes, so acks can be fed back without a broker."""

    def __init__(self) -> None:
        super().__init__()
        self.written: list[bytes] = []

    def write(self, data) -> None:  # type: ignore[no-untyped-def]
        self.written.append(bytes(data))

    def is_closing(self) -> bool:
        return False

    def abort(self) -> None:
        pass


def ack(tag: int, multiple: bool = False) -> bytes:
    return frame.marshal(commands.Basic.Ack(delivery_tag=tag, multiple=multiple), 1)


def test_each_batch_resolves_once_all_its_messages_are_acked_in_any_order() -> None:
    async def scenario():
        publisher = Publisher()
        publisher.connection_made(WrittenTransport())
        first = publisher.publish("events", [message(1), message(2)])  # tags 1-2
        second = publisher.publish("events", [message(3), message(4), message(5)])  # tags 3-5
        publisher.data_received(ack(2) + ack(4))
        assert not first.done() and not second.done()
        publisher.data_received(ack(1)[:10])  # a frame split across reads
        publisher.data_received(ack(1)[10:])
        assert first.done() and not second.done()
        publisher.data_received(ack(5, multiple=True)[:-1])
        assert not second.done()
        publisher.data_received(ack(5, multiple=True)[-1:])
        assert second.done() and publisher._batches == deque()

    asyncio.run(scenario())


def test_a_nack_fails_the_unconfirmed_batches_only() -> None:
    async def scenario():
        publisher = Publisher()
        publisher.connection_made(WrittenTransport())
        first = publisher.publish("events", [message(1)])
        second = publisher.publish("events", [message(2)])
        publisher.data_received(ack(1) + frame.marshal(commands.Basic.Nack(delivery_tag=2), 1))
        assert first.result() is None
        with pytest.raises(MessageNackedError):
            second.result()
        with pytest.raises(MessageNackedError):
            publisher.publish("events", [message(3)])

    asyncio.run(scenario())


# --- the real RabbitMQ ----------------------------------------------------------------------


async def received(queue_name: str, count: int) -> list[aio_pika.abc.AbstractIncomingMessage]:
    """The first `count` messages of a queue, acknowledged."""
    connection = await aio_pika.connect(settings.RABBITMQ_URL)
    async with connection:
        channel = await connection.channel()
        queue = await channel.get_queue(queue_name, ensure=False)
        got = []
        async with queue.iterator(timeout=10) as messages:
            async for incoming in messages:
                await incoming.ack()
                got.append(incoming)
                if len(got) == count:
                    break
        return got


@pytest.mark.integration
def test_confirms_resolve_and_every_queue_gets_the_messages_in_order(topology) -> None:
    sent = [message(position) for position in range(1, 1201)]

    async def scenario():
        await declare_topology(settings.RABBITMQ_URL, topology)
        async with await Publisher.connect(settings.RABBITMQ_URL) as publisher:
            await asyncio.gather(
                publisher.publish(topology.exchange, sent[:700]),
                publisher.publish(topology.exchange, sent[700:]),
            )
        return [await received(name, len(sent)) for name in topology.queues]

    for got in asyncio.run(scenario()):
        assert [m.message_id for m in got] == [s.message_id for s in sent]
        first = got[0]
        assert (first.body, first.type, first.content_type) == (
            sent[0].body,
            "post.liked",
            "application/json",
        )
        assert first.delivery_mode == aio_pika.DeliveryMode.PERSISTENT and first.headers == {"position": 1}


@pytest.mark.integration
def test_a_consumer_reads_the_request_id_header_back_from_the_broker(topology) -> None:
    sent = [message(1, request_id="req-from-api"), message(2)]

    async def scenario():
        await declare_topology(settings.RABBITMQ_URL, topology)
        async with await Publisher.connect(settings.RABBITMQ_URL) as publisher:
            await publisher.publish(topology.exchange, sent)
        return await received(topology.stats_queue, 2)

    with_id, without = asyncio.run(scenario())
    assert with_id.headers == {"position": 1, "request_id": "req-from-api"}
    assert without.headers == {"position": 2}


@pytest.mark.integration
def test_an_unroutable_message_fails_its_batch(topology) -> None:
    async def scenario():
        connection = await aio_pika.connect(settings.RABBITMQ_URL)
        async with connection:  # the exchange only: no queue is bound
            channel = await connection.channel()
            await channel.declare_exchange(topology.exchange, aio_pika.ExchangeType.TOPIC, durable=True)
        async with await Publisher.connect(settings.RABBITMQ_URL) as publisher:
            unroutable = message()
            with pytest.raises(MessageReturnedError, match=unroutable.message_id):
                await publisher.publish(topology.exchange, [unroutable])

    asyncio.run(scenario())


@pytest.mark.integration
def test_a_channel_error_fails_the_batch_and_every_later_publish() -> None:
    async def scenario():
        async with await Publisher.connect(settings.RABBITMQ_URL) as publisher:
            with pytest.raises(BrokerClosedError, match="404"):
                await publisher.publish(f"missing-{uuid.uuid4().hex}", [message()])
            with pytest.raises(BrokerClosedError):
                publisher.publish("anything", [message()])

    asyncio.run(scenario())


class HoldingProxy:
    """A TCP proxy to the broker in this event loop that can hold back what the broker sends, then drop."""

    def __init__(self) -> None:
        self.holding = False
        self._transports: list[asyncio.StreamWriter] = []

    @contextlib.asynccontextmanager
    async def serving(self) -> AsyncIterator[str]:
        server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        async with server:
            yield f"amqp://guest:guest@127.0.0.1:{port}/"
            self.drop()

    def drop(self) -> None:
        for writer in self._transports:
            writer.transport.abort()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", 5672)
        self._transports += [writer, up_writer]
        await asyncio.gather(self._pipe(reader, up_writer, upstream=True), self._pipe(up_reader, writer))

    async def _pipe(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, upstream: bool = False
    ) -> None:
        with contextlib.suppress(ConnectionError, OSError):
            while data := await reader.read(65536):
                if upstream or not self.holding:
                    writer.write(data)
                    await writer.drain()
        writer.transport.abort()


@pytest.mark.integration
def test_a_dropped_connection_fails_the_unconfirmed_batches(topology) -> None:
    async def scenario():
        await declare_topology(settings.RABBITMQ_URL, topology)
        proxy = HoldingProxy()
        async with proxy.serving() as url, await Publisher.connect(url) as publisher:
            await publisher.publish(topology.exchange, [message(1)])
            proxy.holding = True  # the broker's confirms of the next batch never arrive
            unconfirmed = publisher.publish(topology.exchange, [message(2), message(3)])
            proxy.drop()
            with pytest.raises(ConnectionError):
                await unconfirmed

    asyncio.run(scenario())


@pytest.mark.integration
def test_a_silent_broker_is_detected_by_heartbeats(topology) -> None:
    async def scenario():
        await declare_topology(settings.RABBITMQ_URL, topology)
        proxy = HoldingProxy()
        async with proxy.serving() as url, await Publisher.connect(f"{url}?heartbeat=1") as publisher:
            proxy.holding = True  # the connection stays open but nothing comes back
            with pytest.raises(ConnectionError, match="no frame from the broker"):
                await asyncio.wait_for(publisher.publish(topology.exchange, [message()]), timeout=10)

    asyncio.run(scenario())


@pytest.mark.integration
def test_a_message_the_broker_refuses_is_nacked() -> None:
    queue = f"pub-full-{uuid.uuid4().hex[:10]}"

    async def scenario():
        connection = await aio_pika.connect(settings.RABBITMQ_URL)
        async with connection:
            channel = await connection.channel()
            full = await channel.declare_queue(
                queue, arguments={"x-max-length": 1, "x-overflow": "reject-publish"}
            )
            try:
                async with await Publisher.connect(settings.RABBITMQ_URL) as publisher:
                    await publisher.publish("", [message(1)._replace(type=queue)])  # default exchange
                    with pytest.raises(MessageNackedError):
                        await publisher.publish("", [message(2)._replace(type=queue)])
            finally:
                await full.delete(if_unused=False, if_empty=False)

    asyncio.run(scenario())
