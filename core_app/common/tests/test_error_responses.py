"""Every error, whatever layer raised it, is JSON in the contract's body; a database that is
away is a 503 with Retry-After, never a 500."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from django.conf import settings
from django.db import close_old_connections, connection
from django.http import HttpResponse, HttpResponseNotAllowed
from django.test import Client

from core_app.common.auth.tokens import issue_access_token
from core_app.common.exceptions import RETRY_AFTER_SECONDS, as_json_error

ERROR_KEYS = {"code", "message", "details"}


def assert_error(response: Any, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.content[:300]
    assert response["Content-Type"] == "application/json"
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == ERROR_KEYS
    assert body["error"]["code"] == code
    return body


@pytest.fixture
def anon() -> Client:
    # the server's view: an exception is an answer, not an exception raised into the test
    return Client(raise_request_exception=False)


@pytest.mark.parametrize(
    "path", ["/api/v1/no-such-thing/", "/api/v1/no-such-thing", "/", "/nothing/here", "/static/nope.css"]
)
def test_unknown_paths_are_a_json_404(anon: Client, path: str) -> None:
    assert_error(anon.get(path), 404, "not_found")


@pytest.mark.parametrize("path", ["/health", "/health/"])
@pytest.mark.parametrize("method", ["post", "put", "delete", "patch"])
def test_wrong_methods_on_health_are_a_json_405(anon: Client, path: str, method: str) -> None:
    response = getattr(anon, method)(path)
    assert_error(response, 405, "method_not_allowed")
    assert response["Allow"] == "GET, HEAD"


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("delete", "/api/v1/auth/login"),  # a DRF view
        ("post", "/api/schema/"),  # the schema view renders YAML by default
        ("post", "/admin/jsi18n/"),  # a plain Django view (HttpResponseNotAllowed, empty body)
    ],
)
def test_wrong_methods_are_a_json_405_on_every_kind_of_view(
    anon: Client, admin_user: Any, method: str, path: str
) -> None:
    anon.force_login(admin_user)
    response = getattr(anon, method)(path)
    assert_error(response, 405, "method_not_allowed")
    assert response["Allow"]


def test_the_schema_view_answers_its_errors_as_json(anon: Client) -> None:
    assert_error(anon.get("/api/schema/?format=no-such-format"), 404, "not_found")


@pytest.mark.django_db
def test_a_csrf_failure_is_a_json_403() -> None:
    client = Client(enforce_csrf_checks=True, raise_request_exception=False)
    response = client.post("/admin/login/", {"username": "a@b.c", "password": "x"})
    body = assert_error(response, 403, "permission_denied")
    assert body["error"]["details"]["csrf"]


def test_a_disallowed_host_is_a_json_400(anon: Client) -> None:
    assert_error(anon.get("/health", HTTP_HOST="evil.example"), 400, "bad_request")


@pytest.mark.urls("core_app.common.tests.error_urls")
def test_a_plain_permission_denied_is_a_json_403(anon: Client) -> None:
    assert_error(anon.get("/plain/denied"), 403, "permission_denied")


@pytest.mark.urls("core_app.common.tests.error_urls")
@pytest.mark.parametrize("path", ["/plain/bug", "/drf/bug"])
def test_a_bug_is_a_json_500_that_tells_nothing(anon: Client, path: str) -> None:
    response = anon.get(path)
    assert_error(response, 500, "server_error")
    assert b"secret detail" not in response.content
    assert "Retry-After" not in response


@pytest.fixture
def failing_middleware(settings: Any) -> None:
    settings.MIDDLEWARE = [*settings.MIDDLEWARE, "core_app.common.tests.error_urls.FailingMiddleware"]


@pytest.mark.urls("core_app.common.tests.error_urls")
@pytest.mark.parametrize("layer", ["plain", "drf", "middleware"])
@pytest.mark.parametrize("failure", ["db-django", "db-interface", "db-psycopg"])
def test_a_database_error_is_a_503_at_every_layer(
    anon: Client, failing_middleware: None, layer: str, failure: str
) -> None:
    response = anon.get(f"/{layer}/{failure}")
    assert_error(response, 503, "service_unavailable")
    assert response["Retry-After"] == str(RETRY_AFTER_SECONDS)


def test_the_safety_net_keeps_status_headers_and_cookies() -> None:
    original = HttpResponseNotAllowed(["GET"], content=b"<h1>no</h1>")
    original.set_cookie("seen", "1")
    converted = as_json_error(original)
    assert converted.status_code == 405 and converted["Allow"] == "GET"
    assert converted.cookies["seen"].value == "1"
    assert converted["Content-Type"] == "application/json"
    assert as_json_error(HttpResponse(status=418)).status_code == 418


# --- a real database that is away, and one that comes back ------------------------------------


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])  # nothing listens once the socket is closed


@pytest.fixture
def database_down(django_db_blocker: Any) -> Iterator[None]:
    """The default connection pointed at a port where nothing listens, then put back."""
    port = connection.settings_dict["PORT"]
    with django_db_blocker.unblock():
        connection.close()
        connection.settings_dict["PORT"] = str(closed_port())
        try:
            yield
        finally:
            connection.close()
            connection.settings_dict["PORT"] = port


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("post", "/api/v1/auth/login"),  # a DRF view's query
        ("get", "/api/v1/users/me"),  # the JWT middleware's user lookup
        ("post", "/admin/login/"),  # a plain Django view (the admin's login form)
    ],
)
def test_a_database_that_is_down_answers_503(
    anon: Client, database_down: None, method: str, path: str
) -> None:
    token, _ = issue_access_token(user_id=1, role="user")
    response = getattr(anon, method)(
        path, {"email": "a@b.c", "username": "a@b.c", "password": "x"}, HTTP_AUTHORIZATION=f"Bearer {token}"
    )
    assert_error(response, 503, "service_unavailable")
    assert response["Retry-After"] == str(RETRY_AFTER_SECONDS)


def test_health_answers_503_with_retry_after_while_the_database_is_down(
    anon: Client, database_down: None
) -> None:
    response = anon.get("/health")
    assert response.status_code == 503
    assert response.json()["checks"]["database"] == "down"
    assert response["Retry-After"] == str(RETRY_AFTER_SECONDS)


@pytest.mark.django_db(transaction=True)
def test_a_dropped_connection_is_replaced_at_the_next_request(anon: Client) -> None:
    """A PostgreSQL restart kills every session; with CONN_HEALTH_CHECKS the next request finds
    the persistent connection dead and opens a new one instead of failing."""
    assert settings.DATABASES["default"]["CONN_HEALTH_CHECKS"] is True
    assert settings.DATABASES["default"]["CONN_MAX_AGE"] > 0
    connection.close()
    connection.ensure_connection()  # a fresh connection, made with the settings above
    old_pid = connection.connection.info.backend_pid
    params = connection.get_connection_params()
    with psycopg.connect(
        **{k: v for k, v in params.items() if k != "cursor_factory"}, autocommit=True
    ) as admin:
        admin.execute("SELECT pg_terminate_backend(%s, 5000)", [old_pid])  # returns once it is gone
    close_old_connections()  # what the server does when a request starts
    response = anon.get("/health")
    assert response.json()["checks"]["database"] == "ok"
    assert connection.connection.info.backend_pid != old_pid
