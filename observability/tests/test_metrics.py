"""The metrics helpers: route templates, the request histogram, consumers, queue depths, serving."""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import subprocess
import sys
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aio_pika
import pytest

from observability import metrics
from observability.testing import local, scrape, value

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.parametrize(
    ("route", "template"),
    [
        ("api/v1/^posts/(?P<pk>[^/.]+)/?$", "/api/v1/posts/{pk}"),
        ("api/v1/^posts/?$", "/api/v1/posts"),
        ("^health/?$", "/health"),
        ("api/v1/^pages/(?P<page_id>[^/]+)/stats/?$", "/api/v1/pages/{page_id}/stats"),
        ("admin/<int:object_id>/change/", "/admin/{object_id}/change"),
        ("", "/"),
    ],
)
def test_a_resolver_route_becomes_a_template(route: str, template: str) -> None:
    assert metrics.route_template(route) == template


def test_a_request_moves_its_routes_histogram() -> None:
    route = f"/test/{uuid.uuid4().hex}"
    metrics.observe_request(route, "GET", 200, 0.02)
    metrics.observe_request(route, "GET", 200, 3.0)
    labels = {"route": route, "method": "GET", "status": "200"}
    assert local("innotter_http_request_duration_seconds_count", **labels) == 2
    assert local("innotter_http_request_duration_seconds_sum", **labels) == pytest.approx(3.02)
    assert local("innotter_http_request_duration_seconds_bucket", **labels, le="0.025") == 1


def test_an_unknown_method_is_one_label_value() -> None:
    route = f"/test/{uuid.uuid4().hex}"
    metrics.observe_request(route, "BREW", 405, 0.001)
    metrics.observe_request(route, "WHEN", 405, 0.001)
    assert (
        local("innotter_http_request_duration_seconds_count", route=route, method="other", status="405") == 2
    )
    # made-up methods share one cached child: a client cannot grow the cache with them
    assert [key for key in metrics._request_children if key[0] == route] == [(route, "other", 405)]


def test_a_consumed_event_moves_applied_and_lag() -> None:
    consumer = f"test-{uuid.uuid4().hex[:8]}"
    metrics.record_consumed(consumer, datetime.now(UTC) - timedelta(seconds=30))
    metrics.record_consumed(consumer, datetime.now(UTC) - timedelta(seconds=2), applied=0)  # a duplicate
    assert local("innotter_consumer_applied_total", consumer=consumer) == 1
    assert 2 <= local("innotter_consumer_lag_seconds", consumer=consumer) < 10  # the last one's
    metrics.record_consumed(consumer, datetime.now(UTC) + timedelta(seconds=5), applied=3)  # clock skew
    assert local("innotter_consumer_applied_total", consumer=consumer) == 4
    assert local("innotter_consumer_lag_seconds", consumer=consumer) == 0


async def test_the_asgi_middleware_labels_by_the_matched_route() -> None:
    class Route:
        path = "/stats/pages/{page_id}"

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        if scope["path"] != "/nowhere":
            scope["route"] = Route()  # what the router does when a route matches
        await send({"type": "http.response.start", "status": 404 if scope["path"] == "/nowhere" else 200})
        await send({"type": "http.response.body", "body": b""})

    async def send(message: dict[str, Any]) -> None: ...

    before = local(
        "innotter_http_request_duration_seconds_count", route=Route.path, method="GET", status="200"
    )
    unmatched = local(
        "innotter_http_request_duration_seconds_count", route="unmatched", method="GET", status="404"
    )
    middleware = metrics.AsgiMetricsMiddleware(app)
    await middleware({"type": "http", "path": "/stats/pages/7", "method": "GET"}, None, send)
    await middleware({"type": "http", "path": "/nowhere", "method": "GET"}, None, send)
    await middleware({"type": "lifespan"}, None, send)  # passed through, not timed
    assert (
        local("innotter_http_request_duration_seconds_count", route=Route.path, method="GET", status="200")
        == before + 1
    )
    assert (
        local("innotter_http_request_duration_seconds_count", route="unmatched", method="GET", status="404")
        == unmatched + 1
    )


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_queue_depths_are_read_when_scraped_at_most_once_per_ttl() -> None:
    reads: list[list[str]] = []
    depths = iter([{"a": 3, "b": 0}, {"a": 1, "b": 2}])

    def read(url: str, queues: list[str]) -> dict[str, int]:
        reads.append(list(queues))
        return next(depths)

    clock = FakeClock()
    collector = metrics.QueueDepthCollector("amqp://x", ["a", "b"], ttl=5, read=read, clock=clock)
    assert [f.samples for f in collector.describe()] == [[]]  # registering does not reach the broker
    assert reads == []

    def current() -> dict[str, float]:
        (family,) = collector.collect()
        return {s.labels["queue"]: s.value for s in family.samples}

    assert current() == {"a": 3, "b": 0}
    clock.now = 4.9
    assert current() == {"a": 3, "b": 0}
    clock.now = 5.0
    assert current() == {"a": 1, "b": 2}
    assert reads == [["a", "b"], ["a", "b"]]


def test_no_queue_depths_while_the_broker_is_away(caplog: pytest.LogCaptureFixture) -> None:
    def read(url: str, queues: list[str]) -> dict[str, int]:
        raise ConnectionRefusedError("broker down")

    collector = metrics.QueueDepthCollector("amqp://x", ["a"], read=read)
    with caplog.at_level(logging.WARNING, logger="observability.metrics"):
        (family,) = collector.collect()
    assert family.samples == []
    assert "queue depths unavailable" in caplog.text


@pytest.mark.integration
async def test_queue_depths_come_from_the_broker(settings: Any) -> None:
    name = f"test-depth-{uuid.uuid4().hex[:10]}"
    connection = await aio_pika.connect(settings.RABBITMQ_URL)
    async with connection:
        channel = await connection.channel()
        queue = await channel.declare_queue(name)
        try:
            for _ in range(3):
                await channel.default_exchange.publish(aio_pika.Message(b"x"), routing_key=name)
            depths = await asyncio.to_thread(
                metrics.read_queue_depths, settings.RABBITMQ_URL, [name, f"{name}-missing"]
            )
            assert depths == {name: 3}  # a queue that does not exist is left out
        finally:
            await queue.delete(if_unused=False, if_empty=False)


def test_a_process_serves_its_metrics_on_its_port(monkeypatch: pytest.MonkeyPatch) -> None:
    port = free_port()
    monkeypatch.setenv("METRICS_PORT", str(port))
    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR", raising=False)
    metrics.RELAY_PUBLISHED.inc(2)
    assert metrics.serve_metrics("relay") == port
    assert value(scrape(f"http://127.0.0.1:{port}/metrics"), "innotter_relay_published_total") >= 2


def test_a_taken_port_is_a_warning_not_a_failure(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        monkeypatch.setenv("METRICS_PORT", str(taken.getsockname()[1]))
        with caplog.at_level(logging.WARNING, logger="observability.metrics"):
            assert metrics.serve_metrics("stats-consumer") is None
    assert "no metrics served" in caplog.text


def test_metrics_enabled_0_turns_everything_off() -> None:
    code = (
        "import django, os; django.setup()\n"
        "from django.conf import settings\n"
        "from observability import metrics\n"
        "metrics.EVENTS_APPENDED.labels('x').inc()\n"
        "metrics.HTTP_REQUEST_DURATION.labels('/', 'GET', '200').observe(1)\n"
        "from prometheus_client import REGISTRY\n"
        "names = [f.name for f in REGISTRY.collect() if f.name.startswith('innotter_')]\n"
        "print(names, metrics.serve_metrics('relay'), any('Metrics' in m for m in settings.MIDDLEWARE))\n"
    )
    env = {**os.environ, "METRICS_ENABLED": "0", "DJANGO_SETTINGS_MODULE": "core_app.settings_test"}
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    assert result.stdout.split("\n")[-2] == "[] None False"
