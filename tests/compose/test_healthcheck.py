"""compose/healthcheck.py, the containers' health checks (standard library only)."""

from __future__ import annotations

import http.server
import os
import threading
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from unittest import mock

import pytest

from compose.local.scripts import load_script
from tests.compose.conftest import ROOT


@pytest.fixture(scope="module")
def healthcheck() -> ModuleType:
    return load_script("innotter_healthcheck", ROOT / "compose" / "healthcheck.py")


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200 if self.path == "/health" else 503)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def server() -> Iterator[str]:
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def test_http(healthcheck: ModuleType, server: str) -> None:
    assert healthcheck.main(["http", f"{server}/health"]) == 0
    assert healthcheck.main(["http", f"{server}/other"]) == 1
    assert healthcheck.main(["http", "http://127.0.0.1:1/health"]) == 1


def test_process_reads_pid_1(healthcheck: ModuleType) -> None:
    cmdline = b"/opt/venv/bin/python\0manage.py\0run_relay\0"
    with mock.patch.object(Path, "read_bytes", return_value=cmdline):
        assert healthcheck.main(["process", "run_relay"]) == 0
        assert healthcheck.main(["process", "beat"]) == 1


def test_file(healthcheck: ModuleType, tmp_path: Path) -> None:
    key = tmp_path / "jwt_public.pem"
    assert healthcheck.main(["file", str(key)]) == 1
    key.write_text("")
    assert healthcheck.main(["file", str(key)]) == 1
    key.write_text("-----BEGIN PUBLIC KEY-----")
    assert healthcheck.main(["file", str(key)]) == 0


def test_usage_errors(healthcheck: ModuleType, capsys) -> None:
    assert healthcheck.main(["nope", "x"]) == 2
    assert healthcheck.main([]) == 2
    assert "python compose/healthcheck.py http URL" in capsys.readouterr().err
    assert os.access(ROOT / "compose" / "healthcheck.py", os.R_OK)
