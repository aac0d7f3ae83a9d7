"""The statistics service's metrics: its consumer's applied count and lag, its API's request
histogram by route template; and both processes serving them on their own metrics ports."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from observability.testing import local, scrape_if_up, value
from tests.integration.stats.conftest import wait_for
from tests.integration.stats.test_pipeline import stats_of

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]
ROOT = Path(__file__).resolve().parents[3]
DURATION_COUNT = "innotter_http_request_duration_seconds_count"
PAGE_ROUTE = {"route": "/stats/pages/{page_id}", "method": "GET"}
HEALTH = {"route": "/health", "method": "GET", "status": "200"}


def test_folded_events_move_the_consumers_applied_and_lag(stats_api, stats_consumer, relay, user) -> None:
    from core_app.pages.services import page_create
    from core_app.posts.services import post_create

    before = local("innotter_consumer_applied_total", consumer="stats")
    page = page_create(owner=user, name="Measured", uuid="metrics-stats")
    post_create(author=user, page_id=page.pk, content="counted")
    wait_for(lambda: stats_of(stats_api, page).json().get("posts") == 1, what="post.created folded")
    wait_for(lambda: local("innotter_consumer_applied_total", consumer="stats") >= before + 2, what="counted")
    assert 0 <= local("innotter_consumer_lag_seconds", consumer="stats") < 60


def test_the_api_times_requests_by_route_template(stats_api, user) -> None:
    ok, missing = (
        local(DURATION_COUNT, **PAGE_ROUTE, status="401"),
        local(DURATION_COUNT, route="unmatched", method="GET", status="404"),
    )
    assert httpx.get(f"{stats_api}/stats/pages/12345").status_code == 401  # no token
    assert httpx.get(f"{stats_api}/no/such/route").status_code == 404
    # counted once the answer is sent, which the client may see first
    wait_for(lambda: local(DURATION_COUNT, **PAGE_ROUTE, status="401") == ok + 1, what="the 401 counted")
    wait_for(
        lambda: local(DURATION_COUNT, route="unmatched", method="GET", status="404") == missing + 1,
        what="the 404 counted",
    )
    assert local(DURATION_COUNT, route="/stats/pages/12345", method="GET", status="401") == 0


@pytest.fixture
def service_env(stats_settings, topology) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("METRICS_", "PROMETHEUS_"))}
    return {
        **env,
        "AWS_ENDPOINT_URL": str(stats_settings.aws_endpoint_url),
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "STATS_TABLE_PREFIX": stats_settings.stats_table_prefix,
        "JWT_PUBLIC_KEY": stats_settings.jwt_public_key,
        "RABBITMQ_URL": stats_settings.rabbitmq_url,
        "EVENTS_EXCHANGE": topology.exchange,
        "EVENTS_QUEUE_STATS": topology.stats_queue,
        "EVENTS_DEAD_LETTER_EXCHANGE": topology.dead_letter_exchange,
    }


def status_if_up(url: str) -> int:
    try:
        return httpx.get(url).status_code
    except httpx.ConnectError:
        return 0


def spawn(args: list[str], env: dict[str, str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    with log.open("wb") as out:
        proc = subprocess.Popen(args, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        yield proc
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_the_stats_api_process_serves_its_metrics_on_its_own_port(service_env, tmp_path) -> None:
    from stats_ms.tests.conftest import free_port

    port, metrics_port = free_port(), free_port()
    args = [sys.executable, "-m", "uvicorn", "stats_ms.main:app", "--host", "127.0.0.1", "--port", str(port)]
    env = {**service_env, "METRICS_PORT": str(metrics_port), "PROCESS_NAME": "stats-api"}
    for _ in spawn(args, env, tmp_path / "stats-api.log"):
        wait_for(lambda: scrape_if_up(f"http://127.0.0.1:{metrics_port}/metrics") != {}, what="metrics up")
        wait_for(lambda: status_if_up(f"http://127.0.0.1:{port}/health") == 200, what="health")
        # counted once the answer is sent: the scrape may come a moment before
        wait_for(
            lambda: (
                value(scrape_if_up(f"http://127.0.0.1:{metrics_port}/metrics"), DURATION_COUNT, **HEALTH) >= 1
            ),
            what="the health check counted",
        )
        assert httpx.get(f"http://127.0.0.1:{port}/metrics").status_code == 404  # not on the public port


def test_the_stats_consumer_process_serves_its_metrics_on_its_own_port(service_env, tmp_path) -> None:
    from stats_ms.tests.conftest import free_port

    metrics_port = free_port()
    env = {**service_env, "METRICS_PORT": str(metrics_port), "PROCESS_NAME": "stats-consumer"}
    for _ in spawn([sys.executable, "-m", "stats_ms.consumer"], env, tmp_path / "stats-consumer.log"):
        wait_for(lambda: scrape_if_up(f"http://127.0.0.1:{metrics_port}/metrics") != {}, what="metrics up")
        text = httpx.get(f"http://127.0.0.1:{metrics_port}/metrics").text
        assert "# TYPE innotter_consumer_lag_seconds gauge" in text
        assert "# TYPE innotter_consumer_applied_total counter" in text
