"""A bounded closed-loop HTTP load generator: N threads, each GETs the feed with a random user's token.

With --prime, every user's feed is read once first, so both user sets are measured with warm caches.

Prints one JSON line: {"requests", "errors", "seconds", "rps", "p50_ms", "p99_ms", "requests_sent"}
("requests_sent": every request, the priming and the warm-up ones included).
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import threading
import time
from pathlib import Path

import httpx


def worker(
    url: str,
    tokens: list[str],
    until: float,
    warm_until: float,
    out: list[float],
    errors: list[int],
    sent: list[int],
) -> None:
    rng = random.Random()
    count = 0
    with httpx.Client(timeout=10) as client:
        while (now := time.perf_counter()) < until:
            count += 1
            token = rng.choice(tokens)
            started = time.perf_counter()
            response = client.get(url, headers={"Authorization": f"Bearer {token}"})
            elapsed = time.perf_counter() - started
            if response.status_code != 200:
                errors.append(response.status_code)
            elif now >= warm_until:
                out.append(elapsed)
    sent.append(count)


def percentile(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=1000, method="inclusive")[int(q * 1000) - 1]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", required=True)
    parser.add_argument("--tokens", required=True, help="file with one access token per line")
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--warmup", type=float, default=3)
    parser.add_argument("--concurrency", type=int, default=2)
    parser.add_argument(
        "--prime", action="store_true", help="read every user's feed once before the clock starts"
    )
    args = parser.parse_args()
    tokens = Path(args.tokens).read_text().split()
    if args.prime:
        with httpx.Client(timeout=10) as client:
            for token in tokens:
                client.get(args.url, headers={"Authorization": f"Bearer {token}"}).raise_for_status()
    start = time.perf_counter()
    warm_until, until = start + args.warmup, start + args.warmup + args.seconds
    samples: list[float] = []
    errors: list[int] = []
    sent: list[int] = [len(tokens) if args.prime else 0]
    threads = [
        threading.Thread(target=worker, args=(args.url, tokens, until, warm_until, samples, errors, sent))
        for _ in range(args.concurrency)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    result = {
        "requests": len(samples),
        "errors": len(errors),
        "seconds": args.seconds,
        "rps": round(len(samples) / args.seconds, 1),
        "p50_ms": round(percentile(samples, 0.5) * 1000, 2),
        "p99_ms": round(percentile(samples, 0.99) * 1000, 2),
        "requests_sent": sum(sent),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
