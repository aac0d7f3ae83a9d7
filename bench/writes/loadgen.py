"""A closed-loop write load generator: N client threads, each writing as its own user, back to back.

    python -m bench.writes.loadgen --spec SPEC.json

The spec (written by bench.writes.run) names the API, the operation and one entry per client:
{"base": URL, "op": "posts" | "likes-hot" | "likes-spread" | "follows", "warmup": s, "seconds": s,
 "clients": [{"token": ..., "page": own page id}, ...], "hot_post": id, "posts": [ids], "pages": [ids]}

Every request changes state: a like is followed by its unlike, a follow by its unfollow, so a
client never repeats a no-op. When the clock runs out each client undoes what it left liked or
followed (those requests are counted in `writes_total`, not timed). Latencies are taken after the
warm-up only. Prints one JSON line: {"writes", "writes_total", "errors", "error_codes", "seconds",
"writes_per_second", "p50_ms", "p90_ms", "p99_ms", "max_ms"}.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import statistics
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.client import HTTPConnection, HTTPException
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit


def percentile(values: list[float], q: float) -> float:
    """As bench.feed.loadgen's (not imported: that module loads httpx, which this one avoids)."""
    return statistics.quantiles(values, n=1000, method="inclusive")[int(q * 1000) - 1]


PLOT_QUANTILES = (0.01, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99, 0.999)
OPERATIONS = ("posts", "likes-hot", "likes-spread", "follows")


@dataclass
class Tally:
    """What one client did; merged after the threads end."""

    latencies: list[float] = field(default_factory=list)
    finished: list[float] = field(default_factory=list)  # seconds after the warm-up, measured writes
    writes_total: int = 0
    errors: Counter[str] = field(default_factory=Counter)


# A request: (method, path, JSON body or None).
Request = tuple[str, str, dict[str, Any] | None]


def post_requests(client: dict[str, Any], spec: dict[str, Any], rng: random.Random) -> Iterator[Request]:
    page = client["page"]
    n = 0
    while True:
        n += 1
        yield (
            "POST",
            "/api/v1/posts/",
            {"page": page, "content": f"Write benchmark post {n} from page {page}."},
        )


def toggle(first: str, undo: str, path_of: Callable[[], str]) -> Iterator[Request]:
    """Alternate a write and its undo on the same target; a new target after each pair."""
    while True:
        path = path_of()
        yield first, path, None
        yield undo, path, None


def like_requests(client: dict[str, Any], spec: dict[str, Any], rng: random.Random) -> Iterator[Request]:
    if spec["op"] == "likes-hot":
        return toggle("POST", "DELETE", lambda: f"/api/v1/posts/{spec['hot_post']}/like/")
    return toggle("POST", "DELETE", lambda: f"/api/v1/posts/{rng.choice(spec['posts'])}/like/")


def follow_requests(client: dict[str, Any], spec: dict[str, Any], rng: random.Random) -> Iterator[Request]:
    return toggle("POST", "DELETE", lambda: f"/api/v1/pages/{rng.choice(spec['pages'])}/follow/")


REQUESTS: dict[str, Callable[[dict[str, Any], dict[str, Any], random.Random], Iterator[Request]]] = {
    "posts": post_requests,
    "likes-hot": like_requests,
    "likes-spread": like_requests,
    "follows": follow_requests,
}


def run_client(
    spec: dict[str, Any], client: dict[str, Any], seed: int, warm_until: float, until: float, tally: Tally
) -> None:
    rng = random.Random(seed)
    requests = REQUESTS[spec["op"]](client, spec, rng)
    headers = {"Authorization": f"Bearer {client['token']}", "Content-Type": "application/json"}
    url = urlsplit(spec["base"])
    # http.client, not httpx: a fraction of the CPU per request, and one load process shares the
    # machine's cores with the pipeline it measures. The connection reopens itself when gunicorn
    # closes it after a response (its sync workers do not keep connections alive).
    http = HTTPConnection(url.hostname or "127.0.0.1", url.port or 80, timeout=30)
    pending_undo = False
    while (now := time.perf_counter()) < until or pending_undo:
        method, path, body = next(requests)
        started = time.perf_counter()
        try:
            http.request(method, path, body=json.dumps(body) if body is not None else None, headers=headers)
            response = http.getresponse()
            response.read()
            code = str(response.status)
        except (OSError, HTTPException) as exc:
            http.close()
            code = type(exc).__name__
        elapsed = time.perf_counter() - started
        if not code.startswith("2"):
            tally.errors[code] += 1
            pending_undo = False  # the state is unknown; do not chase it past the clock
            continue
        tally.writes_total += 1
        pending_undo = spec["op"] != "posts" and method == "POST"
        if warm_until <= now < until:
            tally.latencies.append(elapsed)
            tally.finished.append(started + elapsed - warm_until)
    http.close()


def summary(tallies: list[Tally], seconds: float) -> dict[str, Any]:
    latencies = sorted(x for t in tallies for x in t.latencies)
    errors: Counter[str] = Counter()
    for t in tallies:
        errors.update(t.errors)

    def ms(q: float) -> float | None:
        return round(percentile(latencies, q) * 1000, 1) if len(latencies) >= 2 else None

    return {
        "writes": len(latencies),
        "writes_total": sum(t.writes_total for t in tallies),
        "errors": sum(errors.values()),
        "error_codes": dict(errors),
        "seconds": seconds,
        "writes_per_second": round(len(latencies) / seconds, 1),
        "p50_ms": ms(0.5),
        "p90_ms": ms(0.9),
        "p99_ms": ms(0.99),
        "max_ms": round(latencies[-1] * 1000, 1) if latencies else None,
        # For plots: the latency distribution and the writes completed in each measured second.
        "percentiles_ms": {f"p{q * 100:g}": ms(q) for q in PLOT_QUANTILES},
        "writes_per_each_second": per_second([x for t in tallies for x in t.finished], seconds),
    }


def per_second(finished: list[float], seconds: float) -> list[int]:
    counts = [0] * max(1, math.ceil(seconds))
    for at in finished:
        counts[min(int(at), len(counts) - 1)] += 1
    return counts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--spec", required=True, type=Path)
    args = parser.parse_args()
    spec = json.loads(args.spec.read_text())
    if spec["op"] not in OPERATIONS:
        raise SystemExit(f"unknown operation {spec['op']!r}; known: {', '.join(OPERATIONS)}")
    start = time.perf_counter()
    warm_until = start + spec["warmup"]
    until = warm_until + spec["seconds"]
    tallies = [Tally() for _ in spec["clients"]]
    threads = [
        threading.Thread(target=run_client, args=(spec, client, i, warm_until, until, tallies[i]))
        for i, client in enumerate(spec["clients"])
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    print(json.dumps(summary(tallies, spec["seconds"])), flush=True)


if __name__ == "__main__":
    main()
