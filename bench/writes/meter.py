"""CPU seconds per process group over a window, and the pipeline's drain (relay caught up,
queues empty).

Groups: each runner process with its descendants (gunicorn master + workers, Celery worker +
pool children, ...), `postgres` (the server backends connected to the benchmark's database,
the benchmark's own sessions excepted) and `rabbitmq` (beam.smp: the whole broker, shared with
every virtual host on the machine). A sampler thread re-reads the membership every `interval`
so processes that start during the window (a new backend, a respawned pool child) count from
zero and those that end keep what they had used when last seen.
"""

from __future__ import annotations

import contextlib
import subprocess
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import amqp
import psutil
import psycopg

from bench.writes.stack import BENCH_APP_NAME, SERVICES, StackConfig, service_processes

GROUPS = (*SERVICES, "postgres", "rabbitmq")
# The pipeline is drained once these stay under QUIET_CPU of a core for QUIET_SECONDS (idle, they
# use ~1%; the statistics consumer starts a batch at most every 0.2 s under load).
QUIET_GROUPS = ("relay", "worker", "stats-consumer", "aws", "postgres")
QUIET_CPU, QUIET_SECONDS = 0.05, 0.5
STATS_TICK_SECONDS = 5.5
Key = tuple[int, float]  # pid, create time: a pid reused by another process is another key


def cpu_seconds(proc: psutil.Process) -> float:
    times = proc.cpu_times()
    return float(times.user + times.system)


def beam_processes() -> list[psutil.Process]:
    return [p for p in psutil.process_iter(["name"]) if p.info["name"] == "beam.smp"]


def monitor_connection(cfg: StackConfig) -> psycopg.Connection[Any]:
    return psycopg.connect(
        host="127.0.0.1", user="postgres", dbname=cfg.db, autocommit=True, application_name=BENCH_APP_NAME
    )


@dataclass
class CpuMeter:
    """Per-group CPU seconds from start() to stop()."""

    cfg: StackConfig
    interval: float = 0.5
    baseline: dict[Key, float] = field(default_factory=dict)
    last: dict[Key, tuple[str, float]] = field(default_factory=dict)
    started_at: float = 0.0
    _stop: threading.Event = field(default_factory=threading.Event)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _thread: threading.Thread | None = None

    def __post_init__(self) -> None:
        self.conn = monitor_connection(self.cfg)
        self.beam = beam_processes()

    def members(self) -> list[tuple[str, psutil.Process]]:
        found = [(name, p) for name in SERVICES for p in service_processes(self.cfg, name)]
        rows = self.conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = %s AND application_name <> %s",
            [self.cfg.db, BENCH_APP_NAME],
        ).fetchall()
        for (pid,) in rows:
            with contextlib.suppress(psutil.NoSuchProcess):
                found.append(("postgres", psutil.Process(pid)))
        return found + [("rabbitmq", p) for p in self.beam]

    def sample(self, first: bool = False) -> None:
        with self._lock:
            self._sample(first)

    def _sample(self, first: bool) -> None:
        for group, proc in self.members():
            try:
                key = (proc.pid, proc.create_time())
                used = cpu_seconds(proc)
            except psutil.NoSuchProcess:
                continue
            if key not in self.baseline:
                # New since the window opened: all its CPU counts. Seen first at the opening: none.
                self.baseline[key] = used if first or key[1] < self.started_at else 0.0
            self.last[key] = (group, used)

    def start(self) -> None:
        self.baseline.clear()
        self.last.clear()
        self.started_at = time.time()
        self.sample(first=True)
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.sample()

    def totals(self) -> dict[str, float]:
        """CPU seconds per group since start(), as of now; the meter keeps running."""
        self.sample()
        with self._lock:
            totals = dict.fromkeys(GROUPS, 0.0)
            for key, (group, used) in self.last.items():
                totals[group] += max(0.0, used - self.baseline[key])
        return {group: round(seconds, 3) for group, seconds in totals.items()}

    def stop(self) -> dict[str, float]:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        return self.totals()

    def close(self) -> None:
        self.conn.close()


class Drain:
    """Whether everything the load caused has been carried through the pipeline."""

    def __init__(self, cfg: StackConfig, relay_name: str, queues: list[str], confirm: bool = True) -> None:
        self.cfg = cfg
        self.confirm = confirm
        self.relay_name = relay_name
        self.queues = queues
        self.conn = monitor_connection(cfg)
        self.broker = amqp.Connection(
            host="127.0.0.1:5672", userid="guest", password="guest", virtual_host=cfg.vhost
        )
        self.broker.connect()
        self.channel = self.broker.channel()
        self.last_busy: dict[str, int] = {}

    def relay_lag(self) -> int:
        row = self.conn.execute(
            "SELECT coalesce((SELECT max(position) FROM event_log), 0)"
            " - coalesce((SELECT position FROM event_relay_cursor WHERE name = %s), 0)",
            [self.relay_name],
        ).fetchone()
        return int(row[0]) if row else 0

    def ready_messages(self) -> int:
        """Messages waiting in the pipeline's queues (unacknowledged ones are not counted here)."""
        total = 0
        for queue in self.queues:
            try:
                total += self.channel.queue_declare(queue, passive=True).message_count
            except amqp.exceptions.NotFound:
                self.channel = self.broker.channel()  # a failed passive declare closes the channel
        return total

    def queue_depths(self) -> dict[str, int]:
        """Every queue of the virtual host with its messages, ready and unacknowledged."""
        out = subprocess.run(
            [
                "rabbitmqctl",
                "-q",
                "list_queues",
                "-p",
                self.cfg.vhost,
                "--no-table-headers",
                "name",
                "messages",
            ],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        depths = {}
        for line in out.splitlines():
            name, _, count = line.rpartition("\t")
            if name:
                depths[name] = int(count)
        return depths

    def busy_queues(self) -> dict[str, int]:
        return {name: n for name, n in self.queue_depths().items() if n and not name.endswith(".dead")}

    def dead_letters(self) -> int:
        return sum(n for name, n in self.queue_depths().items() if name.endswith(".dead"))

    def wait(self, meter: CpuMeter, timeout: float = 300) -> tuple[dict[str, float], dict[str, float]]:
        """Block until drained; returns the marks (seconds until the relay had caught up, until
        no message was ready, until `drained`) and the meter's CPU totals at `drained`.

        Drained: relay caught up, nothing ready (both polled every 50 ms; a passive declare is
        exact), and the consumers quiet (QUIET_GROUPS under QUIET_CPU of a core for
        QUIET_SECONDS: a consumer holding unacknowledged messages is working on them). The
        broker's full count, unacknowledged messages included, then confirms it; for quorum
        queues that count is refreshed only every ~5 s, so it is read STATS_TICK_SECONDS after
        the quiet point, and a busy answer sends the wait on."""
        started = time.monotonic()
        deadline = started + timeout
        marks: dict[str, float] = {}
        while time.monotonic() < deadline:
            lag, ready = self.relay_lag(), self.ready_messages()
            if lag == 0:
                marks.setdefault("relay_caught_up", time.monotonic() - started)
            if ready == 0:
                marks.setdefault("queues_ready_empty", time.monotonic() - started)
            if lag == 0 and ready == 0 and (quiet := self._quiet(meter)) is not None:
                quiet_since, cpu = quiet
                if not self.confirm:
                    marks["drained"] = quiet_since - started
                    return {k: round(v, 2) for k, v in marks.items()}, cpu
                time.sleep(max(0.0, quiet_since + STATS_TICK_SECONDS - time.monotonic()))
                busy = self.busy_queues()
                if not busy and self.relay_lag() == 0:
                    marks["drained"] = quiet_since - started
                    return {k: round(v, 2) for k, v in marks.items()}, cpu
                self.last_busy = busy
            time.sleep(0.05)
        raise RuntimeError(
            f"pipeline not drained after {timeout:g}s: {self.busy_queues()}, lag {self.relay_lag()}"
        )

    def _quiet(self, meter: CpuMeter) -> tuple[float, dict[str, float]] | None:
        """(when the quiet window began, CPU totals at its end) if the consumers stayed idle."""
        since = time.monotonic()
        before = meter.totals()
        time.sleep(QUIET_SECONDS)
        after = meter.totals()
        used = sum(after[g] - before[g] for g in QUIET_GROUPS)
        return (since, after) if used < QUIET_CPU * QUIET_SECONDS else None

    def db_counters(self) -> dict[str, int]:
        """The database's cumulative transaction and row counters (pg_stat_database)."""
        row = self.conn.execute(
            "SELECT xact_commit, xact_rollback, tup_fetched, tup_inserted, tup_updated, tup_deleted"
            " FROM pg_stat_database WHERE datname = %s",
            [self.cfg.db],
        ).fetchone()
        names = ("commits", "rollbacks", "rows_fetched", "rows_inserted", "rows_updated", "rows_deleted")
        return dict(zip(names, row or (0,) * len(names), strict=True))

    def close(self) -> None:
        self.conn.close()
        self.broker.close()
