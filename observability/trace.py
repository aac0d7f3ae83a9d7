"""The request id: one id that follows a write from its HTTP request to its events, their broker
messages, the feed and e-mail tasks and the statistics they cause.

The API takes it from the `X-Request-ID` header (or makes one) and binds it for the request;
every event appended meanwhile stores it, the relay sends it in each message's `request_id`
header, and each consumer binds it again while it handles that message, so every log line on
the way carries it. Free of Django: the statistics service imports it too.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

HTTP_HEADER = "X-Request-ID"
# The AMQP header of an event message, and of a Celery task caused by one.
MESSAGE_HEADER = "request_id"
MAX_LENGTH = 128
# What a client may send: enough for UUIDs, ULIDs and the usual proxies' ids (base64 included),
# nothing that could split a log line, a header or a query.
_ACCEPTED = re.compile(rf"[A-Za-z0-9._:+/=@-]{{1,{MAX_LENGTH}}}")

REQUEST_ID: ContextVar[str | None] = ContextVar("request_id", default=None)
# The event being handled (its id and type), for the log lines of its handlers.
EVENT: ContextVar[tuple[str, str] | None] = ContextVar("event", default=None)


def new_request_id() -> str:
    return uuid.uuid4().hex


def valid_request_id(value: object) -> str | None:
    """`value` if it is an acceptable id (a str or UTF-8 bytes, bounded, of safe characters), else None."""
    if isinstance(value, bytes | bytearray):
        try:
            value = bytes(value).decode()
        except UnicodeDecodeError:
            return None
    if isinstance(value, str) and _ACCEPTED.fullmatch(value):
        return value
    return None


def accept_request_id(value: object) -> str:
    """The id a request goes by: the one it brought if acceptable, else a fresh one (never an error)."""
    return valid_request_id(value) or new_request_id()


def current_request_id() -> str | None:
    return REQUEST_ID.get()


def request_id_from_headers(headers: Mapping[str, Any] | None) -> str | None:
    """The request id an AMQP message or a Celery task carries, if any (and valid)."""
    if not headers:
        return None
    return valid_request_id(headers.get(MESSAGE_HEADER))


@contextmanager
def bound(
    request_id: str | None, *, event_id: str | None = None, event_type: str | None = None
) -> Iterator[None]:
    """Bind the request id (and the event being handled, if given) for the block; None unbinds it."""
    token = REQUEST_ID.set(request_id)
    event_token = EVENT.set((event_id, event_type or "")) if event_id is not None else None
    try:
        yield
    finally:
        if event_token is not None:
            EVENT.reset(event_token)
        REQUEST_ID.reset(token)
