"""The API's metrics middleware, A/B in one process (a script, not a test).

    BENCH_POSTGRES_DB=innotter_bench .venv/bin/python -m bench.writes.metrics_overhead [--blocks 20]

Two WSGI handlers of the same application, one with `MetricsMiddleware` (the histogram in a
multiprocess directory, as under gunicorn) and one without, serve the feed benchmark's feed reads
(bench.writes.profile_api) in alternating blocks, the order swapped every block, so that what the
machine does meanwhile falls on both alike. Prints the CPU milliseconds per request of each, the
median of the per-block differences, and the in-process cost of the metric calls alone.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
import timeit
from collections.abc import Callable

os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="innotter-metrics-ab-")

from django.conf import settings
from django.core.handlers.wsgi import WSGIHandler

from bench.writes import profile_api  # Django set up, the application built
from observability import metrics

METRICS_MIDDLEWARE = "core_app.common.metrics.MetricsMiddleware"


def handler_without_metrics() -> WSGIHandler:
    assert METRICS_MIDDLEWARE in settings.MIDDLEWARE, "run with metrics on"
    kept = settings.MIDDLEWARE
    settings.MIDDLEWARE = [m for m in kept if m != METRICS_MIDDLEWARE]
    try:
        return WSGIHandler()
    finally:
        settings.MIDDLEWARE = kept


def cpu_per_request(handler: WSGIHandler, calls: list[Callable[[], tuple[int, bytes]]]) -> float:
    profile_api.application = handler
    started = time.process_time()
    for call in calls:
        call()
    return (time.process_time() - started) * 1000 / len(calls)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--blocks", type=int, default=20)
    parser.add_argument("--per-block", type=int, default=100)
    args = parser.parse_args()
    on, off = profile_api.application, handler_without_metrics()
    kinds = profile_api.scenarios(args.per_block)
    for kind in ("feed read, 500 follows", "feed read, 20 follows"):
        calls = list(kinds[kind])
        for handler in (on, off):  # warm both
            cpu_per_request(handler, calls[:10])
        with_metrics: list[float] = []
        without: list[float] = []
        differences: list[float] = []
        for block in range(args.blocks):
            order = [(on, with_metrics), (off, without)]
            for handler, results in order if block % 2 == 0 else reversed(order):
                results.append(cpu_per_request(handler, calls))
            differences.append(with_metrics[-1] - without[-1])
        a, b, d = statistics.median(with_metrics), statistics.median(without), statistics.median(differences)
        low, _, high = statistics.quantiles(differences, n=4)
        print(
            f"{kind}: CPU per request, median of {args.blocks} blocks of {args.per_block}: with metrics "
            f"{a:.3f} ms, without {b:.3f} ms; paired difference {d * 1000:+.0f} us ({100 * d / b:+.2f}%), "
            f"quartiles {low * 1000:+.0f} / {high * 1000:+.0f} us"
        )
    observe = timeit.timeit(
        lambda: metrics.observe_request("/api/v1/feed", "GET", 200, 0.005), number=100_000
    )
    print(f"one histogram observation (multiprocess files): {observe * 10:.2f} us")


if __name__ == "__main__":
    main()
