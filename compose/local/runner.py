"""The no-Docker runner: starts the whole Innotter system on this machine and stops it again.

    python compose/local/runner.py up        # foreground; Ctrl-C stops everything
    python compose/local/runner.py start     # returns once every process answers its health check
    python compose/local/runner.py stop      # stops a started stack (pid files under var/run/<name>/)
    python compose/local/runner.py status | kill NAME [--signal KILL] | restart NAME | seed
    python compose/local/runner.py start --scale relay=2 --scale worker=3   # several instances

Several instances of a process (`--scale NAME=N`, or SCALE="relay=2 worker=3 stats-consumer=2"
in the environment) are named NAME-1 ... NAME-N, each with its own log and pid file; a single
instance keeps the plain name. Only the relay, the worker and the statistics consumer scale
(SCALABLE); the started scale is remembered in <var>/run/scale so that stop, status, kill and
restart know every instance.

Every process the containers of docker-compose.yml run is listed here too (SERVICES and
setup_steps); tests/compose checks that, so the compose path cannot drift unseen.
Settings come from the environment (and .env): API_PORT, STATS_PORT, AWS_PORT, POSTGRES_DB,
INNOTTER_VAR_DIR (where logs, pid files and dev keys go) and everything in .env.example.
Each process gets PROCESS_NAME (its instance name) and METRICS_PORT: METRICS_PORT_BASE (9100)
plus its offset in METRICS_OFFSETS, plus 10 per instance after the first (relay-2: 9112).
The stack runs the production settings: DEBUG off unless DJANGO_DEBUG=1 (`make run DEBUG=1`),
Django's secret generated once into <var>/secret_key (mode 0600) and reused.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
VENV_BIN = ROOT / ".venv" / "bin"
STOP_TIMEOUT = float(os.environ.get("RUN_STOP_TIMEOUT", "15"))
# A process without an HTTP endpoint counts as started once it has stayed up this long.
SETTLE_SECONDS = 2.0


def _dotenv() -> dict[str, str]:
    """The variables of ROOT/.env (the process environment wins over it)."""
    path = ROOT / ".env"
    if not path.exists():
        return {}
    from dotenv import dotenv_values

    return {k: v for k, v in dotenv_values(path).items() if v is not None}


@dataclass(frozen=True)
class Config:
    """Where the stack listens and keeps its files; each value overridable by an env var."""

    api_port: int
    stats_port: int
    aws_port: int
    db_name: str
    var_dir: Path
    base_env: dict[str, str]
    health_timeout: float = 90.0
    metrics_port_base: int = 9100
    scale: dict[str, int] = field(default_factory=dict)  # service -> instances (SCALE); absent: one

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> Config:
        env = {**_dotenv(), **(os.environ if environ is None else environ)}
        var_dir = Path(env.get("INNOTTER_VAR_DIR") or ROOT / "var")
        return cls(
            api_port=int(env.get("API_PORT") or 8000),
            stats_port=int(env.get("STATS_PORT") or 8001),
            aws_port=int(env.get("AWS_PORT") or 5000),
            db_name=env.get("POSTGRES_DB") or "innotter",
            var_dir=var_dir if var_dir.is_absolute() else ROOT / var_dir,
            base_env=env,
            health_timeout=float(env.get("RUN_HEALTH_TIMEOUT") or 90),
            metrics_port_base=int(env.get("METRICS_PORT_BASE") or 9100),
            scale=parse_scale((env.get("SCALE") or "").replace(",", " ").split()),
        )

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    @property
    def stats_url(self) -> str:
        return f"http://127.0.0.1:{self.stats_port}"

    @property
    def aws_url(self) -> str:
        return f"http://127.0.0.1:{self.aws_port}"

    def log_path(self, name: str) -> Path:
        return self.var_dir / "log" / f"{name}.log"

    def pid_path(self, name: str) -> Path:
        return self.var_dir / "run" / name / "pid"

    def child_env(self) -> dict[str, str]:
        """The environment every process gets: the configured one plus this stack's addresses."""
        env = dict(self.base_env)
        # DJANGO_DEBUG is passed on only when set: production settings unless asked.
        if not env.get("DJANGO_SECRET_KEY") and not env.get("DJANGO_SECRET_KEY_FILE"):
            env["DJANGO_SECRET_KEY_FILE"] = str(ensure_secret_key(self.var_dir / "secret_key"))
        env.setdefault("AWS_ACCESS_KEY_ID", "testing")
        env.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
        env.setdefault("INNOTTER_ADMIN_EMAIL", "admin@innotter.local")
        env.setdefault("INNOTTER_ADMIN_PASSWORD", "change-me-admin")
        env.setdefault("JWT_PRIVATE_KEY_FILE", str(self.var_dir / "keys" / "jwt_private.pem"))
        env.setdefault("JWT_PUBLIC_KEY_FILE", str(self.var_dir / "keys" / "jwt_public.pem"))
        env.update(
            POSTGRES_DB=self.db_name,
            AWS_ENDPOINT_URL=self.aws_url,
            STATS_SERVICE_URL=self.stats_url,
            APP_BASE_URL=self.api_url,
            PYTHONUNBUFFERED="1",
            PYTHONPATH=str(ROOT),
            PATH=f"{VENV_BIN}{os.pathsep}{env.get('PATH', os.defpath)}",
        )
        return env


# Each process's metrics port is METRICS_PORT_BASE + its offset (+ 10 per further instance);
# beat and the AWS emulator serve none. observability/metrics_setup.py has the same defaults.
METRICS_OFFSETS = {"api": 1, "relay": 2, "worker": 3, "stats-api": 4, "stats-consumer": 5}


def metrics_port(cfg: Config, name: str) -> int | None:
    """The metrics port of process instance `name` (`relay`, `relay-2`), None if it has none."""
    service, _, number = name.rpartition("-")
    if not (service and number.isdigit()):
        service, number = name, "1"
    offset = METRICS_OFFSETS.get(service)
    return None if offset is None else cfg.metrics_port_base + offset + 10 * (int(number) - 1)


def metrics_url(cfg: Config, name: str) -> str | None:
    port = metrics_port(cfg, name)
    return None if port is None else f"http://127.0.0.1:{port}/metrics"


def process_env(cfg: Config, name: str) -> dict[str, str]:
    """The environment of one process instance: the stack's, plus its name and metrics port."""
    env = {**cfg.child_env(), "PROCESS_NAME": name}
    env.pop("METRICS_PORT", None)  # one stack-wide value would put every process on one port
    # gunicorn's and Celery's shared metrics files stay with the stack's other run-time files
    env["METRICS_MULTIPROC_DIR"] = env.get("METRICS_MULTIPROC_DIR") or str(cfg.var_dir / "run" / "metrics")
    port = metrics_port(cfg, name)
    if port is not None:
        env["METRICS_PORT"] = str(port)
    return env


def ensure_secret_key(path: Path) -> Path:
    """Django's secret for this stack's processes: generated once (mode 0600), then reused, so
    sessions and signed values survive restarts; it stays in the file, out of every environment."""
    if path.exists():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    draft = path.with_name(f".{path.name}.{os.getpid()}")
    fd = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(secrets.token_urlsafe(50) + "\n")
    try:
        os.link(draft, path)  # all or nothing, and never over one another runner made meanwhile
        say(f"generated Django's secret key into {path} (mode 0600)")
    except FileExistsError:
        pass
    finally:
        draft.unlink()
    return path


def tool(name: str) -> str:
    """A program of the project's virtualenv (falling back to PATH)."""
    candidate = VENV_BIN / name
    return str(candidate) if candidate.exists() else (shutil.which(name) or name)


# --- health checks ----------------------------------------------------------------------------

Check = Callable[["Service", Config, "Running"], bool]


def http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError, ValueError):
        return False


def http_check(path: str, port_of: Callable[[Config], int]) -> Check:
    return lambda svc, cfg, run: http_ok(f"http://127.0.0.1:{port_of(cfg)}{path}")


def log_line_check(marker: str) -> Check:
    """Healthy once the process has logged `marker` since it was started."""

    def check(svc: Service, cfg: Config, run: Running) -> bool:
        with contextlib.suppress(OSError), open(cfg.log_path(run.name), "rb") as f:
            f.seek(run.log_offset)
            return marker.encode() in f.read()
        return False

    return check


def settled_check(svc: Service, cfg: Config, run: Running) -> bool:
    return time.monotonic() - run.started_at >= SETTLE_SECONDS


# --- what runs --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Service:
    """A long-running process of the stack."""

    name: str
    argv: Callable[[Config], list[str]]
    check: Check
    cwd: Callable[[Config], Path] = lambda cfg: ROOT
    # arguments naming one instance among several (a Celery worker's node name)
    instance_args: Callable[[str], list[str]] = lambda name: []


@dataclass
class Running:
    pid: int
    started_at: float
    log_offset: int
    proc: subprocess.Popen[bytes] | None = field(default=None, repr=False)
    name: str = ""  # the instance's name: `relay`, or `relay-2` among several


AWS = Service(
    "aws",
    # moto's application under gunicorn's threaded worker, so that clients keep their
    # connections (compose/local/aws_emulator.py); one process: the emulator's state is in it.
    lambda c: [
        tool("gunicorn"),
        "--pythonpath",
        str(ROOT / "compose" / "local"),
        "aws_emulator:application",
        "--worker-class",
        "gthread",
        "--workers",
        "1",
        "--threads",
        "16",
        "--keep-alive",
        "75",
        "--no-control-socket",  # one per user by default: several stacks would share it
        "--bind",
        f"127.0.0.1:{c.aws_port}",
    ],
    http_check("/moto-api/", lambda c: c.aws_port),
)
SERVICES: list[Service] = [
    Service(
        "api",
        lambda c: [
            tool("gunicorn"),
            "core_app.wsgi:application",
            # workers (API_WORKERS, API_WORKER_CLASS) and request limits: core_app/gunicorn_conf.py
            "--config",
            "python:core_app.gunicorn_conf",
            "--bind",
            f"127.0.0.1:{c.api_port}",
        ],
        http_check("/health", lambda c: c.api_port),
    ),
    Service("relay", lambda c: [tool("python"), "manage.py", "run_relay"], settled_check),
    Service(
        "worker",
        # --quiet: no banner, so that its log holds only JSON lines (observability/logs.py)
        lambda c: [tool("celery"), "-A", "projections.celery_app", "--quiet", "worker", "--loglevel=INFO"],
        log_line_check(" ready."),
        # distinct node names (worker-1@host, ...); compose gives each container worker@<its id>
        instance_args=lambda name: ["-n", f"{name}@%h"],
    ),
    # beat keeps its schedule file in its working directory: one per stack, not in the repository.
    Service(
        "beat",
        lambda c: [tool("celery"), "-A", "projections.celery_app", "--quiet", "beat", "--loglevel=INFO"],
        settled_check,
        cwd=lambda c: c.var_dir / "run" / "beat",
    ),
    Service(
        "stats-api",
        lambda c: [
            tool("uvicorn"),
            "stats_ms.main:app",
            "--host",
            "127.0.0.1",
            "--port",
            str(c.stats_port),
        ],
        http_check("/health", lambda c: c.stats_port),
    ),
    Service("stats-consumer", lambda c: [tool("python"), "-m", "stats_ms.consumer"], settled_check),
]
ALL_SERVICES = [AWS, *SERVICES]


# --- several instances ------------------------------------------------------------------------

# The processes that may run as several instances, and what an extra one does.
SCALABLE = {
    "relay": "a hot standby waiting on the relay's advisory lock; it publishes once the holder dies",
    "worker": "one more process for the Celery tasks (fan-out, e-mail, digests) and a standby for "
    "the event consumer",
    "stats-consumer": "a hot standby: the statistics queue delivers to a single active consumer",
}
NOT_SCALABLE = {
    "api": "the API scales with API_WORKERS (gunicorn worker processes on one port); "
    "more machines need a load balancer in front of several stacks' APIs",
    "beat": "beat is the scheduler: a second one would start every periodic task twice",
    "stats-api": "it serves one port (STATS_PORT); several would need their own ports behind a "
    "load-balancing proxy, which the runner does not run",
    "aws": "the AWS emulator keeps its data in its memory",
}


class ScaleError(RuntimeError):
    """A scale the runner refuses (unknown process, a process that must stay one, a bad count)."""


def parse_scale(items: list[str]) -> dict[str, int]:
    """`["relay=2", "worker=3"]` -> {"relay": 2, "worker": 3}; refuses what may not scale."""
    scale: dict[str, int] = {}
    for item in items:
        name, sep, count = (part.strip() for part in item.partition("="))
        if not sep or not count.isdigit() or int(count) < 1:
            raise ScaleError(f"scale {item!r}: expected NAME=N with N >= 1, e.g. worker=3")
        if name not in SCALABLE and name not in NOT_SCALABLE:
            raise ScaleError(f"scale {item!r}: no process {name!r}; these scale: {', '.join(SCALABLE)}")
        if int(count) > 1 and name in NOT_SCALABLE:
            raise ScaleError(f"{name} cannot run as {count} instances: {NOT_SCALABLE[name]}")
        scale[name] = int(count)
    return scale


@dataclass(frozen=True)
class Instance:
    """One process of a service: `relay` when it runs alone, `relay-1`, `relay-2` among several."""

    service: Service
    number: int = 1
    count: int = 1

    @property
    def name(self) -> str:
        return self.service.name if self.count == 1 else f"{self.service.name}-{self.number}"

    def argv(self, cfg: Config) -> list[str]:
        return [*self.service.argv(cfg), *self.service.instance_args(self.name)]

    def env(self, cfg: Config) -> dict[str, str]:
        """The stack's environment plus this instance's name and metrics port."""
        env = process_env(cfg, self.name)
        if self.service.name == "worker" and self.count > 1 and not env.get("DIGEST_SENDER_PROCESSES"):
            # SES's send rate is shared by every process that may send digests: each worker's
            # prefork pool (the runner leaves Celery's default concurrency, one per CPU).
            env["DIGEST_SENDER_PROCESSES"] = str(self.count * (os.cpu_count() or 1))
        return env


def instances(cfg: Config, services: list[Service] | None = None) -> list[Instance]:
    """Every instance the configured scale asks for, service by service."""
    out: list[Instance] = []
    for svc in ALL_SERVICES if services is None else services:
        count = cfg.scale.get(svc.name, 1)
        out.extend(Instance(svc, number, count) for number in range(1, count + 1))
    return out


def scale_path(cfg: Config) -> Path:
    return cfg.var_dir / "run" / "scale"


def remember_scale(cfg: Config) -> None:
    """Note the started scale, so that stop, status, kill and restart know every instance."""
    scale_path(cfg).parent.mkdir(parents=True, exist_ok=True)
    scale_path(cfg).write_text("".join(f"{name}={count}\n" for name, count in sorted(cfg.scale.items())))


def with_started_scale(cfg: Config) -> Config:
    """The configuration with the scale the running stack was started with (if it was)."""
    try:
        return replace(cfg, scale=parse_scale(scale_path(cfg).read_text().split()))
    except OSError:
        return cfg


def instance_named(cfg: Config, name: str) -> Instance:
    """The instance called `name`; a scaled service's plain name is refused with its instances'."""
    known = instances(cfg)
    for inst in known:
        if inst.name == name:
            return inst
    scaled = [inst.name for inst in known if inst.service.name == name]
    if scaled:
        raise SystemExit(f"{name} runs as {len(scaled)} instances: name one of {', '.join(scaled)}")
    raise SystemExit(f"unknown process {name!r}; known: {', '.join(inst.name for inst in known)}")


def setup_phases(cfg: Config) -> list[list[tuple[str, list[str]]]]:
    """The one-shot commands run before the processes start: phase by phase, each phase's steps
    side by side (they are independent); every step is idempotent."""
    python = tool("python")
    return [
        [
            ("migrate", [python, "manage.py", "migrate", "--noinput"]),
            ("keys", [python, "manage.py", "generate_jwt_keys"]),
            ("topology", [python, "manage.py", "declare_topology"]),
            ("aws", [python, "manage.py", "ensure_aws"]),
            ("stats-tables", [python, "-m", "stats_ms.setup"]),
        ],
        # the admin account needs the migrated tables
        [("admin", [python, "manage.py", "ensure_admin"])],
    ]


def setup_steps(cfg: Config) -> list[tuple[str, list[str]]]:
    return [step for phase in setup_phases(cfg) for step in phase]


def skipped_services(cfg: Config) -> set[str]:
    """Steps or processes left out on purpose (RUN_SKIP=worker,beat); always announced, never silent."""
    return {n.strip() for n in cfg.base_env.get("RUN_SKIP", "").split(",") if n.strip()}


# --- processes --------------------------------------------------------------------------------


def read_pid(cfg: Config, name: str) -> int | None:
    try:
        return int(cfg.pid_path(name).read_text().strip())
    except (OSError, ValueError):
        return None


def group_alive(pid: int) -> bool:
    try:
        os.killpg(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def spawn(target: Service | Instance, cfg: Config) -> Running:
    """Start one instance in its own process group, output appended to its log file."""
    inst = target if isinstance(target, Instance) else Instance(target)
    name = inst.name
    current = read_pid(cfg, name)
    if current is not None and group_alive(current):
        raise RuntimeError(f"{name} is already running (pid {current})")
    log = cfg.log_path(name)
    log.parent.mkdir(parents=True, exist_ok=True)
    cwd = inst.service.cwd(cfg)
    cwd.mkdir(parents=True, exist_ok=True)
    offset = log.stat().st_size if log.exists() else 0
    with open(log, "ab") as out:
        proc = subprocess.Popen(
            inst.argv(cfg),
            cwd=cwd,
            env=inst.env(cfg),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    cfg.pid_path(name).parent.mkdir(parents=True, exist_ok=True)
    cfg.pid_path(name).write_text(f"{proc.pid}\n")
    return Running(pid=proc.pid, started_at=time.monotonic(), log_offset=offset, proc=proc, name=name)


def _exited(run: Running) -> bool:
    if run.proc is not None:
        return run.proc.poll() is not None
    return not group_alive(run.pid)


def wait_healthy(svc: Service, cfg: Config, run: Running) -> None:
    """Poll the service's health check until it passes; fail if it exits or the deadline passes."""
    timeout = cfg.health_timeout
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if _exited(run):
            raise RuntimeError(f"{run.name} exited during start-up\n{log_tail(cfg, run.name)}")
        if svc.check(svc, cfg, run) and not _exited(run):
            return
        time.sleep(0.2)
    raise RuntimeError(f"{run.name} not healthy after {timeout:g}s\n{log_tail(cfg, run.name)}")


def log_tail(cfg: Config, name: str, lines: int = 30) -> str:
    try:
        text = cfg.log_path(name).read_text(errors="replace").splitlines()[-lines:]
    except OSError:
        return f"(no log at {cfg.log_path(name)})"
    return "\n".join(f"  {name}| {line}" for line in text)


def signal_service(cfg: Config, name: str, sig: signal.Signals) -> bool:
    """Send `sig` to the service's whole process group (a Celery worker and its pool children)."""
    pid = read_pid(cfg, name)
    if pid is None or not group_alive(pid):
        return False
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, sig)
    return True


def wait_gone(pid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)
        if not group_alive(pid):
            return True
        time.sleep(0.1)
    return not group_alive(pid)


def stop_service(cfg: Config, name: str) -> None:
    """SIGTERM the group, SIGKILL it if it lingers, then remove the pid file."""
    pid = read_pid(cfg, name)
    if pid is not None and signal_service(cfg, name, signal.SIGTERM) and not wait_gone(pid, STOP_TIMEOUT):
        signal_service(cfg, name, signal.SIGKILL)
        wait_gone(pid, 5)
    with contextlib.suppress(FileNotFoundError):
        cfg.pid_path(name).unlink()


def pid_names(cfg: Config) -> list[str]:
    """Every instance with a pid file: of the configured scale, and any other left under run/."""
    names = [inst.name for inst in instances(cfg)]
    with contextlib.suppress(OSError):
        for path in sorted((cfg.var_dir / "run").glob("*/pid")):
            service, _, number = path.parent.name.rpartition("-")
            if path.parent.name not in names and number.isdigit() and service in SCALABLE:
                names.append(path.parent.name)
    return names


def stop_all(cfg: Config) -> None:
    """SIGTERM every process at once, give them STOP_TIMEOUT seconds together, then SIGKILL."""
    pids = {name: read_pid(cfg, name) for name in pid_names(cfg)}
    signalled = {name: pid for name, pid in pids.items() if pid and signal_service(cfg, name, signal.SIGTERM)}
    deadline = time.monotonic() + STOP_TIMEOUT
    for name, pid in signalled.items():
        if not wait_gone(pid, max(0.0, deadline - time.monotonic())):
            say(f"{name} ignored SIGTERM for {STOP_TIMEOUT:g}s; killing it")
            signal_service(cfg, name, signal.SIGKILL)
            wait_gone(pid, 5)
    for name in pids:
        with contextlib.suppress(FileNotFoundError):
            cfg.pid_path(name).unlink()
    with contextlib.suppress(FileNotFoundError):
        scale_path(cfg).unlink()


# --- setup ------------------------------------------------------------------------------------


def ensure_database(cfg: Config) -> None:
    """Create the configured database if PostgreSQL does not have it yet."""
    import psycopg
    from psycopg import sql
    from psycopg.conninfo import make_conninfo

    env = cfg.child_env()
    conninfo = make_conninfo(
        host=env.get("POSTGRES_HOST", "127.0.0.1"),
        port=env.get("POSTGRES_PORT", "5432"),
        user=env.get("POSTGRES_USER", "postgres"),
        password=env.get("POSTGRES_PASSWORD", ""),
        dbname="postgres",
    )
    with psycopg.connect(conninfo, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [cfg.db_name]).fetchone()
        if not exists:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(cfg.db_name)))
            say(f"created database {cfg.db_name}")


REDIS_START = [
    "redis-server", "--daemonize", "yes", "--bind", "127.0.0.1", "-::1", "--port", "{port}",
    "--save", "", "--appendonly", "no", "--dir", "/var/lib/redis", "--logfile", "/var/log/redis/ci.log",
]  # fmt: skip


def ensure_redis(cfg: Config) -> None:
    """Start the local Redis (the home feeds) if REDIS_URL points here and it is installed but stopped."""
    from urllib.parse import urlsplit

    url = urlsplit(cfg.child_env().get("REDIS_URL") or "redis://127.0.0.1:6379/0")
    host, port = url.hostname or "127.0.0.1", url.port or 6379
    if host not in ("127.0.0.1", "localhost") or not port_free(port) or shutil.which("redis-server") is None:
        return
    say("starting Redis")
    subprocess.run([arg.format(port=port) for arg in REDIS_START], check=False)
    deadline = time.monotonic() + 30
    while port_free(port) and time.monotonic() < deadline:
        time.sleep(0.2)


def run_phase(cfg: Config, steps: list[tuple[str, list[str]]]) -> None:
    """Run the steps side by side, each logging to var/log/setup-<name>.log; fail if any fails."""
    started = []
    for name, argv in steps:
        label = " ".join([Path(argv[0]).name, *argv[1:]])
        say(f"setup: {label}")
        with open(cfg.log_path(f"setup-{name}"), "ab") as out:
            proc = subprocess.Popen(argv, cwd=ROOT, env=cfg.child_env(), stdout=out, stderr=subprocess.STDOUT)
        started.append((name, label, proc))
    failed = []
    for name, label, proc in started:
        try:
            code = proc.wait(timeout=600)
        except subprocess.TimeoutExpired:
            proc.kill()
            code = proc.wait()
        if code != 0:
            failed.append(f"setup step failed ({label}), exit {code}\n{log_tail(cfg, f'setup-{name}')}")
    if failed:
        raise RuntimeError("\n".join(failed))


def port_free(port: int) -> bool:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def check_ports(cfg: Config) -> None:
    for label, port in (
        ("API_PORT", cfg.api_port),
        ("STATS_PORT", cfg.stats_port),
        ("AWS_PORT", cfg.aws_port),
    ):
        if not port_free(port):
            raise RuntimeError(f"port {port} ({label}) is in use; choose another with {label}=...")


# --- start / stop -----------------------------------------------------------------------------


def say(message: str) -> None:
    print(f"[innotter {time.strftime('%H:%M:%S')}] {message}", flush=True)


def start_service(cfg: Config, inst: Instance) -> Running:
    say(f"starting {inst.name}")
    run = spawn(inst, cfg)
    wait_healthy(inst.service, cfg, run)
    say(f"{inst.name} is up (pid {run.pid})")
    return run


def wait_all_healthy(cfg: Config, running: dict[str, Running]) -> None:
    """Wait for every started instance at once (they come up in parallel)."""
    for name, run in running.items():
        wait_healthy(instance_named(cfg, name).service, cfg, run)
        say(f"{name} is up (pid {run.pid})")


def start_stack(cfg: Config) -> dict[str, Running]:
    """Set up and start everything; on any failure stop what was started and re-raise."""
    (cfg.var_dir / "log").mkdir(parents=True, exist_ok=True)
    names = pid_names(with_started_scale(cfg)) + pid_names(cfg)
    already = sorted({n for n in names if (pid := read_pid(cfg, n)) is not None and group_alive(pid)})
    if already:
        raise RuntimeError(f"already running: {', '.join(already)} (stop it first: make stop)")
    check_ports(cfg)
    skipped = skipped_services(cfg)
    running: dict[str, Running] = {}
    remember_scale(cfg)
    try:
        running[AWS.name] = start_service(cfg, Instance(AWS))
        ensure_redis(cfg)
        ensure_database(cfg)
        for phase in setup_phases(cfg):
            for name in sorted(skipped & {name for name, _ in phase}):
                say(f"WARNING: setup step {name} NOT run (RUN_SKIP)")
            run_phase(cfg, [(name, argv) for name, argv in phase if name not in skipped])
        for svc in SERVICES:
            if svc.name in skipped:
                say(f"WARNING: {svc.name} NOT started (RUN_SKIP)")
        for inst in instances(cfg, SERVICES):
            if inst.service.name not in skipped:
                say(f"starting {inst.name}")
                running[inst.name] = spawn(inst, cfg)
        wait_all_healthy(cfg, {name: running[name] for name in running if name != AWS.name})
    except BaseException:
        stop_all(cfg)
        raise
    return running


def rabbitmq_ui() -> str:
    with socket.socket() as s:
        s.settimeout(0.5)
        if s.connect_ex(("127.0.0.1", 15672)) == 0:
            return "http://127.0.0.1:15672 (guest/guest)"
    return "management UI not enabled (rabbitmq-plugins enable rabbitmq_management)"


def summary(cfg: Config) -> str:
    env = cfg.child_env()
    debug = env.get("DJANGO_DEBUG", "").strip().lower() in {"1", "true", "yes", "on"}
    rows = [
        ("Mode", "DEBUG (development only)" if debug else "production settings (make run DEBUG=1 for debug)"),
        ("API", f"{cfg.api_url}/api/v1/"),
        ("API docs", f"{cfg.api_url}/api/docs/  (ReDoc: /api/redoc/, schema: {cfg.api_url}/api/schema/)"),
        ("Admin panel", f"{cfg.api_url}/admin/  ({env['INNOTTER_ADMIN_EMAIL']})"),
        ("Health", f"{cfg.api_url}/health"),
        (
            "Statistics",
            f"{cfg.stats_url}/stats/pages/<page_id>  (docs: /docs, health: {cfg.stats_url}/health)",
        ),
        ("AWS emulator", f"{cfg.aws_url}  (sent e-mails: {cfg.aws_url}/moto-api/data.json)"),
        ("RabbitMQ", f"{env.get('RABBITMQ_URL', 'amqp://guest:guest@127.0.0.1:5672/')}  UI: {rabbitmq_ui()}"),
        ("PostgreSQL", f"database {cfg.db_name}"),
        ("Logs", f"{cfg.var_dir / 'log'}/<process>.log"),
        ("Metrics", metrics_summary(cfg)),
    ]
    scaled = [
        f"{name} x{count}: each extra one is {SCALABLE[name]}"
        for name, count in cfg.scale.items()
        if count > 1
    ]
    rows += [("Scaled" if i == 0 else "", line) for i, line in enumerate(scaled)]
    width = max(len(label) for label, _ in rows)
    indent = "\n" + " " * (width + 4)  # a value of several lines stays in its column
    rows = [(label, value.replace("\n", indent)) for label, value in rows]
    return "\n".join(f"  {label.ljust(width)}  {value}" for label, value in rows)


def metrics_summary(cfg: Config) -> str:
    if cfg.child_env().get("METRICS_ENABLED", "").strip().lower() in {"0", "false", "no", "off"}:
        return "off (METRICS_ENABLED=0)"
    urls = [f"{inst.name} {url}" for inst in instances(cfg, SERVICES) if (url := metrics_url(cfg, inst.name))]
    return "\n".join(urls)


@contextlib.contextmanager
def stop_on_signals(cfg: Config) -> Iterator[None]:
    """Turn SIGINT and SIGTERM into KeyboardInterrupt so Ctrl-C and `kill` both stop the stack cleanly."""

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    # SIGINT explicitly too: a shell starting the runner in the background sets it to "ignore".
    previous = {sig: signal.signal(sig, interrupt) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def watch(cfg: Config, running: dict[str, Running]) -> None:
    """Report processes that die, until interrupted."""
    reported: set[str] = set()
    while True:
        for name, run in running.items():
            if name not in reported and _exited(run):
                reported.add(name)
                say(f"WARNING: {name} exited; its log:\n{log_tail(cfg, name)}")
        time.sleep(1)


def cmd_up(cfg: Config) -> int:
    with stop_on_signals(cfg):
        try:
            running = start_stack(cfg)
            say("Innotter is running. Ctrl-C stops everything.\n" + summary(cfg))
            watch(cfg, running)
        except KeyboardInterrupt:
            say("stopping")
        finally:
            # a second Ctrl-C must not cut the clean-up short
            signal.signal(signal.SIGINT, signal.SIG_IGN)
            stop_all(cfg)
    say("stopped")
    return 0


def cmd_start(cfg: Config) -> int:
    start_stack(cfg)
    say("Innotter is running in the background (make stop stops it).\n" + summary(cfg))
    return 0


def cmd_stop(cfg: Config) -> int:
    stop_all(cfg)
    say("stopped")
    return 0


def cmd_status(cfg: Config) -> int:
    down = 0
    for inst in instances(cfg):
        pid = read_pid(cfg, inst.name)
        alive = pid is not None and group_alive(pid)
        down += not alive
        url = metrics_url(cfg, inst.name)
        state = f"running pid {pid}" if alive else "stopped"
        print(f"{inst.name:17} {state:20} {'metrics ' + url if url else ''}".rstrip())
    return 1 if down else 0


def cmd_kill(cfg: Config, name: str, sig_name: str) -> int:
    name = instance_named(cfg, name).name
    sig = signal.Signals[f"SIG{sig_name.upper().removeprefix('SIG')}"]
    pid = read_pid(cfg, name)
    if pid is None or not signal_service(cfg, name, sig):
        say(f"{name} is not running")
        return 1
    if sig in (signal.SIGKILL, signal.SIGTERM):
        wait_gone(pid, STOP_TIMEOUT)
    say(f"sent {sig.name} to {name} (pid {pid})")
    return 0


def cmd_restart(cfg: Config, name: str) -> int:
    inst = instance_named(cfg, name)
    stop_service(cfg, inst.name)
    start_service(cfg, inst)
    return 0


def cmd_seed(cfg: Config) -> int:
    return subprocess.run(
        [tool("python"), "manage.py", "seed_demo"], cwd=ROOT, env=cfg.child_env(), check=False
    ).returncode


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    for name in ("up", "start"):
        sub.add_parser(name).add_argument(
            "--scale",
            action="append",
            default=[],
            metavar="NAME=N",
            help=f"run N instances of NAME (one of {', '.join(SCALABLE)}); adds to SCALE",
        )
    for name in ("stop", "status", "seed"):
        sub.add_parser(name)
    kill = sub.add_parser("kill")
    kill.add_argument("name")
    kill.add_argument("--signal", default="TERM")
    restart = sub.add_parser("restart")
    restart.add_argument("name")
    args = parser.parse_args(argv)
    try:
        cfg = Config.from_env()
        if args.command in ("up", "start"):
            cfg = replace(cfg, scale={**cfg.scale, **parse_scale(args.scale)})
        else:  # the running stack's instances, whatever SCALE says now
            cfg = with_started_scale(cfg)
    except ScaleError as exc:
        say(f"ERROR: {exc}")
        return 2
    commands: dict[str, Callable[[], int]] = {
        "up": lambda: cmd_up(cfg),
        "start": lambda: cmd_start(cfg),
        "stop": lambda: cmd_stop(cfg),
        "status": lambda: cmd_status(cfg),
        "seed": lambda: cmd_seed(cfg),
        "kill": lambda: cmd_kill(cfg, args.name, args.signal),
        "restart": lambda: cmd_restart(cfg, args.name),
    }
    try:
        return commands[args.command]()
    except RuntimeError as exc:
        say(f"ERROR: {exc}")
        return 1


if __name__ == "__main__":
    sys.exit(main())
