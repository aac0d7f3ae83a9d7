"""The API's gunicorn: worker count and class from the environment, request limits, and every
answer of the real server — its own refusals included — in the API's JSON error body."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from django.db import connection

from core_app import gunicorn_conf
from core_app.common.gunicorn_workers import json_error_response, status_of

ROOT = Path(__file__).resolve().parents[3]
GUNICORN = str(Path(sys.executable).with_name("gunicorn"))
COMMAND = [GUNICORN, "core_app.wsgi:application", "--config", "python:core_app.gunicorn_conf"]


@pytest.mark.parametrize(("cpus", "workers"), [(1, 2), (2, 2), (4, 4), (64, 16)])
def test_default_workers_follow_the_cpus(cpus: int, workers: int) -> None:
    assert gunicorn_conf.default_workers(cpus) == workers


def test_workers_and_class_from_the_environment() -> None:
    assert gunicorn_conf.workers_from_env({"API_WORKERS": "5"}) == 5
    assert gunicorn_conf.workers_from_env({"API_WORKERS": ""}) == gunicorn_conf.default_workers()
    with pytest.raises(ValueError, match="at least 1"):
        gunicorn_conf.workers_from_env({"API_WORKERS": "0"})
    assert gunicorn_conf.worker_class_from_env({}) == gunicorn_conf.WORKER_CLASSES["sync"]
    assert gunicorn_conf.worker_class_from_env({"API_WORKER_CLASS": "gthread"}).endswith(
        "JSONErrorsThreadWorker"
    )
    assert gunicorn_conf.worker_class_from_env({"API_WORKER_CLASS": "my.Worker"}) == "my.Worker"


def test_the_refusal_body_is_the_api_error_body() -> None:
    raw = json_error_response(431)
    head, _, body = raw.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 431 Request Header Fields Too Large\r\n")
    assert f"Content-Length: {len(body)}".encode() in head
    assert json.loads(body)["error"]["code"] == "request_headers_too_large"
    assert status_of(b"HTTP/1.1 414 URI Too Long\r\n") == 414
    assert status_of(b"garbage") == 500


# --- the real server ---------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def raw_request(port: int, request: bytes) -> tuple[int, dict[str, str], Any]:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(request)
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = dict(line.split(": ", 1) for line in lines[1:])
    return int(lines[0].split()[1]), headers, json.loads(body)


def get(
    port: int, path: str, method: str = "GET", data: bytes | None = None
) -> tuple[int, dict[str, str], Any]:
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=data, method=method)
    request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, dict(response.headers), json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), json.loads(error.read())


def start_server(tmp_path: Path, **env: str) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    test_env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "API_WORKER"))}
    log = open(tmp_path / f"gunicorn-{port}.log", "wb")  # noqa: SIM115 (closed with the process)
    proc = subprocess.Popen(
        [*COMMAND, "--bind", f"127.0.0.1:{port}"],
        cwd=ROOT,
        env={
            **test_env,
            "DJANGO_SECRET_KEY": "test",
            "API_WORKERS": "1",
            "METRICS_PORT": str(free_port()),
            "METRICS_MULTIPROC_DIR": str(tmp_path),
            **env,
        },
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        assert proc.poll() is None, (tmp_path / f"gunicorn-{port}.log").read_text()
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return proc, port
        time.sleep(0.1)
    proc.kill()
    raise AssertionError("gunicorn did not listen within 30 s")


def stop_server(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    proc.wait(timeout=30)


@pytest.fixture
def server(tmp_path: Path, transactional_db: None) -> Iterator[int]:
    """gunicorn with the project's configuration, on the test database, one sync worker."""
    proc, port = start_server(tmp_path, POSTGRES_DB=connection.settings_dict["NAME"])
    yield port
    stop_server(proc)


ERROR_KEYS = {"code", "message", "details"}


@pytest.mark.parametrize(
    ("request_bytes", "status", "code"),
    [
        (b"GET /" + b"a" * 5000 + b" HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", 414, "request_line_too_large"),
        (
            b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            + b"".join(b"X-Field-%d: 1\r\n" % i for i in range(101))
            + b"\r\n",
            431,
            "request_headers_too_large",
        ),
        (
            b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: " + b"a" * 9000 + b"\r\n\r\n",
            431,
            "request_headers_too_large",
        ),
        (b"NONSENSE\r\n\r\n", 400, "bad_request"),
    ],
)
def test_the_server_refuses_oversized_or_malformed_requests_in_json(
    server: int, request_bytes: bytes, status: int, code: str
) -> None:
    got_status, headers, body = raw_request(server, request_bytes)
    assert got_status == status
    assert headers["Content-Type"] == "application/json"
    assert set(body["error"]) == ERROR_KEYS and body["error"]["code"] == code


def test_the_threaded_worker_refuses_in_json_too(tmp_path: Path) -> None:
    proc, port = start_server(tmp_path, API_WORKER_CLASS="gthread", POSTGRES_PORT="1")
    try:
        status, _, body = raw_request(port, b"GET /" + b"a" * 5000 + b" HTTP/1.1\r\nHost: x\r\n\r\n")
    finally:
        stop_server(proc)
    assert (status, body["error"]["code"]) == (414, "request_line_too_large")
    assert "Using worker: core_app.common.gunicorn_workers.JSONErrorsThreadWorker" in "".join(
        path.read_text() for path in tmp_path.glob("gunicorn-*.log")
    )


def test_the_server_runs_production_settings(server: int) -> None:
    status, headers, body = get(server, "/api/v1/no-such-thing/")
    assert (status, body["error"]["code"]) == (404, "not_found")
    assert headers["Content-Type"] == "application/json"
    status, _, body = get(server, "/health", method="POST", data=b"{}")
    assert (status, body["error"]["code"]) == (405, "method_not_allowed")


def test_the_server_reconnects_after_the_database_dropped_its_connections(server: int) -> None:
    """What a PostgreSQL restart does to the API's persistent connections: the next request
    still works (CONN_HEALTH_CHECKS), it does not fail once per worker first."""
    assert get(server, "/health")[2]["checks"]["database"] == "ok"
    params = connection.get_connection_params()
    params.pop("cursor_factory", None)
    with psycopg.connect(**params, autocommit=True) as admin:
        killed = admin.execute(
            "SELECT pg_terminate_backend(pid, 5000) FROM pg_stat_activity"  # returns once each is gone
            " WHERE datname = %s AND pid <> pg_backend_pid() AND pid <> %s",
            [
                connection.settings_dict["NAME"],
                connection.connection.info.backend_pid if connection.connection else 0,
            ],
        ).fetchall()
    assert killed, "the server held a connection"
    assert get(server, "/health")[2]["checks"]["database"] == "ok"


def test_the_server_answers_503_while_the_database_is_down(tmp_path: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed = str(sock.getsockname()[1])
    proc, port = start_server(tmp_path, POSTGRES_PORT=closed)
    try:
        status, headers, body = get(
            port, "/api/v1/auth/login", "POST", b'{"email": "a@b.c", "password": "x"}'
        )
    finally:
        stop_server(proc)
    assert (status, body["error"]["code"]) == (503, "service_unavailable")
    assert headers["Retry-After"] == "5"


def test_a_worker_loads_the_signing_key_at_its_start(monkeypatch: pytest.MonkeyPatch) -> None:
    from core_app.common.auth import keys

    keys.signing_key.cache_clear()
    try:
        gunicorn_conf.post_worker_init(object())
        assert keys.signing_key.cache_info().currsize == 1  # the first request finds it parsed
    finally:
        keys.signing_key.cache_clear()


def test_a_key_that_cannot_be_loaded_does_not_stop_the_worker(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from core_app.common.auth import keys

    def broken() -> None:
        raise RuntimeError("JWT_PRIVATE_KEY or JWT_PRIVATE_KEY_FILE must be set outside development")

    monkeypatch.setattr(keys, "signing_key", broken)
    with caplog.at_level("WARNING", logger="gunicorn.error"):
        gunicorn_conf.post_worker_init(object())
    assert "signing key could not be loaded" in caplog.text
