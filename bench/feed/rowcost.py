"""Cost of one feed row: CPU per row in the writing process and in the store's server.

    POSTGRES_DB=... .venv/bin/python -m bench.feed.rowcost --posts 200 [--store pg,redis]

Runs on the feed benchmark's dataset (`bench.feed.run`, same database): `--posts` new posts
of the 1,000-follower page are fanned out to its 1,000 followers, one chunk per post, as the
live fan-out task does it. `pg` is the PostgreSQL design (one `INSERT ... SELECT unnest()`
per chunk into the feed table, the tombstone checks and the sampled trim, one transaction
per chunk); `redis` is the Redis design (`projections.feed.store.fanout_to`: one script call
per chunk, a sorted set per user). CPU comes from /proc (the PostgreSQL backend serving this
connection) and from the Redis server's INFO (the server is shared: other clients' work in
the same seconds is counted too). Prints one JSON object per store.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "core_app.settings")
os.environ.setdefault("DJANGO_SECRET_KEY", "bench-only-secret")

import django  # noqa: E402

FOLLOWERS = list(range(1, 1001))  # the 1,000-follower page's followers in the dataset
PAGE = 10_001
TICKS = os.sysconf("SC_CLK_TCK")

# The PostgreSQL design as it was measured (projections/feed/store.py before the move to Redis).
PG_FANOUT_SQL = """
    INSERT INTO projections_feedentry (user_id, post_id, page_id, created_at)
    SELECT u, %(post_id)s, %(page_id)s, %(created_at)s
    FROM unnest(%(user_ids)s::bigint[]) AS u
    WHERE NOT EXISTS (
            SELECT 1 FROM projections_feedpost WHERE post_id = %(post_id)s AND deleted)
      AND NOT EXISTS (
            SELECT 1 FROM projections_feedpage
            WHERE page_id = %(page_id)s AND (blocked OR owner_blocked OR deleted))
    ON CONFLICT DO NOTHING
"""
PG_TRIM_SQL = """
    DELETE FROM projections_feedentry AS f
    USING (
        SELECT u AS user_id,
               (SELECT e.post_id FROM projections_feedentry AS e WHERE e.user_id = u
                ORDER BY e.post_id DESC OFFSET %(cap)s LIMIT 1) AS cutoff
        FROM unnest(%(user_ids)s::bigint[]) AS u
    ) AS c
    WHERE f.user_id = c.user_id AND f.post_id <= c.cutoff
"""
TRIM_EVERY = 128


def proc_cpu(pid: int) -> float:
    """utime + stime of a process, in seconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def redis_cpu() -> float:
    from projections.feed.store import redis_client

    info = redis_client().info("cpu")
    return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])


def new_post_ids(count: int) -> list[int]:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT max(post_id) FROM projections_feedpost")
        start = int(cursor.fetchone()[0] or 0) + 1_000_000
    return list(range(start, start + count))


def pg_fanout(post_id: int) -> None:
    from django.db import connection, transaction

    params = {"post_id": post_id, "page_id": PAGE, "created_at": datetime.now(UTC), "user_ids": FOLLOWERS}
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(PG_FANOUT_SQL, params)
        trimmed = [u for u in FOLLOWERS if (u * 31 + post_id) % TRIM_EVERY == 0]
        cursor.execute(PG_TRIM_SQL, {"cap": 800, "user_ids": trimmed})


def redis_fanout(post_id: int) -> None:
    from projections.feed import store

    store.fanout_to(store.PostRef(post_id=post_id, page_id=PAGE, created_at=datetime.now(UTC)), FOLLOWERS)


def measure(name: str, fanout: Callable[[int], None], server_cpu: Callable[[], float], posts: int) -> dict:
    post_ids = new_post_ids(posts)
    fanout(post_ids[0] - 1)  # warm: connections, statement plans, the script's cache
    cpu0, server0, wall0 = time.process_time(), server_cpu(), time.perf_counter()
    for post_id in post_ids:
        fanout(post_id)
    cpu, server, wall = time.process_time() - cpu0, server_cpu() - server0, time.perf_counter() - wall0
    rows = posts * len(FOLLOWERS)
    return {
        "store": name,
        "rows": rows,
        "wall_s": round(wall, 2),
        "rows_per_s_one_writer": round(rows / wall),
        "client_cpu_us_per_row": round(cpu / rows * 1e6, 2),
        "server_cpu_us_per_row": round(server / rows * 1e6, 2),
        "total_cpu_us_per_row": round((cpu + server) / rows * 1e6, 2),
        "load_average": os.getloadavg(),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--posts", type=int, default=200)
    parser.add_argument("--store", default="pg,redis")
    args = parser.parse_args()
    django.setup()
    from django.db import connection

    stores = args.store.split(",")
    if "pg" in stores:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_backend_pid()")
            backend = int(cursor.fetchone()[0])
        print(json.dumps(measure("pg", pg_fanout, lambda: proc_cpu(backend), args.posts)), flush=True)
        with connection.cursor() as cursor:  # leave the dataset as it was
            cursor.execute(
                "DELETE FROM projections_feedentry WHERE page_id = %s"
                " AND post_id > (SELECT max(post_id) FROM projections_feedpost)",
                [PAGE],
            )
    if "redis" in stores:
        print(json.dumps(measure("redis", redis_fanout, redis_cpu, args.posts)), flush=True)


if __name__ == "__main__":
    main()
