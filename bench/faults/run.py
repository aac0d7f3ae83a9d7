"""Fault benchmark (a script, not a test): the lag from a post to every follower's feed while processes die.

    .venv/bin/python -m bench.faults.run [--seconds 180] [--rate 20] [--followers 1000]
        [--kill relay,worker,stats-consumer] [--broker-restarts 1] [--down-seconds 3]
        [--scale "relay=2 worker=3 stats-consumer=2" --kill relay-1,worker-2,stats-consumer-1]
        [--json PATH] [--keep-stack]

Starts the whole system with the project's local runner in its own database, RabbitMQ virtual
host, ports and var directory (bench/writes/stack.py; `--scale` is handed to the runner as
SCALE), creates through the services a page with `--followers` followers (their e-mail
notifications off: the run measures feeds), then one client posts on that page at `--rate`
posts/s for `--seconds`. The faults are spread evenly over the run, one after the other: each
`--kill` instance is SIGKILLed (`runner.py kill NAME --signal KILL`), left down
`--down-seconds`, then restarted (`runner.py restart NAME`, which returns once it is healthy);
the broker "restart" closes every connection of the stack's own virtual host
(`rabbitmqctl close_all_connections -p VHOST`), never the shared server.

Lag, as bench/feed/run.py measures it: from the start of the post's request to the moment the
post is in the owner's feed and the first and last followers' (polled every 5 ms; a fan-out
chunk is one atomic script call in Redis); once a second every one of the 1 + followers feeds is
checked for the posts seen so far, and a post that is not yet in all of them counts only from
the check that finds it everywhere. After the run the benchmark waits (`--settle-seconds`) for
the stragglers, then compares the posts PostgreSQL holds with the acknowledged ones and the
statistics service's post and follower counts with them (a doubled or lost event would show).
A feed is a sorted set, so a post is in it at most once: "exactly once" = every committed post
in every feed, no post committed without an answer or answered without a commit, statistics equal.
Results: a summary on stdout, JSON under var/bench-faults/ (or --json), for bench.report.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.writes.run import git_commit, machine, new_page, new_user, setup_django
from bench.writes.stack import ROOT, StackConfig, runner, say
from bench.writes.stack import start as start_stack
from bench.writes.stack import stop as stop_stack

POLL_SECONDS, AUDIT_SECONDS = 0.005, 1.0


@dataclass
class Probe:
    """One post: when its request started and was answered, when it showed in the feeds (seconds
    since the run's start)."""

    sent: float
    acked: float
    seen: float | None = None  # in the watched feeds
    complete: float | None = None  # in every feed
    audits: int = 0  # full checks that found it missing somewhere
    missing_feeds: int = 0  # at the last of those

    @property
    def lag(self) -> float | None:
        return None if self.complete is None else self.complete - self.sent


@dataclass
class Fault:
    kind: str  # "kill" or "broker"
    name: str
    at: float  # planned, seconds since the run's start
    started: float | None = None  # the runner's kill (or rabbitmqctl) was started
    killed: float | None = None  # the runner's kill returned: the instance was gone by then
    back: float | None = None  # the restart returned (the instance healthy again)
    ok: bool = False
    detail: str = ""


@dataclass
class Run:
    t0: float = field(default_factory=time.perf_counter)
    probes: dict[int, Probe] = field(default_factory=dict)
    errors: list[tuple[float, str]] = field(default_factory=list)
    faults: list[Fault] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def now(self) -> float:
        return time.perf_counter() - self.t0


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--seconds", type=float, default=180, help="how long posts are written")
    parser.add_argument("--rate", type=float, default=20, help="posts per second")
    parser.add_argument("--followers", type=int, default=1000)
    parser.add_argument(
        "--kill",
        default="relay,worker,stats-consumer",
        help="instances SIGKILLed one after the other (runner names: relay-1, worker-2 when scaled)",
    )
    parser.add_argument("--broker-restarts", type=int, default=1, help="times the vhost's connections close")
    parser.add_argument(
        "--down-seconds", type=float, default=3, help="a killed instance stays down this long"
    )
    parser.add_argument("--settle-seconds", type=float, default=120, help="wait this long for stragglers")
    parser.add_argument("--scale", default="", help='passed to the runner as SCALE, e.g. "relay=2 worker=3"')
    parser.add_argument("--db", default="innotter_bench_faults", help="database (and virtual host) name")
    parser.add_argument("--api-port", type=int, default=38100, help="API port; statistics +1, moto +2")
    parser.add_argument("--keep-stack", action="store_true", help="leave the stack running at the end")
    parser.add_argument("--json", type=Path, help="where the results go (default var/bench-faults/...)")
    args = parser.parse_args(argv)
    args.kill = [name for name in args.kill.split(",") if name]
    return args


def stack_config(args: argparse.Namespace) -> StackConfig:
    return StackConfig(
        db=args.db,
        vhost=args.db,
        api_port=args.api_port,
        stats_port=args.api_port + 1,
        aws_port=args.api_port + 2,
        api_workers=2,
        api_worker_class="sync",
        api_threads=1,
        log_level=None,
        scale=args.scale,  # handed to the runner as SCALE
    )


def schedule(args: argparse.Namespace) -> list[Fault]:
    """The kills, then the broker restarts, spread evenly over the run (none in its first or last part)."""
    kinds = [("kill", name) for name in args.kill]
    kinds += [("broker", f"connections of the virtual host {args.db}")] * args.broker_restarts
    step = args.seconds / (len(kinds) + 1)
    return [Fault(kind, name, at=round(step * (n + 1), 1)) for n, (kind, name) in enumerate(kinds)]


# --- dataset (through the services) ---------------------------------------------------------------


def create_page(followers: int) -> tuple[int, int, list[int]]:
    """The owner, a public page and its followers (e-mail off); their ids."""
    from core_app.pages.follows import follow_create
    from core_app.users.services import user_update

    tag = datetime.now(UTC).strftime("%H%M%S")
    owner = new_user(tag, "o", 0)
    page = new_page(owner, f"wf{tag}")
    ids = []
    for n in range(followers):
        user = new_user(tag, "f", n)
        user_update(user=user, data={"email_notifications": False})
        follow_create(page=page, user=user)
        ids.append(user.pk)
    return owner.pk, page.pk, ids


def wait_for(what: str, condition: Any, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out after {timeout:g}s waiting for {what}")
        time.sleep(0.2)


def followers_projected(page_id: int) -> int:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM projections_feedfollow WHERE page_id = %s", [page_id])
        return int(cursor.fetchone()[0])


def page_stats(cfg: StackConfig, token: str, page_id: int) -> dict[str, Any]:
    import httpx

    url = f"http://127.0.0.1:{cfg.stats_port}/stats/pages/{page_id}"
    response = httpx.get(url, headers={"Authorization": f"Bearer {token}"}, timeout=5)
    return dict(response.json()) if response.status_code == 200 else {}


# --- the run ----------------------------------------------------------------------------------------


def post_steadily(run: Run, cfg: StackConfig, token: str, page_id: int, rate: float, seconds: float) -> None:
    """One client, one post every 1/rate s on the clock (back to back when it falls behind)."""
    import httpx

    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=cfg.api_url, headers=headers, timeout=10) as client:
        n, next_at = 0, 0.0
        while next_at < seconds:
            time.sleep(max(0.0, next_at - run.now()))
            sent = run.now()
            try:
                response = client.post(
                    "/api/v1/posts/", json={"page": page_id, "content": f"fault probe {n}"}
                )
                response.raise_for_status()
            except httpx.HTTPError as exc:
                run.errors.append((round(sent, 3), repr(exc)[:200]))
            else:
                with run.lock:
                    run.probes[response.json()["id"]] = Probe(sent=sent, acked=run.now())
            n, next_at = n + 1, next_at + 1 / rate


class Watcher:
    """Polls the watched feeds for new posts; once a second, checks every feed for the posts seen."""

    def __init__(self, run: Run, watched: list[str], every: list[str]) -> None:
        from projections.feed import store

        self.run, self.watched, self.every = run, watched, every
        self.redis = store.redis_client()

    def pending(self, seen: bool) -> list[int]:
        with self.run.lock:
            return [
                post_id
                for post_id, probe in self.run.probes.items()
                if probe.complete is None and (probe.seen is not None) == seen
            ]

    def present_in(self, keys: list[str], post_ids: list[int]) -> list[int]:
        """For each post, in how many of `keys` it is."""
        pipe = self.redis.pipeline(transaction=False)
        members = [str(p) for p in post_ids]
        for key in keys:
            pipe.zmscore(key, members)
        counts = [0] * len(post_ids)
        for scores in pipe.execute():
            for i, score in enumerate(scores):
                counts[i] += score is not None
        return counts

    def check(self, seen: bool, keys: list[str]) -> tuple[float, list[tuple[Probe, int]]]:
        """The posts still pending (already seen in the watched feeds or not) with the number of
        `keys` each one is in, and the time of the check."""
        post_ids = self.pending(seen)
        counts = self.present_in(keys, post_ids) if post_ids else []
        return self.run.now(), [(self.run.probes[p], n) for p, n in zip(post_ids, counts, strict=True)]

    def poll(self) -> None:
        now, checked = self.check(False, self.watched)
        for probe, count in checked:
            if count == len(self.watched):
                probe.seen = now

    def audit(self) -> None:
        now, checked = self.check(True, self.every)
        for probe, count in checked:
            if count == len(self.every):
                probe.complete = probe.seen if probe.audits == 0 else now
            else:
                probe.audits, probe.missing_feeds = probe.audits + 1, len(self.every) - count

    def watch(self, posting_done: threading.Event, settle_seconds: float) -> None:
        next_audit, deadline = AUDIT_SECONDS, None
        while True:
            self.poll()
            if self.run.now() >= next_audit:
                self.audit()
                next_audit = self.run.now() + AUDIT_SECONDS
            if posting_done.is_set():
                deadline = deadline or self.run.now() + settle_seconds
                settled = not self.pending(seen=False) and not self.pending(seen=True)
                if settled or self.run.now() > deadline:
                    return
            time.sleep(POLL_SECONDS)


def inject(run: Run, cfg: StackConfig, faults: list[Fault], down_seconds: float) -> None:
    """Each fault at its time, one after the other."""
    for fault in faults:
        time.sleep(max(0.0, fault.at - run.now()))
        fault.started = round(run.now(), 3)
        if fault.kind == "kill":
            killed = runner(cfg, "kill", fault.name, "--signal", "KILL") == 0
            fault.killed = round(run.now(), 3)
            time.sleep(down_seconds)
            fault.ok = killed and runner(cfg, "restart", fault.name) == 0
            fault.detail = (
                "SIGKILL, then runner restart" if fault.ok else "the runner's kill or restart failed"
            )
        else:
            result = subprocess.run(
                ["rabbitmqctl", "close_all_connections", "-p", cfg.vhost, "bench.faults: broker restart"],
                capture_output=True,
                text=True,
                check=False,
            )
            fault.ok = result.returncode == 0
            fault.detail = (result.stdout.strip().splitlines() or [result.stderr.strip()])[-1]
        fault.back = round(run.now(), 3)
        say(f"{fault.kind} {fault.name}: {fault.started:.1f}s, back at {fault.back:.1f}s ({fault.detail})")


def measure(
    args: argparse.Namespace, cfg: StackConfig, token: str, page_id: int, keys: dict[str, Any]
) -> Run:
    run = Run(faults=schedule(args))
    watcher = Watcher(run, keys["watched"], keys["every"])
    posting_done = threading.Event()
    watch = threading.Thread(target=watcher.watch, args=(posting_done, args.settle_seconds), daemon=True)
    breaker = threading.Thread(target=inject, args=(run, cfg, run.faults, args.down_seconds), daemon=True)
    watch.start()
    breaker.start()
    post_steadily(run, cfg, token, page_id, args.rate, args.seconds)
    breaker.join()
    posting_done.set()
    watch.join()
    return run


# --- the verdict ---------------------------------------------------------------------------------


def committed_posts(page_id: int) -> set[int]:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT id FROM posts_post WHERE page_id = %s", [page_id])
        return {int(row[0]) for row in cursor.fetchall()}


def quantile_ms(values: list[float], q: int) -> float | None:
    if len(values) < 2:
        return round(values[0] * 1000, 1) if values else None
    return round(statistics.quantiles(values, n=100, method="inclusive")[q - 1] * 1000, 1)


def summarize(run: Run, committed: set[int], stats: dict[str, Any], followers: int) -> dict[str, Any]:
    lags = [p.lag for p in run.probes.values() if p.lag is not None]
    acknowledged = set(run.probes)
    stats_exact = stats.get("posts") == len(committed) and stats.get("followers") == followers
    reached = len(lags)
    return {
        "posts_sent": len(run.probes) + len(run.errors),
        "acknowledged": len(acknowledged),
        "errors": len(run.errors),
        "committed": len(committed),
        "committed_not_acknowledged": len(committed - acknowledged),
        "acknowledged_not_committed": len(acknowledged - committed),
        "feeds": followers + 1,
        "reached_every_feed": reached,
        "missing": sorted(p for p, probe in run.probes.items() if probe.complete is None),
        "late_in_some_feeds": sum(1 for p in run.probes.values() if p.audits),
        "lag_p50_ms": quantile_ms(lags, 50),
        "lag_p99_ms": quantile_ms(lags, 99),
        "lag_max_ms": round(max(lags) * 1000, 1) if lags else None,
        "stats": {k: stats.get(k) for k in ("posts", "followers")},
        "stats_exact": stats_exact,
        "exactly_once": reached == len(acknowledged) == len(committed)
        and committed == acknowledged
        and stats_exact,
    }


def results_of(
    args: argparse.Namespace, run: Run, summary: dict[str, Any], started_at: str
) -> dict[str, Any]:
    probes = sorted(run.probes.items(), key=lambda item: item[1].sent)
    return {
        "benchmark": "faults",
        "started_at": started_at,
        "finished_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "command": " ".join([Path(sys.executable).name, "-m", "bench.faults.run", *sys.argv[1:]]),
        "commit": git_commit(),
        "machine": machine(),
        "settings": {
            k: getattr(args, k)
            for k in (
                "seconds",
                "rate",
                "followers",
                "kill",
                "broker_restarts",
                "down_seconds",
                "scale",
                "db",
            )
        },
        "faults": [vars(f) for f in run.faults],
        # [sent s, lag ms (null: never in every feed), answer ms, post id]
        "posts": [
            [
                round(p.sent, 3),
                None if p.lag is None else round(p.lag * 1000, 1),
                round((p.acked - p.sent) * 1000, 1),
                post_id,
            ]
            for post_id, p in probes
        ],
        "errors": run.errors,
        "summary": summary,
    }


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    cfg = stack_config(args)
    start_stack(cfg)
    try:
        results = run_all(args, cfg)
    finally:
        if not args.keep_stack:
            say("stopping the stack")
            stop_stack(cfg)
    out = (
        args.json or ROOT / "var" / "bench-faults" / f"results-{results['started_at'].replace(':', '')}.json"
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=1) + "\n")
    print(json.dumps({k: v for k, v in results["summary"].items() if k != "missing"}, indent=1))
    say(f"results in {out}")


def run_all(args: argparse.Namespace, cfg: StackConfig) -> dict[str, Any]:
    setup_django(cfg)
    from core_app.common.auth.tokens import issue_access_token
    from projections.feed import store

    started = time.monotonic()
    owner, page_id, followers = create_page(args.followers)
    token = issue_access_token(user_id=owner, role="user")[0]
    wait_for(
        "the follows in the feed projection", lambda: followers_projected(page_id) == len(followers), 300
    )
    wait_for(
        "the statistics of the follows",
        lambda: page_stats(cfg, token, page_id).get("followers") == len(followers),
        300,
    )
    say(f"page {page_id} with {len(followers)} followers ({time.monotonic() - started:.0f}s)")
    keys = {
        "watched": [store.feed_key(u) for u in (owner, followers[0], followers[-1])],
        "every": [store.feed_key(u) for u in (owner, *followers)],
    }
    started_at = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    load_start = [round(x, 2) for x in os.getloadavg()]
    run = measure(args, cfg, token, page_id, keys)
    committed = committed_posts(page_id)
    with_retry = time.monotonic() + 60
    while (stats := page_stats(cfg, token, page_id)).get("posts") != len(
        committed
    ) and time.monotonic() < with_retry:
        time.sleep(0.5)
    results = results_of(args, run, summarize(run, committed, stats, len(followers)), started_at)
    results["load_average_at_start"], results["load_average_at_end"] = (
        load_start,
        [round(x, 2) for x in os.getloadavg()],
    )
    return results


if __name__ == "__main__":
    main()
