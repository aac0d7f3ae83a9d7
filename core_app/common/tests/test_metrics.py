"""The core API's request histogram: labelled by route template, served by gunicorn's master for
all its workers on the metrics port, never on the API's."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from django.db import connection

from core_app.common.tests.test_gunicorn import free_port, get, start_server, stop_server
from core_app.testing.factories import PostFactory, UserFactory
from observability.testing import local, scrape, value

DURATION_COUNT = "innotter_http_request_duration_seconds_count"


def test_the_middleware_is_outermost(settings: Any) -> None:
    assert settings.MIDDLEWARE[0] == "core_app.common.metrics.MetricsMiddleware"


@pytest.mark.django_db
def test_a_request_moves_the_histogram_of_its_route_template(client_for: Any) -> None:
    post = PostFactory()
    api_client = client_for(UserFactory())
    labels = {"route": "/api/v1/posts/{pk}", "method": "GET"}
    before = {status: local(DURATION_COUNT, **labels, status=status) for status in ("200", "404")}
    assert api_client.get(f"/api/v1/posts/{post.pk}/").status_code == 200
    assert api_client.get("/api/v1/posts/999999999/").status_code == 404
    assert local(DURATION_COUNT, **labels, status="200") == before["200"] + 1
    assert local(DURATION_COUNT, **labels, status="404") == before["404"] + 1  # resolved, then not found
    assert local(DURATION_COUNT, route=f"/api/v1/posts/{post.pk}", method="GET", status="200") == 0


def test_an_unknown_path_is_unmatched_not_its_raw_path(client: Any) -> None:
    before = local(DURATION_COUNT, route="unmatched", method="GET", status="404")
    assert client.get("/no/such/path-12345").status_code == 404
    assert local(DURATION_COUNT, route="unmatched", method="GET", status="404") == before + 1


def test_gunicorns_master_serves_every_workers_requests(tmp_path: Path, transactional_db: None) -> None:
    metrics_port = free_port()
    proc, port = start_server(
        tmp_path,
        POSTGRES_DB=connection.settings_dict["NAME"],
        API_WORKERS="2",
        METRICS_PORT=str(metrics_port),
        METRICS_MULTIPROC_DIR=str(tmp_path),
    )
    try:
        for _ in range(6):
            assert get(port, "/health")[0] == 200
            assert get(port, "/api/v1/no-such-thing/")[0] == 404
        samples = scrape(f"http://127.0.0.1:{metrics_port}/metrics")
        status, _, body = get(port, "/metrics")  # not on the API's port
    finally:
        stop_server(proc)
    assert value(samples, DURATION_COUNT, route="/health", method="GET", status="200") == 6
    assert value(samples, DURATION_COUNT, route="unmatched", method="GET", status="404") == 6
    assert (status, body["error"]["code"]) == (404, "not_found")
    (directory,) = (tmp_path / next(p.name for p in tmp_path.glob("innotter-metrics-*"))).iterdir()
    assert directory.name.startswith(f"api-{metrics_port}")
    pids = {path.stem.rsplit("_", 1)[1] for path in directory.glob("histogram_*.db")}
    assert len(pids) >= 1  # the workers' files, which the master sums
