"""A lean AMQP 0-9-1 connection that only publishes, with publisher confirms, for the relay.

aio-pika spends ~200 us of CPU per message (a socket write, several futures and tasks and
generic property marshalling each), which capped the relay near 2,500 events/s. Here a whole
batch becomes one buffer of frames written at once, and one future per batch resolves when
the broker has confirmed every message of it (Basic.Ack, `multiple` or not, in any order).

Anything else the broker says about a publish is fatal to the connection: a Basic.Nack, a
Basic.Return (every message is `mandatory`, so an unroutable one is an error, never silently
dropped), a Channel.Close or Connection.Close, end of file, or missed heartbeats. Every
unconfirmed batch then fails; the relay drops the session and republishes from its cursor.
Because the broker always sends the Basic.Return of a message before its Basic.Ack and frames
are handled in order, a batch with a returned message can never resolve.

Free of Django; the per-message frames are packed with struct (see `encode_publish`, tested
against pamqp's decoder), the rest of the protocol is marshalled with pamqp.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import struct
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import NamedTuple
from urllib.parse import parse_qs, unquote, urlsplit

from pamqp import commands, frame, header, heartbeat
from pamqp.base import Frame

from observability.trace import MESSAGE_HEADER

CHANNEL = 1
FRAME_END = b"\xce"
DEFAULT_HEARTBEAT_SECONDS = 60
CONNECT_TIMEOUT_SECONDS = 10.0
CLOSE_TIMEOUT_SECONDS = 2.0
CONTENT_TYPE = b"application/json"

_FRAME_HEAD = struct.Struct(">BHI")
_PUBLISH_HEAD = struct.Struct(">HHH")  # class 60, method 40, reserved
_CONTENT_HEAD = struct.Struct(">HHQH")  # class 60, weight, body size, property flags
_POSITION_HEADER = struct.Struct(">I9sBq")  # table size, b"\x08position", b"l", value
_POSITION_SIZE = 18
# The request id, when the event has one: field name, b"S" (long string), its length, its bytes.
_REQUEST_ID_FIELD = bytes((len(MESSAGE_HEADER),)) + MESSAGE_HEADER.encode() + b"S"
_LONG_STRING_SIZE = struct.Struct(">I")
_TIMESTAMP = struct.Struct(">Q")
# content_type, headers, delivery_mode, message_id, timestamp, type (AMQP 0-9-1 Basic props).
_PROPERTY_FLAGS = 0x8000 | 0x2000 | 0x1000 | 0x0080 | 0x0040 | 0x0020
_PERSISTENT = b"\x02"
HANDSHAKE_REPLIES = (
    commands.Connection.Start,
    commands.Connection.Tune,
    commands.Connection.OpenOk,
    commands.Channel.OpenOk,
    commands.Confirm.SelectOk,
)


class PublishError(Exception):
    """The broker refused, returned or lost a message: the unconfirmed messages are not published."""


class MessageReturnedError(PublishError):
    """A mandatory message routed to no queue."""


class MessageNackedError(PublishError):
    """The broker could not take responsibility for a message."""


class BrokerClosedError(PublishError):
    """The broker closed the channel or the connection."""


class EventMessage(NamedTuple):
    """One persistent event message: `type` is also the routing key."""

    body: bytes
    message_id: str
    type: str
    timestamp: int  # seconds since the epoch
    position: int
    request_id: str | None = None  # the X-Request-ID of the write that appended it


def _shortstr(value: str) -> bytes:
    raw = value.encode()
    if len(raw) > 255:
        raise ValueError(f"short string over 255 bytes: {value[:40]!r}...")
    return bytes((len(raw),)) + raw


def _frame(frame_type: int, payload: bytes) -> bytes:
    return _FRAME_HEAD.pack(frame_type, CHANNEL, len(payload)) + payload + FRAME_END


def publish_method_frame(exchange: str, routing_key: str) -> bytes:
    """Basic.Publish(exchange, routing_key, mandatory=True) as one method frame."""
    payload = _PUBLISH_HEAD.pack(60, 40, 0) + _shortstr(exchange) + _shortstr(routing_key) + b"\x01"
    return _frame(1, payload)


def encode_headers(position: int, request_id: str | None) -> bytes:
    """The headers field table: `position` (long long) and, when there is one, `request_id` (long string)."""
    if request_id is None:
        return _POSITION_HEADER.pack(_POSITION_SIZE, b"\x08position", ord("l"), position)
    raw = request_id.encode()
    size = _POSITION_SIZE + len(_REQUEST_ID_FIELD) + _LONG_STRING_SIZE.size + len(raw)
    return b"".join(
        (
            _POSITION_HEADER.pack(size, b"\x08position", ord("l"), position),
            _REQUEST_ID_FIELD,
            _LONG_STRING_SIZE.pack(len(raw)),
            raw,
        )
    )


def encode_content(message: EventMessage, frame_max: int) -> list[bytes]:
    """The content header frame (the event's properties) and the body frames of one message."""
    properties = b"".join(
        (
            bytes((len(CONTENT_TYPE),)),
            CONTENT_TYPE,
            encode_headers(message.position, message.request_id),
            _PERSISTENT,
            _shortstr(message.message_id),
            _TIMESTAMP.pack(message.timestamp),
            _shortstr(message.type),
        )
    )
    body = message.body
    frames = [_frame(2, _CONTENT_HEAD.pack(60, 0, len(body), _PROPERTY_FLAGS) + properties)]
    step = frame_max - 8 if frame_max else len(body) or 1  # 8 = frame head + frame end
    frames.extend(_frame(3, body[start : start + step]) for start in range(0, len(body), step))
    return frames


@dataclass(frozen=True)
class BrokerAddress:
    """Where and as whom to connect, from an amqp:// or amqps:// URL."""

    host: str
    port: int
    username: str
    password: str
    virtual_host: str
    heartbeat: int
    tls: bool

    @classmethod
    def from_url(cls, url: str) -> BrokerAddress:
        parts = urlsplit(url)
        if parts.scheme not in ("amqp", "amqps"):
            raise ValueError(f"not an AMQP URL: {parts.scheme}://")
        tls = parts.scheme == "amqps"
        query = parse_qs(parts.query)
        return cls(
            host=parts.hostname or "localhost",
            port=parts.port or (5671 if tls else 5672),
            username=unquote(parts.username or "guest"),
            password=unquote(parts.password or "guest"),
            virtual_host=unquote(parts.path[1:]) or "/",
            heartbeat=int(query.get("heartbeat", [DEFAULT_HEARTBEAT_SECONDS])[0]),
            tls=tls,
        )


@dataclass
class _Batch:
    unconfirmed: set[int]
    first_tag: int
    last_tag: int
    confirmed: asyncio.Future[None] = field(repr=False)


class Publisher(asyncio.Protocol):
    """One connection and one confirm-mode channel; `publish` returns a future per batch."""

    def __init__(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._transport: asyncio.Transport | None = None
        self._buffer = bytearray()
        self._replies: asyncio.Queue[Frame | None] = asyncio.Queue()
        self._batches: deque[_Batch] = deque()
        self._next_tag = 1
        self._failure: BaseException | None = None
        self._returned: commands.Basic.Return | None = None
        self._publish_frames: dict[tuple[str, str], bytes] = {}
        self._heartbeat_timer: asyncio.TimerHandle | None = None
        self._last_received = self._loop.time()
        self._closed = self._loop.create_future()
        self.frame_max = 0

    @classmethod
    async def connect(cls, url: str) -> Publisher:
        """Open the connection and a channel in confirm mode (within CONNECT_TIMEOUT_SECONDS)."""
        address = BrokerAddress.from_url(url)
        tls = ssl.create_default_context() if address.tls else None
        loop = asyncio.get_running_loop()
        async with asyncio.timeout(CONNECT_TIMEOUT_SECONDS):
            _, publisher = await loop.create_connection(cls, address.host, address.port, ssl=tls)
            try:
                await publisher._negotiate(address)
            except BaseException:
                publisher._abort(ConnectionError("AMQP handshake failed"))
                raise
        return publisher

    async def __aenter__(self) -> Publisher:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # --- publishing ---------------------------------------------------------------------

    def publish(self, exchange: str, messages: Sequence[EventMessage]) -> asyncio.Future[None]:
        """Write every message now (one write); the future resolves once all are confirmed."""
        if self._failure is not None:
            raise self._failure
        assert self._transport is not None
        frames: list[bytes] = []
        for message in messages:
            frames.append(self._publish_frame(exchange, message.type))
            frames.extend(encode_content(message, self.frame_max))
        self._transport.write(b"".join(frames))
        confirmed = self._loop.create_future()
        first, self._next_tag = self._next_tag, self._next_tag + len(messages)
        if messages:
            self._batches.append(
                _Batch(set(range(first, self._next_tag)), first, self._next_tag - 1, confirmed)
            )
        else:
            confirmed.set_result(None)
        return confirmed

    def _publish_frame(self, exchange: str, routing_key: str) -> bytes:
        key = (exchange, routing_key)
        encoded = self._publish_frames.get(key)
        if encoded is None:
            encoded = self._publish_frames[key] = publish_method_frame(exchange, routing_key)
        return encoded

    def _on_ack(self, tag: int, multiple: bool) -> None:
        for batch in self._batches:
            if batch.first_tag > tag:
                break
            if multiple:
                batch.unconfirmed.difference_update(range(batch.first_tag, min(tag, batch.last_tag) + 1))
            elif tag <= batch.last_tag:
                batch.unconfirmed.discard(tag)
                break
        while self._batches and not self._batches[0].unconfirmed:
            done = self._batches.popleft().confirmed
            if not done.done():
                done.set_result(None)

    # --- closing and failing ---------------------------------------------------------------

    async def close(self) -> None:
        """Close politely (Connection.Close, then wait briefly for CloseOk); fail what is unconfirmed."""
        if self._failure is None and self._transport is not None:
            self._send(
                commands.Connection.Close(reply_code=200, reply_text="bye", class_id=0, method_id=0), 0
            )
            with contextlib.suppress(TimeoutError, PublishError, ConnectionError):
                async with asyncio.timeout(CLOSE_TIMEOUT_SECONDS):
                    await asyncio.shield(self._closed)
        self._abort(ConnectionError("publisher closed"))

    def _abort(self, failure: BaseException) -> None:
        """Fail every unconfirmed batch and every later call with `failure`; drop the socket."""
        if self._failure is None:
            self._failure = failure
        while self._batches:
            confirmed = self._batches.popleft().confirmed
            if not confirmed.done():
                confirmed.set_exception(self._failure)
                confirmed.exception()  # a caller that stopped waiting must not log it as lost
        if not self._closed.done():
            self._closed.set_exception(self._failure)
            self._closed.exception()
        self._replies.put_nowait(None)
        if self._heartbeat_timer is not None:
            self._heartbeat_timer.cancel()
        if self._transport is not None:
            self._transport.abort()

    # --- asyncio.Protocol -----------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport

    def connection_lost(self, exc: Exception | None) -> None:
        self._abort(ConnectionError(f"connection to the broker lost: {exc or 'end of file'}"))

    def data_received(self, data: bytes) -> None:
        self._last_received = self._loop.time()
        self._buffer += data
        while len(self._buffer) >= 8 and self._failure is None:
            frame_type, channel, size = _FRAME_HEAD.unpack_from(self._buffer)
            end = 7 + size + 1
            if len(self._buffer) < end:
                return
            if frame_type == 1 and channel == CHANNEL and self._buffer[7:11] == b"\x00\x3c\x00\x50":
                # Basic.Ack, the frequent frame: delivery tag then the `multiple` bit.
                self._on_ack(int.from_bytes(self._buffer[11:19], "big"), bool(self._buffer[19] & 1))
            else:
                _, channel, value = frame.unmarshal(bytes(self._buffer[:end]))
                self._on_frame(channel, value)
            del self._buffer[:end]

    # --- frames other than Basic.Ack ---------------------------------------------------------

    def _on_frame(self, channel: int, value: object) -> None:
        # Heartbeats (any frame counts as life), the body of a returned message and
        # Connection.Blocked/Unblocked need nothing: a blocked broker just confirms later.
        if isinstance(value, header.ContentHeader):
            if self._returned is not None:
                self._fail_returned(value)
        elif isinstance(value, commands.Basic.Nack):
            self._abort(MessageNackedError(f"broker nacked delivery tag {value.delivery_tag}"))
        elif isinstance(value, commands.Basic.Return):
            self._returned = value
        elif isinstance(value, commands.Channel.Close | commands.Connection.Close):
            self._send(commands.Channel.CloseOk() if channel else commands.Connection.CloseOk(), channel)
            self._abort(BrokerClosedError(f"broker sent {value.name}: {value.reply_code} {value.reply_text}"))
        elif isinstance(value, commands.Connection.CloseOk):
            if not self._closed.done():
                self._closed.set_result(None)
        elif isinstance(value, HANDSHAKE_REPLIES):
            self._replies.put_nowait(value)

    def _fail_returned(self, content: header.ContentHeader) -> None:
        returned, self._returned = self._returned, None
        assert returned is not None
        self._abort(
            MessageReturnedError(
                f"message {content.properties.message_id} to {returned.exchange!r} with routing key"
                f" {returned.routing_key!r} returned: {returned.reply_code} {returned.reply_text}"
            )
        )

    # --- handshake and heartbeats -------------------------------------------------------

    def _send(self, value: Frame, channel: int = CHANNEL) -> None:
        if self._transport is not None and not self._transport.is_closing():
            self._transport.write(frame.marshal(value, channel))

    async def _expect(self, kind: type[Frame]) -> Frame:
        reply = await self._replies.get()
        if reply is None:  # the connection failed (see `_abort`)
            assert self._failure is not None
            raise self._failure
        if not isinstance(reply, kind):
            raise BrokerClosedError(f"expected {kind.name}, the broker sent {reply.name}")
        return reply

    async def _negotiate(self, address: BrokerAddress) -> None:
        assert self._transport is not None
        self._transport.write(header.ProtocolHeader().marshal())
        await self._expect(commands.Connection.Start)
        self._send(
            commands.Connection.StartOk(
                client_properties={
                    "product": "innotter-relay",
                    "capabilities": {
                        "publisher_confirms": True,
                        "basic.nack": True,
                        "connection.blocked": True,
                        "authentication_failure_close": True,
                    },
                },
                mechanism="PLAIN",
                response=f"\0{address.username}\0{address.password}",
            ),
            0,
        )
        tune = await self._expect(commands.Connection.Tune)
        assert isinstance(tune, commands.Connection.Tune)
        interval = negotiate_heartbeat(address.heartbeat, tune.heartbeat)
        self.frame_max = tune.frame_max
        self._send(commands.Connection.TuneOk(channel_max=1, frame_max=tune.frame_max, heartbeat=interval), 0)
        self._send(commands.Connection.Open(virtual_host=address.virtual_host), 0)
        await self._expect(commands.Connection.OpenOk)
        self._send(commands.Channel.Open())
        await self._expect(commands.Channel.OpenOk)
        self._send(commands.Confirm.Select())
        await self._expect(commands.Confirm.SelectOk)
        if interval:
            self._heartbeat_timer = self._loop.call_later(interval / 2, self._beat, interval)

    def _beat(self, interval: int) -> None:
        """Send a heartbeat; give up on a broker silent for two intervals (it sends them too)."""
        if self._loop.time() - self._last_received > 2 * interval:
            self._abort(ConnectionError(f"no frame from the broker in {2 * interval}s"))
            return
        if self._transport is not None:
            self._transport.write(heartbeat.Heartbeat.marshal())
        self._heartbeat_timer = self._loop.call_later(interval / 2, self._beat, interval)


def negotiate_heartbeat(client: int, server: int) -> int:
    """The lower of the two wishes; 0 (off) only when both sides want none."""
    if client and server:
        return min(client, server)
    return client or server
