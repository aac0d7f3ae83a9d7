"""Takeover times of the standbys: how long after a SIGKILL the other instance does the work.

    flock /tmp/innotter-bench.lock .venv/bin/python -m bench.failover.run [--rounds 5] [--json out.json]

Starts a scaled stack with the local runner (SCALE relay=2 worker=2 stats-consumer=2, its own
database, virtual host and var directory; ports 43001-43003 unless --ports), then per round and
per role: the instance doing the work (the relay holding the advisory lock, the worker whose
event consumer is the queue's single active consumer, the active statistics consumer) is
SIGKILLed, a post is written at once, and the clock stops when that post's effect shows:
- relay: its `post.created` event reaches a probe queue bound to the events exchange;
- worker: the post is in a follower's feed;
- stats-consumer: the page's statistics count it.
The same write without a kill gives the baseline (the pipeline's own latency); the takeover is
the difference. The killed instance is restarted (it becomes the standby) before the next round.
Prints a table and the JSON.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import socket
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from kombu import Connection, Exchange, Queue

from tests.e2e.conftest import Stack, running_stack

SCALE = "relay=2 worker=2 stats-consumer=2"
PASSWORD = "Failover-pass-2024"
POLL_SECONDS = 0.005
TIMEOUT_SECONDS = 60.0
PROJECTIONS_QUEUE, STATS_QUEUE = "projections.events", "stats.events"


@dataclass
class World:
    """One author with a page, one follower reading the feed, and the probe on the exchange."""

    stack: Stack
    author: httpx.Client
    reader: httpx.Client
    page_id: int
    probe: Any  # kombu SimpleQueue bound to the events exchange

    def post(self, content: str) -> int:
        response = self.author.post("/api/v1/posts/", json={"page": self.page_id, "content": content})
        response.raise_for_status()
        return int(response.json()["id"])

    def published(self, post_id: int) -> bool:
        with contextlib.suppress(self.probe.Empty):
            while True:
                message = self.probe.get(timeout=POLL_SECONDS)
                message.ack()
                event = json.loads(message.body)
                if event["type"] == "post.created" and event["payload"]["post_id"] == post_id:
                    return True
        return False

    def in_feed(self, post_id: int) -> bool:
        return post_id in [p["id"] for p in self.reader.get("/api/v1/feed/?limit=5").json()["results"]]

    def counted(self, posts: int) -> Callable[[int], bool]:
        def check(post_id: int) -> bool:
            response = self.author.get(f"{self.stack.stats}/stats/pages/{self.page_id}")
            return response.status_code == 200 and response.json()["posts"] >= posts

        return check

    def posts_counted(self) -> int:
        return int(self.author.get(f"{self.stack.stats}/stats/pages/{self.page_id}").json()["posts"])


def login(stack: Stack, name: str) -> httpx.Client:
    email = f"{name}@failover.innotter.test"
    body = {"username": name, "email": email, "password": PASSWORD}
    httpx.post(f"{stack.api}/api/v1/auth/register", json=body, timeout=15).raise_for_status()
    tokens = httpx.post(
        f"{stack.api}/api/v1/auth/login", json={"email": email, "password": PASSWORD}, timeout=15
    ).json()
    return httpx.Client(
        base_url=stack.api, timeout=15, headers={"Authorization": f"Bearer {tokens['access']}"}
    )


@contextlib.contextmanager
def world(stack: Stack) -> Iterator[World]:
    author, reader = login(stack, "author"), login(stack, "reader")
    page = author.post("/api/v1/pages/", json={"name": "Failover", "uuid": "failover", "tags": []})
    page.raise_for_status()
    page_id = int(page.json()["id"])
    reader.patch("/api/v1/users/me/notifications", json={"email": "off"}).raise_for_status()
    reader.post(f"/api/v1/pages/{page_id}/follow/").raise_for_status()
    with Connection(stack.env["RABBITMQ_URL"]) as conn:
        exchange = Exchange("events", type="topic", durable=True, passive=True)
        queue = Queue("failover.probe", exchange, routing_key="#", exclusive=True, auto_delete=True)
        probe = conn.SimpleQueue(queue)
        yield World(stack, author, reader, page_id, probe)


def wait_for(check: Callable[[], bool], what: str) -> float:
    """Poll until `check()`; the monotonic time it first held."""
    deadline = time.monotonic() + TIMEOUT_SECONDS
    while not check():
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out waiting for {what}")
        time.sleep(POLL_SECONDS)
    return time.monotonic()


def working_instance(stack: Stack, role: str) -> str | None:
    if role == "relay":
        return stack.publishing_relay()
    queue = PROJECTIONS_QUEUE if role == "worker" else STATS_QUEUE
    return stack.active_consumer(role, queue)


def effect(w: World, role: str) -> Callable[[int], bool]:
    if role == "relay":
        return w.published
    if role == "worker":
        return w.in_feed
    return w.counted(w.posts_counted() + 1)


def one_write(w: World, role: str, kill: str | None) -> float:
    """Seconds from the kill (or the write, without one) to the written post's effect."""
    shows = effect(w, role)
    started = time.monotonic()
    if kill is not None:
        os.killpg(w.stack.pid(kill), signal.SIGKILL)
    post_id = w.post(f"{role} {'after killing ' + kill if kill else 'baseline'}")
    return wait_for(lambda: shows(post_id), f"the {role}'s effect of post {post_id}") - started


def settle(w: World, role: str) -> None:
    """Until the pipeline is idle for this role: a fresh post's effect shows, nothing in between."""
    shows = effect(w, role)
    post_id = w.post(f"{role} settle")
    wait_for(lambda: shows(post_id), "the pipeline to settle")


def measure(w: World, role: str, rounds: int) -> dict[str, Any]:
    baseline, takeover, killed = [], [], []
    for _ in range(rounds):
        settle(w, role)
        baseline.append(one_write(w, role, kill=None))
        victim = wait_for_value(lambda: working_instance(w.stack, role), f"the working {role}")
        takeover.append(one_write(w, role, kill=victim))
        killed.append(victim)
        restarted = w.stack.runner("restart", victim)
        if restarted.returncode != 0:
            raise RuntimeError(f"restart {victim}: {restarted.stdout}{restarted.stderr}")
    return {
        "role": role,
        "killed": killed,
        "baseline_ms": [round(s * 1000, 1) for s in baseline],
        "after_kill_ms": [round(s * 1000, 1) for s in takeover],
        "takeover_ms_median": round((statistics.median(takeover) - statistics.median(baseline)) * 1000, 1),
        "takeover_ms_max": round((max(takeover) - statistics.median(baseline)) * 1000, 1),
    }


def wait_for_value(probe: Callable[[], str | None], what: str) -> str:
    deadline = time.monotonic() + TIMEOUT_SECONDS
    while (value := probe()) is None:
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out waiting for {what}")
        time.sleep(0.1)
    return value


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--roles", default="relay,worker,stats-consumer")
    parser.add_argument("--ports", default="43001,43002,43003", help="API, statistics, AWS")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args(argv)
    api, stats, aws = (int(p) for p in args.ports.split(","))
    extra = {"METRICS_PORT_BASE": "43100", "REDIS_URL": "redis://127.0.0.1:6379/5"}
    started_at = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())
    load_before = Path("/proc/loadavg").read_text().split()[:3]
    with (
        running_stack(
            None, SCALE, prefix="innotter_scale_failover", ports=(api, stats, aws), extra_env=extra
        ) as stack,
        world(stack) as w,
    ):
        results = [measure(w, role, args.rounds) for role in args.roles.split(",")]
    report = {
        "started": started_at,
        "host": socket.gethostname(),
        "cpus": os.cpu_count(),
        "scale": SCALE,
        "rounds": args.rounds,
        "loadavg_before": load_before,
        "loadavg_after": Path("/proc/loadavg").read_text().split()[:3],
        "results": results,
    }
    for r in results:
        print(
            f"{r['role']:15} baseline {statistics.median(r['baseline_ms']):7.1f} ms   after kill "
            f"{statistics.median(r['after_kill_ms']):7.1f} ms (max {max(r['after_kill_ms']):.1f})   "
            f"takeover {r['takeover_ms_median']:7.1f} ms (max {r['takeover_ms_max']:.1f})"
        )
    print(json.dumps(report, indent=2))
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
