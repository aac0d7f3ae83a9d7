"""Every process the runner starts serves its metrics on METRICS_PORT_BASE + its offset, and a
post moves them along its way: the API's histogram, the relay, the worker, the statistics service."""

from __future__ import annotations

import secrets

import httpx
import pytest

from observability.testing import Samples, scrape_if_up, value
from tests.e2e.conftest import Stack
from tests.e2e.test_scenario import PASSWORD, Client, eventually, register

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(600)]
OFFSETS = {"api": 1, "relay": 2, "worker": 3, "stats-api": 4, "stats-consumer": 5}


def metrics_of(stack: Stack, process: str) -> Samples:
    port = int(stack.env["METRICS_PORT_BASE"]) + OFFSETS[process]
    return scrape_if_up(f"http://127.0.0.1:{port}/metrics")


def test_a_post_moves_every_process_metrics(stack: Stack) -> None:
    tag = secrets.token_hex(3)
    owner = Client(stack, register(stack, f"metricowner{tag}"), PASSWORD)
    reader = Client(stack, register(stack, f"metricreader{tag}"), PASSWORD)
    page = owner.page(f"metrics-{tag}")
    reader.expect("POST", f"/api/v1/pages/{page['id']}/follow/", 200)
    post = owner.post(page["id"], "measured")
    eventually(lambda: post["id"] in reader.feed_ids(), "the post in the reader's feed")
    assert httpx.get(f"{stack.stats}/health", timeout=15).status_code == 200

    api = eventually(lambda: metrics_of(stack, "api"), "the api's metrics")
    route = {"route": "/api/v1/posts", "method": "POST", "status": "201"}
    assert value(api, "innotter_http_request_duration_seconds_count", **route) >= 1
    assert value(api, "innotter_events_appended_total", type="post.created") >= 1

    def relay_caught_up() -> Samples | None:
        samples = metrics_of(stack, "relay")
        return samples if value(samples, "innotter_relay_published_total") >= 4 else None

    relay = eventually(relay_caught_up, "the relay's published count")
    assert any(name == "innotter_queue_depth" for name, _ in relay)

    worker = eventually(
        lambda: (s := metrics_of(stack, "worker")) and value(s, "innotter_fanout_rows_total") >= 2 and s,
        "the worker's fan-out rows (owner and reader)",
    )
    assert value(worker, "innotter_consumer_applied_total", consumer="feed") >= 3  # page, follow, post
    assert value(worker, "innotter_consumer_applied_total", consumer="email") >= 1

    health = {"route": "/health", "method": "GET", "status": "200"}
    eventually(
        lambda: value(
            metrics_of(stack, "stats-api"), "innotter_http_request_duration_seconds_count", **health
        ),
        "the statistics API's health check counted",
    )
    consumer = eventually(
        lambda: (
            (s := metrics_of(stack, "stats-consumer"))
            and value(s, "innotter_consumer_applied_total", consumer="stats") >= 3
            and s
        ),
        "the statistics consumer's applied count",
    )
    assert value(consumer, "innotter_consumer_lag_seconds", consumer="stats") < 60


def test_status_lists_the_metrics_urls(stack: Stack) -> None:
    result = stack.runner("status")
    base = int(stack.env["METRICS_PORT_BASE"])
    for process, offset in OFFSETS.items():
        assert f"metrics http://127.0.0.1:{base + offset}/metrics" in result.stdout, process
