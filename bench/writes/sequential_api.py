"""Latency of single writes and feed reads against a running API (a script, not a test).

    BENCH_POSTGRES_DB=innotter_bench .venv/bin/python -m bench.writes.sequential_api \\
        --url http://127.0.0.1:18000 --gunicorn-pid <master pid> [--requests 500]

One client, one request at a time, over a kept-alive connection: post create, like (each by
another user, all on one post), follow (one user, a new page each time) and the feed read of
users with 500 follows (the feed benchmark's dataset; the server must use the same database).
With --clients N, instead, N closed-loop clients post on pages of their own for --seconds.
Prints, for each kind, requests/s, p50/p99 and the server's CPU milliseconds per request (the
gunicorn workers' CPU time, from psutil), as one JSON line each.
"""

from __future__ import annotations

import argparse
import itertools
import json
import random
import statistics
import threading
import time
from collections.abc import Callable

import httpx
import psutil

from bench.writes.profile_api import HEAVY_USERS, fresh_users, token
from core_app.pages.models import Page
from core_app.posts.models import Post


def worker_cpu(master: psutil.Process) -> float:
    return sum(sum(child.cpu_times()[:2]) for child in master.children())


def measure(name: str, calls: list[Callable[[], httpx.Response]], master: psutil.Process) -> None:
    for call in calls[:20]:  # warm-up
        call().raise_for_status()
    samples = []
    cpu = worker_cpu(master)
    started = time.perf_counter()
    for call in calls[20:]:
        begin = time.perf_counter()
        call().raise_for_status()
        samples.append(time.perf_counter() - begin)
    seconds = time.perf_counter() - started
    cpu = worker_cpu(master) - cpu
    q = statistics.quantiles(samples, n=100, method="inclusive")
    result = {
        "kind": name,
        "requests": len(samples),
        "rps": round(len(samples) / seconds, 1),
        "p50_ms": round(q[49] * 1000, 2),
        "p99_ms": round(q[98] * 1000, 2),
        "server_cpu_ms_per_request": round(cpu * 1000 / len(samples), 2),
    }
    print(json.dumps(result), flush=True)


def concurrent_posts(url: str, clients: int, seconds: float, master: psutil.Process) -> None:
    """`clients` closed-loop clients, each posting on a page of its own for `seconds`."""
    authors = fresh_users(clients)
    samples: list[float] = []
    until = time.perf_counter() + seconds

    def client_loop(page_id: int, author_token: str) -> None:
        with httpx.Client(
            base_url=url, timeout=10, headers={"Authorization": f"Bearer {author_token}"}
        ) as client:
            while (begin := time.perf_counter()) < until:
                client.post("/api/v1/posts/", json={"page": page_id, "content": "load"}).raise_for_status()
                samples.append(time.perf_counter() - begin)

    threads = [threading.Thread(target=client_loop, args=(page, tok)) for _, page, tok in authors]
    cpu, started = worker_cpu(master), time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed, cpu = time.perf_counter() - started, worker_cpu(master) - cpu
    q = statistics.quantiles(samples, n=100, method="inclusive")
    result = {
        "kind": f"post create, {clients} clients",
        "requests": len(samples),
        "rps": round(len(samples) / elapsed, 1),
        "p50_ms": round(q[49] * 1000, 2),
        "p99_ms": round(q[98] * 1000, 2),
        "server_cpu_ms_per_request": round(cpu * 1000 / len(samples), 2),
    }
    print(json.dumps(result), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", required=True)
    parser.add_argument("--gunicorn-pid", type=int, required=True)
    parser.add_argument("--requests", type=int, default=500)
    parser.add_argument("--clients", type=int, default=0, help="instead: posts from N concurrent clients")
    parser.add_argument("--seconds", type=float, default=15, help="how long the concurrent clients post")
    args = parser.parse_args()
    n = args.requests + 20
    master = psutil.Process(args.gunicorn_pid)
    if args.clients:
        concurrent_posts(args.url, args.clients, args.seconds, master)
        return
    users = fresh_users(n + 1)
    _, author_page, author_token = users[0]
    hot = Post.objects.create(page_id=author_page, content="hot post")
    targets = list(Page.objects.filter(pk__lte=10_000).order_by("pk").values_list("pk", flat=True)[:n])
    readers = [token(u) for u in random.Random(1).sample(list(HEAVY_USERS), min(n, len(HEAVY_USERS)))]
    with httpx.Client(base_url=args.url, timeout=10) as client:

        def as_(who: str) -> dict[str, str]:
            return {"Authorization": f"Bearer {who}"}

        measure(
            "post create",
            [
                lambda i=i: client.post(
                    "/api/v1/posts/",
                    json={"page": author_page, "content": f"p {i}"},
                    headers=as_(author_token),
                )
                for i in range(n)
            ],
            master,
        )
        measure(
            "like",
            [
                lambda t=t: client.post(f"/api/v1/posts/{hot.pk}/like/", headers=as_(t))
                for _, _, t in users[1:]
            ],
            master,
        )
        measure(
            "follow",
            [
                lambda p=p: client.post(f"/api/v1/pages/{p}/follow/", headers=as_(author_token))
                for p in targets
            ],
            master,
        )
        measure(
            "feed read, 500 follows",
            [
                lambda t=t: client.get("/api/v1/feed/", headers=as_(t))
                for t in itertools.islice(itertools.cycle(readers), n)
            ],
            master,
        )


if __name__ == "__main__":
    main()
