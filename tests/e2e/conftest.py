"""The whole stack for the end-to-end test, started by the local runner with its own everything.

Own database (innotter_e2e_<suffix>), own RabbitMQ virtual host (so its exchange, queues and
Celery queue cannot meet anyone else's), own free ports, own AWS emulator, own var dir.
The stack is stopped and its database and virtual host removed at the end, even on failure.
"""

from __future__ import annotations

import os
import secrets
import shutil
import socket
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from observability.metrics_setup import free_metrics_port_base

ROOT = Path(__file__).resolve().parents[2]
RUNNER = [sys.executable, str(ROOT / "compose" / "local" / "runner.py")]
ADMIN_EMAIL = "root@e2e.innotter.test"
ADMIN_PASSWORD = "E2e-admin-pass-2024"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def rabbitmqctl(*args: str) -> None:
    if shutil.which("rabbitmqctl") is None:
        pytest.fail("rabbitmqctl is needed to give the end-to-end stack its own virtual host")
    subprocess.run(["rabbitmqctl", "-q", *args], check=True, capture_output=True, timeout=60)


def drop_database(name: str) -> None:
    with psycopg.connect(
        host=os.environ.get("POSTGRES_HOST", "127.0.0.1"),
        port=os.environ.get("POSTGRES_PORT", "5432"),
        user=os.environ.get("POSTGRES_USER", "postgres"),
        password=os.environ.get("POSTGRES_PASSWORD", ""),
        dbname="postgres",
        autocommit=True,
    ) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


@dataclass
class Stack:
    env: dict[str, str]
    api: str
    stats: str
    aws: str
    var_dir: Path

    def runner(self, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*RUNNER, *args],
            env=self.env,
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def pid(self, name: str) -> int:
        return int((self.var_dir / "run" / name / "pid").read_text())

    def kill(self, name: str) -> None:
        """SIGKILL the process (its whole group: a Celery worker dies with its pool)."""
        result = self.runner("kill", name, "--signal", "KILL")
        assert result.returncode == 0, result.stdout + result.stderr

    def restart(self, name: str) -> None:
        result = self.runner("restart", name)
        assert result.returncode == 0, result.stdout + result.stderr

    def is_running(self, name: str) -> bool:
        try:
            os.killpg(self.pid(name), 0)
        except (ProcessLookupError, FileNotFoundError):
            return False
        return True


@pytest.fixture(scope="session")
def stack(request: pytest.FixtureRequest) -> Iterator[Stack]:
    suffix = secrets.token_hex(4)
    vhost, db_name = f"innotter_e2e_{suffix}", f"innotter_e2e_{suffix}"
    var_dir = ROOT / "var" / f"e2e-{suffix}"
    api_port, stats_port, aws_port = free_port(), free_port(), free_port()
    env = {
        **os.environ,
        "API_PORT": str(api_port),
        "STATS_PORT": str(stats_port),
        "AWS_PORT": str(aws_port),
        "METRICS_PORT_BASE": str(free_metrics_port_base()),
        "POSTGRES_DB": db_name,
        "INNOTTER_VAR_DIR": str(var_dir),
        "RABBITMQ_URL": f"amqp://guest:guest@127.0.0.1:5672/{vhost}",
        # A production-like core: no debug, an explicit secret, keys from files.
        "DJANGO_DEBUG": "0",
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(32),
        "INNOTTER_ADMIN_EMAIL": ADMIN_EMAIL,
        "INNOTTER_ADMIN_PASSWORD": ADMIN_PASSWORD,
        "PAGE_UNBLOCK_INTERVAL_SECONDS": "5",
        "JWT_PRIVATE_KEY_FILE": str(var_dir / "keys" / "jwt_private.pem"),
        "JWT_PUBLIC_KEY_FILE": str(var_dir / "keys" / "jwt_public.pem"),
    }
    env.pop("RUN_SKIP", None)
    env.pop("DJANGO_SETTINGS_MODULE", None)
    rabbitmqctl("add_vhost", vhost)
    rabbitmqctl("set_permissions", "-p", vhost, "guest", ".*", ".*", ".*")
    stack = Stack(
        env=env,
        api=f"http://127.0.0.1:{api_port}",
        stats=f"http://127.0.0.1:{stats_port}",
        aws=f"http://127.0.0.1:{aws_port}",
        var_dir=var_dir,
    )
    failures_before = request.session.testsfailed
    try:
        started = stack.runner("start", timeout=420)
        assert started.returncode == 0, f"the stack did not start:\n{started.stdout}\n{started.stderr}"
        print(started.stdout)
        yield stack
    finally:
        stopped = stack.runner("stop", timeout=120)
        print(stopped.stdout, stopped.stderr)
        drop_database(db_name)
        rabbitmqctl("delete_vhost", vhost)
        if request.session.testsfailed == failures_before:
            shutil.rmtree(var_dir, ignore_errors=True)
        else:
            print(f"\nend-to-end logs kept in {var_dir / 'log'}")
