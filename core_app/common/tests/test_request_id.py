"""X-Request-ID: taken or made, returned on every answer (errors of any layer included), bound
while the request runs, so that the events it appends and its log lines carry it."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from django.test import Client
from rest_framework.test import APIClient

from core_app.common.exceptions import RETRY_AFTER_SECONDS
from core_app.common.tests.test_error_responses import assert_error
from core_app.testing.events import stored_events
from core_app.users.models import User
from observability.logs import trace_of
from observability.trace import valid_request_id


@pytest.fixture
def anon() -> Client:
    return Client(raise_request_exception=False)


def test_a_sane_id_is_returned_as_sent(anon: Client) -> None:
    response = anon.get("/health", HTTP_X_REQUEST_ID="client-id-1")
    assert response["X-Request-ID"] == "client-id-1"


@pytest.mark.parametrize("sent", [None, "", "has space", "x" * 129, "new\nline"])
def test_a_missing_or_invalid_id_is_replaced_by_a_fresh_one(anon: Client, sent: str | None) -> None:
    headers = {} if sent is None else {"HTTP_X_REQUEST_ID": sent}
    first, second = anon.get("/health", **headers), anon.get("/health", **headers)
    made = first["X-Request-ID"]
    assert valid_request_id(made) == made and made != sent
    assert second["X-Request-ID"] != made


@pytest.mark.urls("core_app.common.tests.error_urls")
@pytest.mark.parametrize(
    ("path", "status", "code"),
    [
        ("/api/v1/no-such-thing/", 404, "not_found"),  # the URL resolver, answered by Django's handler
        ("/api/v1/users/me", 401, "not_authenticated"),  # DRF's exception handler
        ("/plain/bug", 500, "server_error"),  # an exception in a plain view
        ("/drf/db-django", 503, "service_unavailable"),  # the database away
        ("/middleware/bug", 500, "server_error"),  # an exception in a middleware
    ],
)
def test_every_error_answer_carries_the_id(
    anon: Client, settings: Any, path: str, status: int, code: str
) -> None:
    settings.MIDDLEWARE = [*settings.MIDDLEWARE, "core_app.common.tests.error_urls.FailingMiddleware"]
    response = anon.get(path, HTTP_X_REQUEST_ID="err-1")
    assert_error(response, status, code)
    assert response["X-Request-ID"] == "err-1"
    if status == 503:
        assert response["Retry-After"] == str(RETRY_AFTER_SECONDS)


def test_refusals_before_any_view_carry_the_id(anon: Client) -> None:
    too_large = anon.generic(
        "POST",
        "/api/v1/auth/login",
        b"{}",
        "application/json",
        CONTENT_LENGTH="99999999",
        HTTP_X_REQUEST_ID="r-413",
    )
    assert_error(too_large, 413, "request_too_large")
    assert too_large["X-Request-ID"] == "r-413"
    bad_host = anon.get("/health", HTTP_HOST="evil.example", HTTP_X_REQUEST_ID="r-400")
    assert_error(bad_host, 400, "bad_request")
    assert bad_host["X-Request-ID"] == "r-400"


def test_djangos_error_log_lines_name_the_request(anon: Client, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="django.request"):
        anon.get("/api/v1/no-such-thing/", HTTP_X_REQUEST_ID="logged-404")
    [line] = [r for r in caplog.records if r.name == "django.request"]
    assert trace_of(line)[0] == "logged-404"


@pytest.mark.django_db(transaction=True)
def test_the_events_a_request_appends_store_its_id(
    client_for: Any, user: User, caplog: pytest.LogCaptureFixture
) -> None:
    client: APIClient = client_for(user)
    page = client.post("/api/v1/pages/", {"name": "P", "uuid": "traced-page"}, format="json")
    assert page.status_code == 201
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="events.append"):
        post = client.post(
            "/api/v1/posts/",
            {"page": page.json()["id"], "content": "hi"},
            format="json",
            HTTP_X_REQUEST_ID="trace-me",
        )
    assert post.status_code == 201 and post["X-Request-ID"] == "trace-me"
    [event] = stored_events("post.created")
    assert event.request_id == "trace-me"
    [created] = stored_events("page.created")
    assert created.request_id == page["X-Request-ID"] != "trace-me"
    # one line per committed append, with the request's id and the event's
    [line] = [r for r in caplog.records if r.name == "events.append"]
    assert trace_of(line) == ("trace-me", event.event_id, "post.created")
