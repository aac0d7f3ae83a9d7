"""Readiness probes of the core's dependencies, polled at start-up until they answer."""

from __future__ import annotations

import time
from collections.abc import Callable

import httpx
from django.conf import settings
from django.db import connections
from kombu import Connection


def database_ready() -> bool:
    connection = connections["default"]
    try:
        connection.ensure_connection()
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        return True
    except Exception:
        connection.close()
        return False


def broker_ready() -> bool:
    """A full AMQP handshake, not just an open port: RabbitMQ accepts TCP before it serves."""
    try:
        with Connection(settings.RABBITMQ_URL, connect_timeout=2) as conn:
            conn.ensure_connection(max_retries=1)
        return True
    except Exception:
        return False


def aws_ready() -> bool:
    """The AWS endpoint answers HTTP (any status); real AWS (no endpoint set) counts as ready."""
    if not settings.AWS_ENDPOINT_URL:
        return True
    try:
        httpx.get(settings.AWS_ENDPOINT_URL, timeout=2.0)
        return True
    except httpx.HTTPError:
        return False


PROBES: dict[str, Callable[[], bool]] = {"db": database_ready, "broker": broker_ready, "aws": aws_ready}


def wait_until_ready(names: list[str], *, timeout: float, interval: float = 0.5) -> list[str]:
    """Poll the named probes until all pass or the deadline passes; return those still failing."""
    pending = list(dict.fromkeys(names))
    deadline = time.monotonic() + timeout
    while True:
        pending = [name for name in pending if not PROBES[name]()]
        if not pending or time.monotonic() >= deadline:
            return pending
        time.sleep(interval)
