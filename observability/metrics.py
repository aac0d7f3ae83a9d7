"""The Prometheus metrics of every process, and the helper that serves them on the process's port.

Each metric is incremented where its work happens (the module named in its help text); each
process serves them on its own port (observability/metrics_setup.py: api 9101, relay 9102,
worker 9103, stats-api 9104, stats-consumer 9105), never on a public API port. gunicorn's master
and the Celery worker's main process serve what their forked children wrote to the
multiprocess directory. With METRICS_ENABLED=0 every metric here is a no-op and nothing is served.
No Django here: the statistics service imports this module too.
"""

from __future__ import annotations

import logging
import os
import re
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import datetime
from functools import lru_cache
from typing import Any, cast

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram, start_http_server
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead
from prometheus_client.registry import Collector

from observability.metrics_setup import metrics_enabled, metrics_port, process_name

logger = logging.getLogger(__name__)

ENABLED = metrics_enabled()
UNMATCHED_ROUTE = "unmatched"  # a request no route matched: one label value, never the raw path
HTTP_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
QUEUE_DEPTH_TTL_SECONDS = 5.0


class _Off:
    """What every metric is with METRICS_ENABLED=0: accepts the calls, records nothing."""

    def labels(self, *values: str, **named: str) -> _Off:
        return self

    def inc(self, amount: float = 1) -> None: ...

    def set(self, value: float) -> None: ...

    def observe(self, value: float) -> None: ...


OFF = _Off()


def _counter(name: str, documentation: str, labels: Sequence[str] = ()) -> Counter:
    return Counter(name, documentation, labels) if ENABLED else cast(Counter, OFF)


def _gauge(name: str, documentation: str, labels: Sequence[str] = ()) -> Gauge:
    # In a multiprocess server a gauge is the latest value a live process set.
    gauge = Gauge(name, documentation, labels, multiprocess_mode="livemostrecent") if ENABLED else OFF
    return cast(Gauge, gauge)


HTTP_REQUEST_DURATION = (
    Histogram(
        "innotter_http_request_duration_seconds",
        "HTTP requests by route template, method and status (core_app/common/metrics.py, stats_ms/main.py)",
        ["route", "method", "status"],
    )
    if ENABLED
    else cast(Histogram, OFF)
)
EVENTS_APPENDED = _counter(
    "innotter_events_appended", "Events appended to the log, by type (events/append.py)", ["type"]
)
RELAY_PUBLISHED = _counter(
    "innotter_relay_published", "Events the broker confirmed to the relay (events/relay.py)"
)
RELAY_LAG = _gauge(
    "innotter_relay_lag_events", "The log's head position minus the relay's published position"
)
CONSUMER_APPLIED = _counter(
    "innotter_consumer_applied",
    "Events applied by a consumer: feed, email (projections/consumer.py), stats (stats_ms/consumer.py)",
    ["consumer"],
)
CONSUMER_LAG = _gauge(
    "innotter_consumer_lag_seconds",
    "Now minus the occurred time of the last event the consumer handled",
    ["consumer"],
)
FANOUT_ROWS = _counter("innotter_fanout_rows", "Feed entries added by fan-out (projections/feed/store.py)")
EMAILS_SENT = _counter(
    "innotter_emails_sent", "E-mails SES accepted, by kind: post, digest (projections/)", ["kind"]
)
EMAIL_FAILURES = _counter(
    "innotter_email_failures", "E-mails SES refused or never got, by kind: post, digest", ["kind"]
)


# --- HTTP -------------------------------------------------------------------------------------

_REGEX_GROUP = re.compile(r"\(\?P<(\w+)>[^)]*\)")
_CONVERTER = re.compile(r"<(?:\w+:)?(\w+)>")
_request_children: dict[tuple[str, str, int], Any] = {}


@lru_cache(maxsize=1024)
def route_template(route: str) -> str:
    """A resolver's route as a label: `api/v1/^posts/(?P<pk>[^/.]+)/?$` -> `/api/v1/posts/{pk}`."""
    text = _CONVERTER.sub(r"{\1}", _REGEX_GROUP.sub(r"{\1}", route))
    text = text.replace("^", "").replace("$", "").replace("/?", "/").replace("\\", "")
    return "/" + text.strip("/")


def observe_request(route: str, method: str, status: int, seconds: float) -> None:
    """One request into the histogram (the label child is looked up once per combination)."""
    # keyed by the label, not the raw method: clients' made-up methods must not grow the cache
    key = (route, method if method in HTTP_METHODS else "other", status)
    child = _request_children.get(key)
    if child is None:
        child = _request_children.setdefault(key, HTTP_REQUEST_DURATION.labels(route, key[1], str(status)))
    child.observe(seconds)


class AsgiMetricsMiddleware:
    """The request histogram of an ASGI app (the statistics API), labelled by the matched route."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500  # an app that raised without answering

        async def send_with_status(message: dict[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_with_status)
        finally:
            route = scope.get("route")
            template = getattr(route, "path", None) or UNMATCHED_ROUTE
            observe_request(template, scope["method"], status, time.perf_counter() - started)


# --- the event log -----------------------------------------------------------------------------


@lru_cache(maxsize=256)
def _appended(type_: str) -> Counter:
    return EVENTS_APPENDED.labels(type_)


def count_appended(type_: str, count: int = 1) -> None:
    """`count` events of `type_` appended (the label child is looked up once per type)."""
    _appended(type_).inc(count)


# --- consumers --------------------------------------------------------------------------------


@lru_cache(maxsize=64)
def _consumer_children(consumer: str) -> tuple[Counter, Gauge]:
    return CONSUMER_APPLIED.labels(consumer), CONSUMER_LAG.labels(consumer)


def record_consumed(consumer: str, occurred_at: datetime, *, applied: int = 1) -> None:
    """A consumer handled events up to one that occurred at `occurred_at`, applying `applied` of
    them (0 for a duplicate or an event it ignores)."""
    applied_total, lag = _consumer_children(consumer)
    if applied:
        applied_total.inc(applied)
    lag.set(max(0.0, time.time() - occurred_at.timestamp()))


# --- the broker's queues ----------------------------------------------------------------------

DepthReader = Callable[[str, Sequence[str]], dict[str, int]]


def read_queue_depths(url: str, queues: Sequence[str]) -> dict[str, int]:
    """Messages ready in each queue (passive declares; a missing queue is left out)."""
    from kombu import Connection

    depths: dict[str, int] = {}
    with Connection(url, connect_timeout=2) as conn:
        for queue in queues:
            channel = conn.channel()
            try:
                _, count, _ = channel.queue_declare(queue, passive=True)
                depths[queue] = int(count)
            except conn.channel_errors:
                logger.info("queue %s does not exist (yet)", queue)
            finally:
                if channel.is_open:
                    channel.close()
    return depths


class QueueDepthCollector(Collector):
    """`innotter_queue_depth{queue}`, read from the broker when scraped, at most every few seconds."""

    def __init__(
        self,
        url: str,
        queues: Sequence[str],
        *,
        ttl: float = QUEUE_DEPTH_TTL_SECONDS,
        read: DepthReader = read_queue_depths,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.url, self.queues, self.ttl = url, list(queues), ttl
        self.read, self.clock = read, clock
        self._depths: dict[str, int] = {}
        self._read_at = -float("inf")

    def describe(self) -> Iterable[Metric]:
        return [self._family()]  # registering must not reach the broker

    def collect(self) -> Iterator[Metric]:
        if self.clock() - self._read_at >= self.ttl:
            self._read_at = self.clock()
            try:
                self._depths = self.read(self.url, self.queues)
            except Exception as exc:  # the broker is away: no figure rather than a stale one
                logger.warning("queue depths unavailable: %s", exc)
                self._depths = {}
        family = self._family()
        for queue, depth in sorted(self._depths.items()):
            family.add_metric([queue], depth)
        yield family

    @staticmethod
    def _family() -> GaugeMetricFamily:
        return GaugeMetricFamily("innotter_queue_depth", "Messages ready in a broker queue", labels=["queue"])


# --- serving ----------------------------------------------------------------------------------


def serving_registry(collectors: Iterable[Collector] = ()) -> CollectorRegistry:
    """What the process serves: its children's files in multiprocess mode, else its own registry."""
    directory = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    registry = REGISTRY
    if directory:
        registry = CollectorRegistry()
        MultiProcessCollector(registry, path=directory)
    for collector in collectors:
        registry.register(collector)
    return registry


def serve_metrics(process: str, collectors: Iterable[Collector] = ()) -> int | None:
    """Serve this process's metrics on its port; the port, or None when metrics are off or the
    port is taken (logged: the process goes on without metrics rather than failing)."""
    if not ENABLED:
        return None
    port = metrics_port(process)
    host = os.environ.get("METRICS_HOST", "").strip() or "127.0.0.1"
    try:
        start_http_server(port, addr=host, registry=serving_registry(collectors))
    except OSError as exc:
        logger.warning("%s: metrics port %s:%d unavailable (%s); no metrics served", process, host, port, exc)
        return None
    logger.info("%s: metrics on http://%s:%d/metrics", process_name(process), host, port)
    return port


def forget_process(pid: int) -> None:
    """A forked child exited: drop its live gauges from the multiprocess directory."""
    if ENABLED and os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        mark_process_dead(pid)
