"""Append throughput (a script, not a test): N concurrent sessions appending events for a fixed time.

    POSTGRES_DB=innotter_appends .venv/bin/python -m bench.appends.run [--sessions 1,4,16,64]
        [--seconds 8] [--variants plain,update] [--lock-table] [--label NAME]

Every session has its own PostgreSQL connection (threads spread over a few processes, so the
GIL is not what limits) and runs small transactions through the real append API: one
`append_event` inside `transaction.atomic()`, alone (`plain`) or after a one-row UPDATE of the
session's own row (`update`, what services do: change a row, then append). `--lock-table` puts
`LOCK TABLE event_log IN EXCLUSIVE MODE` and `pg_notify` before each append: exactly what
every append did before the log was ordered without a lock, so both designs are measured by
the same code. `--notify-always` adds only the unconditional `pg_notify` (which PostgreSQL
serializes at commit), to measure what notifying on every append costs; without it, as in the
application, an append notifies only while a relay sleeps (none runs here).
Prints events/s and transaction latency (begin to commit returned) p50/p99 per N; writes the
figures as JSON too (default bench/appends/results-<label>.json). Needs a migrated database.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import platform
import statistics
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
MAX_PROCESSES = 4
ROW_TABLE = "bench_append_row"


def _setup_django() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "core_app.settings")
    os.environ.setdefault("DJANGO_DEBUG", "0")
    os.environ.setdefault("DJANGO_SECRET_KEY", "bench-only-secret")
    os.environ.setdefault("POSTGRES_CONN_MAX_AGE", "600")
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()


def _session(
    session_id: int,
    variant: str,
    lock_table: bool,
    notify_always: bool,
    connected: threading.Barrier,
    window: Any,
    out: list[float],
) -> None:
    """One session: transactions back to back until the window closes; latencies of those begun in it."""
    from django.db import connection, transaction

    from events.append import append_event
    from events.contracts import PostLiked

    payload = PostLiked(post_id=session_id, page_id=1, page_owner_id=1, user_id=session_id)
    with connection.cursor() as cursor:  # connect before the window opens
        cursor.execute("SELECT 1")
    connected.wait()
    start, stop = window[0], window[1]
    while time.time() < start:
        time.sleep(0.001)
    while (began := time.time()) < stop:
        t0 = time.perf_counter()
        with transaction.atomic(), connection.cursor() as cursor:
            if variant == "update":
                cursor.execute(f"UPDATE {ROW_TABLE} SET n = n + 1 WHERE id = %s", [session_id])
            if lock_table:
                cursor.execute("LOCK TABLE event_log IN EXCLUSIVE MODE")
            if lock_table or notify_always:
                cursor.execute("SELECT pg_notify('event_log', '')")
            append_event(payload, actor_id=None)
        if began >= start:
            out.append(time.perf_counter() - t0)
    connection.close()


def _process(
    ids: list[int],
    variant: str,
    lock_table: bool,
    notify_always: bool,
    ready: Any,
    go: Any,
    window: Any,
    queue: Any,
) -> None:
    _setup_django()
    latencies: list[list[float]] = [[] for _ in ids]

    def all_connected() -> None:  # the barrier's last thread reports, then waits for the window
        ready.put(len(ids))
        go.wait()

    connected = threading.Barrier(len(ids), action=all_connected)
    threads = [
        threading.Thread(
            target=_session, args=(sid, variant, lock_table, notify_always, connected, window, latencies[i])
        )
        for i, sid in enumerate(ids)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    queue.put([x for session in latencies for x in session])


def _prepare_rows(count: int) -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(f"CREATE TABLE IF NOT EXISTS {ROW_TABLE} (id int PRIMARY KEY, n bigint NOT NULL)")
        cursor.execute(
            f"INSERT INTO {ROW_TABLE} SELECT g, 0 FROM generate_series(1, %s) g ON CONFLICT DO NOTHING",
            [count],
        )
    connection.close()


def _percentile(sorted_values: list[float], share: float) -> float:
    return sorted_values[min(len(sorted_values) - 1, int(share * len(sorted_values)))]


def measure(
    sessions: int, variant: str, lock_table: bool, seconds: float, notify_always: bool = False
) -> dict[str, Any]:
    """Run `sessions` concurrent sessions for `seconds`; events/s and latency figures."""
    processes = min(sessions, MAX_PROCESSES)
    groups = [list(range(1 + p, sessions + 1, processes)) for p in range(processes)]
    ctx = multiprocessing.get_context("spawn")
    queue, ready, go, window = ctx.Queue(), ctx.Queue(), ctx.Event(), ctx.Array("d", 2)
    workers = [
        ctx.Process(
            target=_process, args=(group, variant, lock_table, notify_always, ready, go, window, queue)
        )
        for group in groups
    ]
    for worker in workers:
        worker.start()
    for _ in workers:  # every session connected: open the window
        ready.get(timeout=120)
    window[0] = time.time() + 0.2
    window[1] = window[0] + seconds
    go.set()
    latencies = sorted(x for _ in workers for x in queue.get())
    for worker in workers:
        worker.join()
    return {
        "sessions": sessions,
        "variant": variant,
        "lock_table": lock_table,
        "notify": "always" if (lock_table or notify_always) else "if a relay sleeps",
        "seconds": seconds,
        "events": len(latencies),
        "events_per_second": round(len(latencies) / seconds, 1),
        "p50_ms": round(_percentile(latencies, 0.50) * 1000, 2) if latencies else None,
        "p99_ms": round(_percentile(latencies, 0.99) * 1000, 2) if latencies else None,
        "mean_ms": round(statistics.fmean(latencies) * 1000, 2) if latencies else None,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sessions", default="1,4,16,64")
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--variants", default="plain,update")
    parser.add_argument("--lock-table", action="store_true", help="LOCK TABLE event_log before each append")
    parser.add_argument("--notify-always", action="store_true", help="pg_notify on every append (its cost)")
    parser.add_argument("--label", default=None)
    parser.add_argument(
        "--json", default=None, help="output file (default bench/appends/results-<label>.json)"
    )
    args = parser.parse_args()
    _setup_django()
    counts = [int(n) for n in args.sessions.split(",")]
    _prepare_rows(max(counts))
    label = args.label or ("lock" if args.lock_table else "nolock")
    rows = []
    print(f"{'design':<10} {'variant':<7} {'N':>3} {'events/s':>9} {'p50 ms':>8} {'p99 ms':>8}")
    for variant in args.variants.split(","):
        for sessions in counts:
            row = measure(sessions, variant, args.lock_table, args.seconds, args.notify_always)
            rows.append(row)
            print(
                f"{label:<10} {variant:<7} {sessions:>3} {row['events_per_second']:>9} "
                f"{row['p50_ms']:>8} {row['p99_ms']:>8}",
                flush=True,
            )
    report = {
        "label": label,
        "at": datetime.now(UTC).isoformat(timespec="seconds"),
        "host": platform.node(),
        "cpus": os.cpu_count(),
        "load_average": os.getloadavg(),
        "results": rows,
    }
    path = Path(args.json) if args.json else ROOT / "bench" / "appends" / f"results-{label}.json"
    path.write_text(json.dumps(report, indent=2) + "\n")
    print(f"load average {os.getloadavg()}; written to {path}")


if __name__ == "__main__":
    main()
