"""Statistics benchmark (not a test): fold throughput, and write-to-API lag at a steady rate.

    POSTGRES_DB=innotter_h5_bench .venv/bin/python bench/stats/bench_stats.py [--seconds 30] [--rate 100]

1. Throughput: a backlog of events (likes spread over pages, plus a hot page) is published to
   a fresh statistics queue; the consumer folds it into DynamoDB (moto's server). Reported:
   events folded per second.
2. Lag: the whole path runs (core services -> event log -> relay -> RabbitMQ -> consumer ->
   DynamoDB -> GET /stats/pages/{id}); the core writes `--rate` posts per second, and pollers
   record when each write's figure first shows in the API. Reported: p50/p95/p99/max.

Everything runs on this machine: PostgreSQL (its own database, migrated here), RabbitMQ
(RABBITMQ_URL; unique names, deleted afterwards), moto's DynamoDB server, uvicorn; results
are printed with the CPU seconds each process spent, and appended to bench/stats/RESULTS.md
as a dated section.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "core_app.settings_test")
os.environ.setdefault("POSTGRES_DB", "innotter_h5_bench")

import aio_pika  # noqa: E402
import django  # noqa: E402
import httpx  # noqa: E402
import psutil  # noqa: E402
import psycopg  # noqa: E402

from compose.local.scripts import load_runner  # noqa: E402

RABBITMQ_URL = os.environ.get("RABBITMQ_URL") or "amqp://guest:guest@127.0.0.1:5672/"
RESULTS = Path(__file__).with_name("RESULTS.md")
POLL_SECONDS = 0.05  # each watched page is asked for at most this often


def prepare_database() -> None:
    """Create the benchmark's own database if missing, then migrate it."""
    name = os.environ["POSTGRES_DB"]
    with psycopg.connect("host=127.0.0.1 user=postgres dbname=postgres", autocommit=True) as conn:
        if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone() is None:
            conn.execute(f'CREATE DATABASE "{name}"')
    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    logging.getLogger("httpx").setLevel(logging.WARNING)  # not a line per poll


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


# --- 1. fold throughput ------------------------------------------------------------------------


async def fold_throughput(stats_settings, events: int, pages: int) -> float:
    """Seconds the consumer takes to fold a backlog of likes spread over `pages` pages."""
    from events.topology import declare_topology, delete_topology
    from stats_ms.aws import dynamodb_resource
    from stats_ms.consumer import consume
    from stats_ms.repository import StatsRepository
    from stats_ms.tests import builders as b

    topology = _topology()
    await declare_topology(RABBITMQ_URL, topology)
    sentinel = 10**6
    envelopes = [b.page_created(p, 7) for p in [*range(1, pages + 1), sentinel]]
    envelopes += [b.post_liked(1, 1 + i % pages, 7, user_id=i) for i in range(events)]
    envelopes.append(b.post_liked(1, sentinel, 7, user_id=1))  # the last one: folded means done
    try:
        await _publish(topology, envelopes)
        async with dynamodb_resource(stats_settings) as dynamodb:
            repo = StatsRepository(dynamodb, stats_settings)
            await repo.ensure_tables()
            stop = asyncio.Event()
            started = time.monotonic()
            task = asyncio.create_task(consume(stats_settings, topology, stop))
            while not await _has_likes(repo, sentinel):  # noqa: ASYNC110 (polling another process's work)
                await asyncio.sleep(0.02)
            elapsed = time.monotonic() - started
            stop.set()
            await task
            stats = await asyncio.gather(*(repo.page_stats(p) for p in range(1, pages + 1)))
            assert sum(s.likes for s in stats if s is not None) == events, "the backlog was not folded whole"
        return elapsed
    finally:
        await delete_topology(RABBITMQ_URL, topology)


async def _publish(topology, envelopes) -> None:
    connection = await aio_pika.connect(RABBITMQ_URL)
    async with connection:
        channel = await connection.channel()
        exchange = await channel.get_exchange(topology.exchange)
        for e in envelopes:
            await exchange.publish(aio_pika.Message(body=e.model_dump_json().encode()), e.type)


async def _has_likes(repo, page_id: int) -> bool:
    stats = await repo.page_stats(page_id)
    return stats is not None and stats.likes > 0


def _topology():
    from stats_ms.tests.conftest import unique_topology

    return unique_topology("bench")


# --- 2. lag through the whole pipeline ----------------------------------------------------------


@dataclass
class PageTrack:
    page_id: int
    owner: Any
    token: str
    written: list[float] = field(default_factory=list)  # commit time of the n-th post
    seen: dict[int, float] = field(default_factory=dict)  # n -> first time the API showed >= n


class Poller:
    """One task per page polls the API and records when each count first appears."""

    def __init__(self, api: str, tracks: list[PageTrack]) -> None:
        self.api, self.tracks = api, tracks
        self.done = threading.Event()
        self.round_trips: list[float] = []

    def run(self) -> None:
        asyncio.run(self._main())

    async def _main(self) -> None:
        async with httpx.AsyncClient(base_url=self.api, timeout=10) as client:
            await asyncio.gather(*(self._poll(client, t) for t in self.tracks))

    async def _poll(self, client: httpx.AsyncClient, track: PageTrack) -> None:
        headers = {"Authorization": f"Bearer {track.token}"}
        while not (self.done.is_set() and len(track.seen) >= len(track.written)):
            sent = time.monotonic()
            response = await client.get(f"/stats/pages/{track.page_id}", headers=headers)
            now = time.monotonic()
            self.round_trips.append(now - sent)
            if response.status_code == 200:
                # Credited to the answer's arrival (conservative: it was there a little earlier).
                for n in range(len(track.seen) + 1, response.json()["posts"] + 1):
                    track.seen.setdefault(n, now)
            await asyncio.sleep(max(0.0, POLL_SECONDS - (time.monotonic() - sent)))


Measured = tuple[list[float], list[float]]  # lags, poll round trips (seconds)


def write_lag(rate: int, seconds: float, api: str, pages: int, watched: int) -> Measured:
    from core_app.common.auth.tokens import issue_access_token
    from core_app.pages.services import page_create
    from core_app.posts.services import post_create
    from core_app.testing.factories import UserFactory
    from tests.integration.stats.conftest import wait_for

    tracks = []
    for i in range(pages):
        owner = UserFactory(
            username=f"bench-{uuid.uuid4().hex[:8]}", email=f"{uuid.uuid4().hex[:8]}@bench.local"
        )
        page = page_create(owner=owner, name=f"Bench {i}", uuid=f"bench-{uuid.uuid4().hex[:12]}")
        token, _ = issue_access_token(user_id=owner.pk, role=owner.role)
        tracks.append(PageTrack(page.pk, owner, token))
    for t in tracks:  # the pages are known to the service before the clock starts
        wait_for(lambda t=t: _status(api, t) == 200, what="page.created folded")
    poller = Poller(api, tracks[:watched])
    thread = threading.Thread(target=poller.run, daemon=True)
    thread.start()
    start, total = time.monotonic(), int(rate * seconds)
    for i in range(total):
        time.sleep(max(0.0, start + i / rate - time.monotonic()))  # pace the writes
        track = tracks[i % pages]
        post_create(author=track.owner, page_id=track.page_id, content=f"post {i}")
        track.written.append(time.monotonic())
    poller.done.set()
    thread.join(60)
    lags = [t.seen[n + 1] - w for t in tracks[:watched] for n, w in enumerate(t.written) if n + 1 in t.seen]
    return lags, poller.round_trips


def _status(api: str, track: PageTrack) -> int:
    response = httpx.get(
        f"{api}/stats/pages/{track.page_id}", headers={"Authorization": f"Bearer {track.token}"}
    )
    return response.status_code


# --- orchestration --------------------------------------------------------------------------------


def emulator_command(port: int) -> list[str]:
    """The local runner's AWS emulator command (moto under gunicorn), on `port`."""
    runner = load_runner()
    argv: list[str] = runner.AWS.argv(runner.Config.from_env({"AWS_PORT": str(port)}))
    return argv


def spawn(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    """Start one process of the stack, its output to a log file."""
    out = log.open("wb")
    return subprocess.Popen(args, cwd=ROOT, env={**os.environ, **env}, stdout=out, stderr=subprocess.STDOUT)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--rate", type=int, default=100)
    parser.add_argument("--backlog", type=int, default=3000)
    parser.add_argument("--pages", default="2,10", help="pages the lag runs write to (one run each)")
    parser.add_argument("--watched", type=int, default=2, help="pages whose figures are polled")
    args = parser.parse_args()
    prepare_database()

    from django.conf import settings

    from core_app.common.auth.keys import signing_key
    from events.topology import declare_topology_sync, delete_topology
    from stats_ms.settings import Settings
    from stats_ms.tests.conftest import free_port
    from tests.integration.stats.conftest import wait_for

    logs = Path(tempfile.mkdtemp(prefix="bench-stats-"))
    signing_key()  # makes sure the key pair exists; the service gets the public half only
    moto_port, api_port = free_port(), free_port()
    processes = [spawn(emulator_command(moto_port), {}, logs / "moto.log")]
    topology = _topology()
    prefix = f"bench{uuid.uuid4().hex[:6]}-"
    env = {
        "AWS_ENDPOINT_URL": f"http://127.0.0.1:{moto_port}",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "STATS_TABLE_PREFIX": prefix,
        "JWT_PUBLIC_KEY_FILE": str(ROOT / settings.JWT_PUBLIC_KEY_FILE),
        "JWT_ISSUER": settings.JWT_ISSUER,
        "JWT_KID": settings.JWT_KID,
        "RABBITMQ_URL": RABBITMQ_URL,
        "EVENTS_EXCHANGE": topology.exchange,
        "EVENTS_QUEUE_PROJECTIONS": topology.projections_queue,
        "EVENTS_QUEUE_STATS": topology.stats_queue,
        "EVENTS_DEAD_LETTER_EXCHANGE": topology.dead_letter_exchange,
        "RELAY_NAME": f"bench-{uuid.uuid4().hex[:6]}",
        "RELAY_POLL_SECONDS": "0.5",
    }
    try:
        wait_for(lambda: _answers(f"http://127.0.0.1:{moto_port}/moto-api/"), what="moto start")
        base = Settings(
            _env_file=None,
            aws_endpoint_url=env["AWS_ENDPOINT_URL"],
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
            rabbitmq_url=RABBITMQ_URL,
        )
        throughput = {}
        for pages in (1, 10, 50):
            fresh = base.model_copy(update={"stats_table_prefix": f"bench{uuid.uuid4().hex[:6]}-"})
            throughput[pages] = asyncio.run(fold_throughput(fresh, args.backlog, pages))
            print(f"{args.backlog} likes over {pages} pages: {args.backlog / throughput[pages]:.0f} events/s")

        declare_topology_sync(RABBITMQ_URL, topology)
        python = f"{sys.prefix}/bin/python"
        api = [
            f"{sys.prefix}/bin/uvicorn",
            "stats_ms.main:app",
            "--host",
            "127.0.0.1",
            "--port",
            str(api_port),
        ]
        processes.append(spawn(api, env, logs / "api.log"))
        processes.append(spawn([python, "-m", "stats_ms.consumer"], env, logs / "consumer.log"))
        _relay_from_head(env["RELAY_NAME"])  # this run's events only, not the database's history
        processes.append(spawn([python, "manage.py", "run_relay"], env, logs / "relay.log"))
        api_url = f"http://127.0.0.1:{api_port}"
        wait_for(lambda: _answers(f"{api_url}/health"), what="stats API start")
        names = ["moto", "api", "consumer", "relay"]
        lags, cpu = {}, {}
        for pages in args.pages.split(","):
            before = {n: process_cpu(p.pid) for n, p in zip(names, processes, strict=True)}
            before["writer"] = time.process_time()
            lags[int(pages)] = write_lag(args.rate, args.seconds, api_url, int(pages), args.watched)
            after = {n: process_cpu(p.pid) for n, p in zip(names, processes, strict=True)}
            after["writer"] = time.process_time()
            cpu[int(pages)] = {n: after[n] - before[n] for n in after}
    finally:
        for process in reversed(processes):
            process.terminate()
            process.wait(20)
        asyncio.run(delete_topology(RABBITMQ_URL, topology))
    print(f"process logs: {logs}")
    report(args, throughput, lags, cpu)


def process_cpu(pid: int) -> float:
    """CPU seconds (user + system) a process and its live children have used so far.

    The children count: the emulator's requests are served by gunicorn's worker process.
    """
    total = 0.0
    process = psutil.Process(pid)
    for member in [process, *process.children(recursive=True)]:
        with contextlib.suppress(psutil.NoSuchProcess):
            times = member.cpu_times()
            total += times.user + times.system
    return total


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def _relay_from_head(name: str) -> None:
    from django.db.models import Max

    from events.models import RelayCursor, StoredEvent

    head = StoredEvent.objects.aggregate(head=Max("position"))["head"] or 0
    RelayCursor.objects.update_or_create(name=name, defaults={"position": head})


def _lag_line(pages: int, measured: Measured) -> str:
    ms = [lag * 1000 for lag in measured[0]]
    trips = [trip * 1000 for trip in measured[1]]
    return (
        f"| {pages} | {len(ms)} | **{statistics.median(ms):.0f}** | {percentile(ms, 95):.0f} | "
        f"**{percentile(ms, 99):.0f}** | {max(ms):.0f} | {statistics.median(trips):.0f} / "
        f"{percentile(trips, 99):.0f} |"
    )


def _cpu_line(pages: int, seconds: dict[str, float], writes: int) -> str:
    per = " | ".join(
        f"{seconds[n] / writes * 1000:.2f}" for n in ("moto", "consumer", "relay", "api", "writer")
    )
    return f"| {pages} | {per} |"


def report(args, throughput: dict[int, float], lags: dict[int, Measured], cpu: dict[int, dict]) -> None:
    expected = int(args.rate * args.seconds)
    lines = [
        "",
        f"## Run {datetime.now(UTC):%Y-%m-%d %H:%M} UTC",
        "",
        f"On {platform.node()} ({os.cpu_count()} CPUs, "
        f"Python {platform.python_version()}, load average {os.getloadavg()[0]:.1f} at the end); "
        "DynamoDB is moto's server, "
        "PostgreSQL and RabbitMQ are the local servers. Command: "
        f"`.venv/bin/python bench/stats/bench_stats.py --seconds {args.seconds:g} --rate {args.rate} "
        f"--backlog {args.backlog} --pages {args.pages} --watched {args.watched}`.",
        "",
        "### Fold throughput (a backlog drained by the consumer)",
        "",
        "| likes in the backlog | spread over pages | seconds | events folded per second |",
        "|---|---|---|---|",
        *(
            f"| {args.backlog} | {pages} | {seconds:.2f} | **{args.backlog / seconds:.0f}** |"
            for pages, seconds in throughput.items()
        ),
        "",
        "A batch (up to `STATS_PREFETCH` = 1000 events; the consumer keeps two batches unacked, so a",
        "backlog is folded in full batches) costs one conditional PutItem per page it touches (the",
        "page's figures, with its day's buckets), whatever the number of events, so the rate depends",
        "on how many pages a batch touches. moto's server spends ~2-3 ms of CPU on such a put on",
        "this machine and works on one at a time (its threads share one interpreter lock), which",
        "bounds the spread cases; DynamoDB runs a batch's writes in parallel (16 at once).",
        "",
        f"### Lag from a write in the core to its figure in the API, at {args.rate} writes/s",
        "",
        f"- each run: {expected} `post_create` calls over {args.seconds:g} s, round robin on the pages; "
        f"the figures of {args.watched} pages are polled (every {POLL_SECONDS * 1000:.0f} ms)",
        "- the stack runs as separate processes, as deployed: moto's server (the local runner's command:",
        "  gunicorn, keep-alive), `uvicorn stats_ms.main:app`,",
        "  `python -m stats_ms.consumer`, `python manage.py run_relay`; the writer calls the core's services",
        "",
        "| pages written | writes timed | p50 ms | p95 ms | p99 ms | max ms | poll round trip p50 / p99 ms |",
        "|---|---|---|---|---|---|---|",
        *(_lag_line(pages, values) for pages, values in lags.items()),
        "",
        "Target: p99 < 1000 ms.",
        "- measured from the service call's return (commit) to the arrival of the first API answer",
        "  showing it, so a figure includes up to one poll interval plus one request.",
        "",
        "CPU milliseconds per write during each lag run (the API's share is the pollers' reads):",
        "",
        "| pages written | moto | consumer | relay | stats API | writer (core services) |",
        "|---|---|---|---|---|---|",
        *(_cpu_line(pages, seconds, expected) for pages, seconds in cpu.items()),
        "",
    ]
    with RESULTS.open("a") as results:
        results.write("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
