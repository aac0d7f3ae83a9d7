"""The benchmark's own Innotter stack: started and stopped with the project's local runner
(compose/local/runner.py) in its own database, RabbitMQ virtual host, ports and var directory."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import psutil

from observability.metrics_setup import free_metrics_port_base

ROOT = Path(__file__).resolve().parents[2]
RUNNER = ROOT / "compose" / "local" / "runner.py"
# The runner's process names (compose/local/runner.py ALL_SERVICES), in the order tables show them.
SERVICES = ("api", "relay", "worker", "beat", "stats-api", "stats-consumer", "aws")
BENCH_APP_NAME = "bench-writes"  # application_name of the benchmark's own database sessions


@dataclass(frozen=True)
class StackConfig:
    db: str
    vhost: str
    api_port: int
    stats_port: int
    aws_port: int
    api_workers: int
    api_worker_class: str
    api_threads: int
    log_level: str | None
    metrics_port_base: int = field(default_factory=free_metrics_port_base)
    scale: str = ""  # the runner's SCALE, e.g. "relay=2 worker=3 stats-consumer=2"

    @property
    def var_dir(self) -> Path:
        return ROOT / "var" / "bench-writes" / self.db

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    @property
    def rabbitmq_url(self) -> str:
        return f"amqp://guest:guest@127.0.0.1:5672/{self.vhost}"

    def gunicorn_cmd_args(self) -> str:
        """Worker class and threads through GUNICORN_CMD_ARGS, which gunicorn reads itself; the
        runner's `--workers 2` on the command line wins over it, so the count is set by signals."""
        args = f"--worker-class {self.api_worker_class}"
        return f"{args} --threads {self.api_threads}" if self.api_threads > 1 else args

    def env(self) -> dict[str, str]:
        """The environment of the runner (and so of every process it starts) and of this script."""
        env = {
            **os.environ,
            "POSTGRES_DB": self.db,
            "RABBITMQ_URL": self.rabbitmq_url,
            "API_PORT": str(self.api_port),
            "STATS_PORT": str(self.stats_port),
            "AWS_PORT": str(self.aws_port),
            "METRICS_PORT_BASE": str(self.metrics_port_base),
            "INNOTTER_VAR_DIR": str(self.var_dir),
            "DJANGO_DEBUG": "0",
            "DJANGO_SECRET_KEY": "bench-writes-only-secret-not-for-production",
            "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost",
            "JWT_PRIVATE_KEY_FILE": str(self.var_dir / "keys" / "jwt_private.pem"),
            "JWT_PUBLIC_KEY_FILE": str(self.var_dir / "keys" / "jwt_public.pem"),
            "JWT_ACCESS_TTL_SECONDS": "7200",
            "APP_BASE_URL": self.api_url,
            "AWS_ENDPOINT_URL": f"http://127.0.0.1:{self.aws_port}",
            "STATS_SERVICE_URL": f"http://127.0.0.1:{self.stats_port}",
            "API_WORKERS": str(self.api_workers),  # for a runner that reads it; checked below anyway
            "GUNICORN_CMD_ARGS": self.gunicorn_cmd_args(),
            "SCALE": self.scale,
        }
        if self.log_level:
            env["LOG_LEVEL"] = self.log_level
        return env


def say(message: str) -> None:
    print(f"[bench.writes {time.strftime('%H:%M:%S')}] {message}", flush=True)


def runner(cfg: StackConfig, *command: str) -> int:
    return subprocess.run(
        [sys.executable, str(RUNNER), *command], cwd=ROOT, env=cfg.env(), check=False
    ).returncode


def leader_pid(cfg: StackConfig, name: str) -> int | None:
    try:
        pid = int((cfg.var_dir / "run" / name / "pid").read_text().strip())
    except (OSError, ValueError):
        return None
    return pid if psutil.pid_exists(pid) else None


def instance_names(cfg: StackConfig, name: str) -> list[str]:
    """The service's instances with a pid file: `relay`, or `relay-1`, `relay-2` when scaled."""
    found = [path.parent.name for path in (cfg.var_dir / "run").glob(f"{name}*/pid")]
    return sorted(n for n in found if n == name or n.removeprefix(f"{name}-").isdigit())


def running_services(cfg: StackConfig) -> list[str]:
    return [name for name in SERVICES if service_processes(cfg, name)]


def service_processes(cfg: StackConfig, name: str) -> list[psutil.Process]:
    """The processes of every instance of the service and all their descendants (gunicorn
    workers, Celery pool children)."""
    found = []
    for instance in instance_names(cfg, name):
        pid = leader_pid(cfg, instance)
        with contextlib.suppress(psutil.NoSuchProcess):
            if pid is not None:
                leader = psutil.Process(pid)
                found += [leader, *leader.children(recursive=True)]
    return found


def rabbitmqctl(*args: str) -> str:
    result = subprocess.run(["rabbitmqctl", *args], capture_output=True, text=True, check=False)
    output = result.stderr + result.stdout
    if result.returncode != 0 and "does_not_exist" not in output and "does not exist" not in output:
        raise RuntimeError(f"rabbitmqctl {' '.join(args)} failed: {result.stderr.strip()}")
    return result.stdout


def reset_vhost(vhost: str) -> None:
    """A fresh virtual host: no queue or message of an earlier run survives."""
    rabbitmqctl("-q", "delete_vhost", vhost)
    rabbitmqctl("-q", "add_vhost", vhost)
    rabbitmqctl("-q", "set_permissions", "-p", vhost, "guest", ".*", ".*", ".*")


def drop_database(db: str) -> None:
    import psycopg
    from psycopg import sql

    with psycopg.connect(
        host="127.0.0.1", user="postgres", dbname="postgres", autocommit=True, application_name=BENCH_APP_NAME
    ) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(db)))


def start(cfg: StackConfig) -> None:
    """A fresh database and virtual host, then the runner's `start` (returns once all are healthy)."""
    if running_services(cfg):
        raise SystemExit(
            f"a benchmark stack is already running under {cfg.var_dir}: --reuse-stack, or stop it"
        )
    say(f"fresh database {cfg.db} and virtual host {cfg.vhost}")
    drop_database(cfg.db)
    reset_vhost(cfg.vhost)
    (cfg.var_dir / "log").mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    if runner(cfg, "start") != 0:
        raise SystemExit(f"the runner could not start the stack; logs under {cfg.var_dir / 'log'}")
    say(f"stack up in {time.monotonic() - started:.0f}s")
    (cfg.var_dir / "gunicorn-args").write_text(cfg.gunicorn_cmd_args())
    set_api_workers(cfg)


def check_reusable(cfg: StackConfig) -> None:
    """A kept stack serves this run only if all of it runs and gunicorn has the asked worker
    class (the worker count is adjusted; the class needs a restart)."""
    missing = sorted(set(SERVICES) - set(running_services(cfg)))
    if missing:
        raise SystemExit(f"--reuse-stack: not running under {cfg.var_dir}: {', '.join(missing)}")
    recorded = cfg.var_dir / "gunicorn-args"
    started_with = recorded.read_text() if recorded.exists() else "?"
    wanted = cfg.gunicorn_cmd_args()
    if started_with != wanted:
        raise SystemExit(
            f"--reuse-stack: the API runs with {started_with!r}, not {wanted!r}: start a new stack"
        )
    set_api_workers(cfg)


def stop(cfg: StackConfig) -> None:
    runner(cfg, "stop")


def api_workers(cfg: StackConfig) -> list[psutil.Process]:
    pid = leader_pid(cfg, "api")
    if pid is None:
        raise RuntimeError("the API is not running")
    return psutil.Process(pid).children()


def set_api_workers(cfg: StackConfig, timeout: float = 60) -> None:
    """Grow or shrink gunicorn to cfg.api_workers with TTIN / TTOU (the runner fixes --workers 2)."""
    master = leader_pid(cfg, "api")
    assert master is not None
    deadline = time.monotonic() + timeout
    while (count := len(api_workers(cfg))) != cfg.api_workers:
        if time.monotonic() > deadline:
            raise RuntimeError(f"gunicorn has {count} workers, not {cfg.api_workers}")
        os.kill(master, signal.SIGTTIN if count < cfg.api_workers else signal.SIGTTOU)
        wait_until = time.monotonic() + 5
        while len(api_workers(cfg)) == count and time.monotonic() < wait_until:
            time.sleep(0.1)
    wait_http(f"{cfg.api_url}/health")
    say(f"API: gunicorn {cfg.gunicorn_cmd_args()}, {cfg.api_workers} workers")


def wait_http(url: str, timeout: float = 60) -> None:
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(url, timeout=2).status_code == 200:
                return
        time.sleep(0.2)
    raise RuntimeError(f"{url} did not answer")
