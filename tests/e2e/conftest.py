"""The whole stack for the end-to-end tests, started by the local runner with its own everything.

Own database (innotter_e2e_<suffix>), own RabbitMQ virtual host (so its exchange, queues and
Celery queue cannot meet anyone else's), own free ports, own AWS emulator, own var dir.
The stack is stopped and its database and virtual host removed at the end, even on failure.
`stack` runs one instance of each process; `scaled_stack` runs SCALED (two relays, three
workers, two statistics consumers) and knows which instance holds which role.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import socket
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psutil
import psycopg
import pytest
from psycopg import sql

from observability.metrics_setup import free_metrics_port_base

ROOT = Path(__file__).resolve().parents[2]
RUNNER = [sys.executable, str(ROOT / "compose" / "local" / "runner.py")]
ADMIN_EMAIL = "root@e2e.innotter.test"
ADMIN_PASSWORD = "E2e-admin-pass-2024"
SCALED = "relay=2 worker=3 stats-consumer=2"
AMQP_PORT = 5672


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def rabbitmqctl(*args: str) -> str:
    if shutil.which("rabbitmqctl") is None:
        pytest.fail("rabbitmqctl is needed to give the end-to-end stack its own virtual host")
    return subprocess.run(
        ["rabbitmqctl", "-q", *args], check=True, capture_output=True, text=True, timeout=60
    ).stdout


def rabbitmq_rows(*args: str) -> list[list[str]]:
    """The rows of a `rabbitmqctl list_...` command, tab-separated, without the header."""
    return [line.split("\t") for line in rabbitmqctl(*args, "--no-table-headers").splitlines() if line]


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
    vhost: str

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

    def instances(self, service: str) -> list[str]:
        """The names of the service's running instances (`relay` alone, `relay-1`, ... scaled)."""
        names = [path.parent.name for path in (self.var_dir / "run").glob(f"{service}*/pid")]
        mine = [n for n in names if n == service or n.removeprefix(f"{service}-").isdigit()]
        return sorted(n for n in mine if self.is_running(n))

    def publishing_relay(self) -> str | None:
        """The running relay instance holding the advisory lock (its last word on it: acquired)."""
        holders = [name for name in self.instances("relay") if self._took_the_lock_last(name)]
        assert len(holders) <= 1, f"two running relays took the lock: {holders}"
        return holders[0] if holders else None

    def _took_the_lock_last(self, relay: str) -> bool:
        log = (self.var_dir / "log" / f"{relay}.log").read_text(errors="replace").splitlines()
        said = [line for line in log if "lock acquired" in line or "holds the lock" in line]
        return bool(said) and "lock acquired" in said[-1]

    def active_consumer(self, service: str, queue: str) -> str | None:
        """The instance of `service` the queue delivers to (single active consumer), if any:
        the broker's active consumer -> its channel -> its connection's client port -> the
        local process on that port -> the instance whose process group that is."""
        consumers = rabbitmq_rows("list_consumers", "-p", self.vhost, "queue_name", "channel_pid", "active")
        channels = [row[1] for row in consumers if row[0] == queue and row[2] == "true"]
        if not channels:
            return None
        by_channel = dict(rabbitmq_rows("list_channels", "-p", self.vhost, "pid", "connection"))
        ports = dict(rabbitmq_rows("list_connections", "-p", self.vhost, "pid", "peer_port"))
        port = int(ports[by_channel[channels[0]]]) if by_channel.get(channels[0]) in ports else None
        groups = {self.pid(name): name for name in self.instances(service)}
        for conn in psutil.net_connections(kind="tcp"):
            if conn.laddr and conn.laddr.port == port and conn.raddr and conn.raddr.port == AMQP_PORT:
                with contextlib.suppress(ProcessLookupError, TypeError):
                    return groups.get(os.getpgid(conn.pid))
        return None

    def close_broker_connections(self) -> None:
        """What clients see of a broker restart: the server closes every connection of this
        stack's virtual host (the shared RabbitMQ server itself keeps running)."""
        rabbitmqctl("close_all_connections", "-p", self.vhost, "end-to-end: broker restart simulated")


@contextlib.contextmanager
def running_stack(
    request: pytest.FixtureRequest | None,
    scale: str = "",
    *,
    prefix: str = "innotter_e2e",
    ports: tuple[int, int, int] | None = None,
    extra_env: dict[str, str] | None = None,
) -> Iterator[Stack]:
    """Start a stack (with SCALE `scale`), yield it, stop it and remove what it created (its
    logs stay when a test failed or, without a pytest request, always: benchmarks read them)."""
    suffix = secrets.token_hex(4)
    vhost, db_name = f"{prefix}_{suffix}", f"{prefix}_{suffix}"
    var_dir = ROOT / "var" / f"{prefix.removeprefix('innotter_').replace('_', '-')}-{suffix}"
    api_port, stats_port, aws_port = ports or (free_port(), free_port(), free_port())
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
        "SCALE": scale,
        **(extra_env or {}),
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
        vhost=vhost,
    )
    failures_before = request.session.testsfailed if request else -1
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
        if request and request.session.testsfailed == failures_before:
            shutil.rmtree(var_dir, ignore_errors=True)
        else:
            print(f"\nend-to-end logs kept in {var_dir / 'log'}")


@pytest.fixture(scope="session")
def stack(request: pytest.FixtureRequest) -> Iterator[Stack]:
    with running_stack(request) as started:
        yield started


@pytest.fixture(scope="module")
def scaled_stack(request: pytest.FixtureRequest) -> Iterator[Stack]:
    with running_stack(request, scale=SCALED) as started:
        yield started
