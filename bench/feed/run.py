"""Feed benchmark (a script, not a test): dataset by SQL, then read latency, fan-out, relay, end-to-end lag.

    .venv/bin/python -m bench.feed.run [--skip-dataset [--skip-feeds]] [--only relay,read,fanout,lag,sweep]
        [--sweep-follows 20,100,500] [--sweep-clients 1,4,16,64] [--json PATH]

Uses its own database (`innotter_bench`, or `BENCH_POSTGRES_DB`; its feeds in Redis at REDIS_URL)
and its own broker names (deleted at the end).
Dataset: 10,000 users each with one page, each following 500 pages; 1,000,000 posts skewed
over pages (page = N * u^3, a Zipf-like head); feeds built in Redis for every user (~800 entries);
plus 1,000 "light" users following 20 pages each, for the flatness comparison, and 1,000
"medium" users following 100 pages each (added to a kept dataset that lacks them).

`sweep` (not in the default parts) reads the feed at each number of follows (--sweep-follows, at
2 clients) and at each number of concurrent clients (--sweep-clients, at 500 follows): req/s,
p50/p99 per level, for bench.report. Results: JSON on stdout, in var/bench-feed-results.json
and in --json PATH, with the machine, the date, the command and the load average.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import statistics
import subprocess
import sys
import threading
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# A database of its own per checkout (it is dropped and rebuilt unless --skip-dataset).
DB = os.environ.get("BENCH_POSTGRES_DB", "innotter_bench")
SUFFIX = uuid.uuid4().hex[:8]
ENV = {
    "DJANGO_SETTINGS_MODULE": "core_app.settings",
    "DJANGO_DEBUG": "0",
    "DJANGO_SECRET_KEY": "bench-only-secret",
    "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost",
    "JWT_GENERATE_DEV_KEYS": "1",
    "JWT_PRIVATE_KEY_FILE": str(ROOT / "var" / "bench-keys" / "jwt_private.pem"),
    "JWT_PUBLIC_KEY_FILE": str(ROOT / "var" / "bench-keys" / "jwt_public.pem"),
    "POSTGRES_DB": DB,
    "POSTGRES_CONN_MAX_AGE": "600",
    "EVENTS_EXCHANGE": f"bench-{SUFFIX}.events",
    "EVENTS_QUEUE_PROJECTIONS": f"bench-{SUFFIX}.projections",
    "EVENTS_QUEUE_STATS": f"bench-{SUFFIX}.stats",
    "EVENTS_DEAD_LETTER_EXCHANGE": f"bench-{SUFFIX}.dead",
    "CELERY_TASK_QUEUE": f"bench-{SUFFIX}.tasks",
    "RELAY_NAME": f"bench-e2e-{SUFFIX}",
    "LOG_LEVEL": "WARNING",
    "AWS_ACCESS_KEY_ID": "bench",
    "AWS_SECRET_ACCESS_KEY": "bench",
}
os.environ.update(ENV)
sys.path.insert(0, str(ROOT))

import django  # noqa: E402

USERS, LIGHT_USERS, FOLLOWS, LIGHT_FOLLOWS, POSTS = 10_000, 1_000, 500, 20, 1_000_000
CELEBRITY_FOLLOWERS = 1_000
SENDER_RATE = 25  # posts/s per sender of the lag runs (one keeps up ~60 while the machine fans out)
CELEBRITY_USER, CELEBRITY_PAGE = USERS + LIGHT_USERS + 1, USERS + 1
# Added after the celebrity so that datasets built before them keep their ids.
MEDIUM_USERS, MEDIUM_FOLLOWS = 1_000, 100
MEDIUM_FIRST, MEDIUM_LAST = CELEBRITY_USER + 1, CELEBRITY_USER + MEDIUM_USERS
FEED_WINDOW = 16_000  # newest posts fanned out when building feeds: 16,000 x 500 followers / 10,000 = ~800


def log(message: str) -> None:
    print(f"[{datetime.now(UTC):%H:%M:%S}] {message}", flush=True)


def psql(sql: str, db: str = DB) -> None:
    subprocess.run(
        ["psql", "-h", "127.0.0.1", "-U", "postgres", "-d", db, "-v", "ON_ERROR_STOP=1", "-qc", sql],
        check=True,
    )


def manage(*args: str) -> None:
    subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env={**os.environ}, check=True)


DATASET_SQL = f"""
SET session_replication_role = replica;  -- bulk load: skip FK triggers
SELECT setseed(0.42);
INSERT INTO users_user (id, password, is_superuser, username, first_name, last_name, is_staff, is_active,
    date_joined, email, role, is_blocked, blocked_reason, avatar_key, email_notifications)
SELECT g, '!', false, 'bench' || g, 'Bench', 'User', false, true, now(), 'bench' || g || '@bench.local',
    'user', false, '', '', false
FROM generate_series(1, {CELEBRITY_USER}) AS g;
INSERT INTO pages_page (id, owner_id, name, uuid, description, is_private, image_key, blocked_permanently,
    blocked_reason, followers_count, created_at, updated_at)
SELECT g, CASE WHEN g = {CELEBRITY_PAGE} THEN {CELEBRITY_USER} ELSE g END, 'Page ' || g, 'bench-' || g, '',
    false, '', false, '', 0, now(), now()
FROM generate_series(1, {CELEBRITY_PAGE}) AS g;
INSERT INTO pages_follow (page_id, follower_id, status, created_at, accepted_at)
SELECT ((u + k * 19) % {USERS}) + 1, u, 'accepted', now(), now()
FROM generate_series(1, {USERS}) AS u, generate_series(1, {FOLLOWS}) AS k;
INSERT INTO pages_follow (page_id, follower_id, status, created_at, accepted_at)
SELECT ((j * 37 + k * 499) % {USERS}) + 1, {USERS} + j, 'accepted', now(), now()
FROM generate_series(1, {LIGHT_USERS}) AS j, generate_series(1, {LIGHT_FOLLOWS}) AS k;
INSERT INTO pages_follow (page_id, follower_id, status, created_at, accepted_at)
SELECT {CELEBRITY_PAGE}, u, 'accepted', now(), now() FROM generate_series(1, {CELEBRITY_FOLLOWERS}) AS u;
UPDATE pages_page p SET followers_count = c.n
FROM (SELECT page_id, count(*) AS n FROM pages_follow GROUP BY page_id) AS c WHERE c.page_id = p.id;
INSERT INTO posts_post (id, page_id, content, likes_count, replies_count, created_at, updated_at)
SELECT g, least({USERS}, 1 + floor({USERS} * power(random(), 3))::int), 'Bench post number ' || g, 0, 0,
    now() - make_interval(secs => {POSTS} - g), now() - make_interval(secs => {POSTS} - g)
FROM generate_series(1, {POSTS}) AS g;
SELECT setval(pg_get_serial_sequence('users_user', 'id'), {CELEBRITY_USER});
SELECT setval(pg_get_serial_sequence('pages_page', 'id'), {CELEBRITY_PAGE});
SELECT setval(pg_get_serial_sequence('posts_post', 'id'), {POSTS});
INSERT INTO projections_feedpage (page_id, owner_id, blocked, owner_blocked, read_time_merge, deleted)
SELECT id, owner_id, false, false, false, false FROM pages_page;
INSERT INTO projections_feedfollow (page_id, user_id) SELECT page_id, follower_id FROM pages_follow;
INSERT INTO projections_feedpost (post_id, page_id, created_at, deleted)
SELECT id, page_id, created_at, false FROM posts_post;
"""

MEDIUM_SQL = f"""
SET session_replication_role = replica;
INSERT INTO users_user (id, password, is_superuser, username, first_name, last_name, is_staff, is_active,
    date_joined, email, role, is_blocked, blocked_reason, avatar_key, email_notifications)
SELECT g, '!', false, 'bench' || g, 'Bench', 'User', false, true, now(), 'bench' || g || '@bench.local',
    'user', false, '', '', false
FROM generate_series({MEDIUM_FIRST}, {MEDIUM_LAST}) AS g;
INSERT INTO pages_follow (page_id, follower_id, status, created_at, accepted_at)
SELECT ((j * 53 + k * 97) % {USERS}) + 1, {MEDIUM_FIRST} + j, 'accepted', now(), now()
FROM generate_series(0, {MEDIUM_USERS - 1}) AS j, generate_series(1, {MEDIUM_FOLLOWS}) AS k;
INSERT INTO projections_feedfollow (page_id, user_id)
SELECT page_id, follower_id FROM pages_follow WHERE follower_id BETWEEN {MEDIUM_FIRST} AND {MEDIUM_LAST};
UPDATE pages_page p SET followers_count = c.n
FROM (SELECT page_id, count(*) AS n FROM pages_follow GROUP BY page_id) AS c WHERE c.page_id = p.id;
SELECT setval(pg_get_serial_sequence('users_user', 'id'), greatest({MEDIUM_LAST}, max(id))) FROM users_user;
"""

# The medium users' feeds: the newest 80,000 posts of their 100 pages (~800 each), capped at 800.
MEDIUM_FEEDS_SQL = f"""
SELECT f.follower_id, (array_agg(p.id ORDER BY p.id DESC))[1:800]
FROM posts_post AS p JOIN pages_follow AS f ON f.page_id = p.page_id
WHERE p.id > {POSTS - 5 * FEED_WINDOW} AND f.follower_id BETWEEN {MEDIUM_FIRST} AND {MEDIUM_LAST}
GROUP BY f.follower_id
"""

# Every user's home feed, as the fan-out would have built it: for the 10,000 heavy users the
# newest 16,000 posts of the pages they follow (~800 each), for the light users the newest 800
# posts of their 20 pages. Written to Redis (one sorted set per user), capped at 800.
FEEDS_SQL = f"""
SELECT f.follower_id, array_agg(p.id)
FROM posts_post AS p JOIN pages_follow AS f ON f.page_id = p.page_id
WHERE p.id > {POSTS - FEED_WINDOW} AND f.follower_id <= {USERS}
GROUP BY f.follower_id
UNION ALL
SELECT user_id, (array_agg(id ORDER BY id DESC))[1:800] FROM (
    SELECT f.follower_id AS user_id, p.id
    FROM pages_follow AS f
    CROSS JOIN LATERAL (
        SELECT id FROM posts_post WHERE page_id = f.page_id ORDER BY id DESC LIMIT 800) AS p
    WHERE f.follower_id BETWEEN {USERS + 1} AND {USERS + LIGHT_USERS}) AS followed
GROUP BY user_id
UNION ALL
{MEDIUM_FEEDS_SQL}"""


def build_dataset() -> None:
    psql(f"DROP DATABASE IF EXISTS {DB}", db="postgres")
    psql(f"CREATE DATABASE {DB}", db="postgres")
    manage("migrate", "-v0")
    started = time.perf_counter()
    psql(DATASET_SQL)
    psql(MEDIUM_SQL)
    log(f"dataset: users, pages, 5.14M follows, 1M posts in {time.perf_counter() - started:.0f}s")


def ensure_medium_users() -> None:
    """A dataset built before the 100-follow users gets them (and their feeds)."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT 1 FROM users_user WHERE id = %s", [MEDIUM_FIRST])
        if cursor.fetchone():
            return
    started = time.perf_counter()
    psql(MEDIUM_SQL)
    build_feeds(MEDIUM_FEEDS_SQL, clear=False)
    log(f"{MEDIUM_USERS} users following {MEDIUM_FOLLOWS} pages added ({time.perf_counter() - started:.0f}s)")


def build_feeds(query: str = FEEDS_SQL, clear: bool = True) -> None:
    """The feeds of `query`'s users into Redis (with `clear`, this database's feeds are replaced)."""
    import psycopg
    from django.conf import settings

    from events.management.config import conninfo_from_settings
    from projections.feed import store

    started = time.perf_counter()
    if clear:
        store.clear()
    pipe = store.redis_client().pipeline(transaction=False)
    with psycopg.connect(conninfo_from_settings()) as conn, conn.cursor(name="feeds") as cursor:
        cursor.execute(query)
        for user_id, post_ids in cursor:
            key = store.feed_key(user_id)
            pipe.zadd(key, {str(p): p for p in post_ids})
            pipe.zremrangebyrank(key, 0, -settings.FEED_MAX_ENTRIES - 1)
            if len(pipe) >= 200:
                pipe.execute()
    pipe.execute()
    psql("VACUUM ANALYZE")
    log(f"feeds built in {time.perf_counter() - started:.0f}s")


def setup_django() -> None:
    django.setup()


def tokens_file(user_ids: list[int], name: str) -> Path:
    from core_app.common.auth.tokens import issue_access_token

    path = ROOT / "var" / f"bench-{name}.tokens"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(issue_access_token(user_id=u, role="user")[0] for u in user_ids))
    return path


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start(args: list[str], name: str) -> subprocess.Popen[bytes]:
    out = (ROOT / "var" / f"bench-{name}.log").open("wb")
    env = {**os.environ, "PROCESS_NAME": name, "METRICS_PORT": str(free_port())}  # no other stack's port
    return subprocess.Popen(args, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)


def wait_http(url: str) -> None:
    import httpx

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            httpx.get(url, timeout=1)
            return
        except httpx.HTTPError:
            time.sleep(0.2)
    raise RuntimeError(f"{url} did not come up")


def feed_load(base: str, tokens: Path, seconds: float, clients: int = 2) -> dict[str, float]:
    cmd = [
        sys.executable,
        "-m",
        "bench.feed.loadgen",
        "--url",
        f"{base}/api/v1/feed/",
        "--tokens",
        str(tokens),
        "--seconds",
        str(seconds),
        "--concurrency",
        str(clients),
        "--prime",
    ]
    result = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, check=True)
    return dict(json.loads(result.stdout.strip().splitlines()[-1]))


def cpu_seconds(pid: int) -> float:
    """CPU time of a process and its children (gunicorn: the master and its workers)."""
    import psutil

    leader = psutil.Process(pid)
    return sum(sum(p.cpu_times()[:2]) for p in [leader, *leader.children(recursive=True)])


def read_sweep(base: str, args: argparse.Namespace, api_pid: int) -> dict[str, list[dict[str, object]]]:
    """Feed reads at each number of follows (2 clients), then at each number of clients (500 follows);
    with the API's CPU per request (every request of the level: robust to a busy machine)."""
    users = {
        LIGHT_FOLLOWS: range(USERS + 1, USERS + LIGHT_USERS + 1, 2),
        MEDIUM_FOLLOWS: range(MEDIUM_FIRST, MEDIUM_LAST + 1, 2),
        FOLLOWS: range(1, USERS + 1, 20),
    }
    tokens = {follows: tokens_file(list(ids), f"follows-{follows}") for follows, ids in users.items()}
    levels: dict[str, list[tuple[int, int]]] = {
        "by_follows": [(follows, 2) for follows in args.sweep_follows],
        "by_clients": [(FOLLOWS, clients) for clients in args.sweep_clients],
    }
    sweep: dict[str, list[dict[str, object]]] = {}
    for name, points in levels.items():
        sweep[name] = []
        for follows, clients in points:
            load_before = [round(x, 2) for x in os.getloadavg()]
            cpu_before = cpu_seconds(api_pid)
            result = feed_load(base, tokens[follows], args.sweep_seconds, clients)
            cpu = cpu_seconds(api_pid) - cpu_before
            level = {"follows": follows, "clients": clients, **result, "load_average": load_before}
            level["api_cpu_ms_per_request"] = round(cpu * 1000 / max(1, int(result["requests_sent"])), 2)
            log(f"feed read, {follows} follows, {clients} clients: {result}")
            sweep[name].append(level)
    return sweep


def fanout_throughput(posts: int = 100) -> dict[str, float]:
    """Celery fan-out tasks of `posts` new posts to 1,000 followers each (the worker runs 2 processes)."""
    from django.db import connection

    from projections.feed import store
    from projections.tasks import feed_fanout

    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO posts_post (page_id, content, likes_count, replies_count, created_at, updated_at)"
            " SELECT %s, 'fan-out bench', 0, 0, now(), now() FROM generate_series(1, %s) RETURNING id",
            [CELEBRITY_PAGE, posts],
        )
        post_ids = [row[0] for row in cursor.fetchall()]
    users = list(range(1, CELEBRITY_FOLLOWERS + 1))
    now = datetime.now(UTC).isoformat()
    started = time.perf_counter()
    for post_id in post_ids:
        feed_fanout.apply_async(args=(post_id, CELEBRITY_PAGE, now, users))
    expected = posts * len(users)
    first_feed = store.feed_key(users[0])
    while True:
        # One task writes its whole chunk in one script call: its first user stands for all.
        scores = store.redis_client().zmscore(first_feed, [str(p) for p in post_ids])
        if sum(score is not None for score in scores) * len(users) >= expected:
            break
        time.sleep(0.05)
    seconds = time.perf_counter() - started
    return {"rows": expected, "seconds": round(seconds, 2), "rows_per_second": round(expected / seconds)}


def e2e_lag(base: str, seconds: float = 15, rate: float = 20) -> dict[str, float]:
    """POST posts to the 1,000-follower page at `rate`/s; time until each is in all 1,001 feeds."""
    import httpx

    from core_app.common.auth.tokens import issue_access_token
    from projections.feed import store

    token = issue_access_token(user_id=CELEBRITY_USER, role="user")[0]
    posted: dict[int, float] = {}
    seen: dict[int, float] = {}
    stop = threading.Event()

    def watch() -> None:
        client = store.redis_client()
        # Each fan-out chunk (1..1000, then the owner) is one script call, atomic in Redis,
        # so a chunk's first user stands for the whole chunk.
        feeds = [store.feed_key(1), store.feed_key(CELEBRITY_USER)]
        while not (stop.is_set() and len(seen) == len(posted)):
            pending = [p for p in list(posted) if p not in seen]
            if pending:
                members = [str(p) for p in pending]
                pipe = client.pipeline(transaction=False)
                for feed in feeds:
                    pipe.zmscore(feed, members)
                first, owner = pipe.execute()
                now = time.perf_counter()
                for post_id, a, b in zip(pending, first, owner, strict=True):
                    if a is not None and b is not None:
                        seen[post_id] = now
            time.sleep(0.005)

    # One sequential client keeps up ~60 posts/s while the machine fans out: several senders,
    # each at its share of the rate and staggered, so the rate asked is the rate sent.
    senders = max(1, math.ceil(rate / SENDER_RATE))
    begin = time.perf_counter()
    end = begin + seconds

    def send(first_at: float) -> None:
        headers = {"Authorization": f"Bearer {token}"}
        with httpx.Client(base_url=base, headers=headers, timeout=10) as client:
            next_at = first_at
            while next_at < end:
                time.sleep(max(0.0, next_at - time.perf_counter()))
                started = time.perf_counter()
                body = {"page": CELEBRITY_PAGE, "content": "lag probe"}
                response = client.post("/api/v1/posts/", json=body)
                response.raise_for_status()
                posted[response.json()["id"]] = started
                next_at += senders / rate

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    threads = [threading.Thread(target=send, args=(begin + i / rate,)) for i in range(senders)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    sending_seconds = time.perf_counter() - begin
    stop.set()
    watcher.join(timeout=120)
    lags = sorted(seen[p] - posted[p] for p in posted if p in seen)
    quantiles = statistics.quantiles(lags, n=100, method="inclusive")
    applied = sorted(applied_after_commit(list(posted)))
    applied_quantiles = statistics.quantiles(applied, n=100, method="inclusive")
    return {
        "posts": len(posted),
        "senders": senders,
        "sent_per_second": round(len(posted) / sending_seconds, 1),  # the rate reached
        "completed": len(lags),
        "p50_ms": round(quantiles[49] * 1000, 1),
        "p99_ms": round(quantiles[98] * 1000, 1),
        "max_ms": round(lags[-1] * 1000, 1),
        # The first leg alone: post committed -> its event applied by the worker's consumer
        # (relay, broker, consumer); the rest of the lag is the fan-out task.
        "event_applied_p50_ms": round(applied_quantiles[49] * 1000, 1),
        "event_applied_p99_ms": round(applied_quantiles[98] * 1000, 1),
    }


def applied_after_commit(post_ids: list[int]) -> list[float]:
    """Seconds from each post's creation to the feed consumer's record of its `post.created`."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT extract(epoch FROM a.applied_at - p.created_at) FROM posts_post AS p"
            " JOIN event_log AS e ON e.type = 'post.created' AND e.aggregate_id = p.id::text"
            " JOIN projections_appliedevent AS a ON a.event_id = e.event_id AND a.consumer = 'feed'"
            " WHERE p.id = ANY(%s)",
            [post_ids],
        )
        return [float(row[0]) for row in cursor.fetchall()]


def int_list(text: str) -> list[int]:
    return [int(n) for n in text.split(",") if n]


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--skip-dataset", action="store_true", help="reuse users, pages, follows, posts")
    parser.add_argument("--skip-feeds", action="store_true", help="reuse the built feeds too")
    parser.add_argument("--relay-events", type=int, default=50_000)
    parser.add_argument("--read-seconds", type=float, default=20)
    parser.add_argument("--lag-seconds", type=float, default=15, help="how long posts are written")
    parser.add_argument(
        "--lag-rates", default="20", help="comma-separated post rates (posts/s) of the lag runs, one run each"
    )
    parser.add_argument(
        "--only",
        default="relay,read,fanout,lag",
        help="comma-separated parts to run (relay, read, fanout, lag, sweep); default: all but sweep",
    )
    parser.add_argument(
        "--sweep-follows",
        type=int_list,
        default=[LIGHT_FOLLOWS, MEDIUM_FOLLOWS, FOLLOWS],
        help="sweep: follows",
    )
    parser.add_argument("--sweep-clients", type=int_list, default=[1, 4, 16, 64], help="sweep: clients")
    parser.add_argument("--sweep-seconds", type=float, default=10, help="sweep: measured seconds per level")
    parser.add_argument("--api-port", type=int, help="the API's port (default: a free one)")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()
    unknown = set(args.sweep_follows) - {LIGHT_FOLLOWS, MEDIUM_FOLLOWS, FOLLOWS}
    if unknown:
        parser.error(f"--sweep-follows: users follow {LIGHT_FOLLOWS}, {MEDIUM_FOLLOWS} or {FOLLOWS} pages")
    return args


def main() -> None:
    from bench.writes.run import git_commit, machine

    args = parse_args()
    parts = set(args.only.split(","))
    results: dict[str, object] = {
        "started_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "command": " ".join([Path(sys.executable).name, "-m", "bench.feed.run", *sys.argv[1:]]),
        "commit": git_commit(),
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
    }
    if not args.skip_dataset:
        build_dataset()
    else:
        manage("migrate", "-v0")  # a kept dataset gets the code's later migrations
    setup_django()
    if not args.skip_feeds:
        build_feeds()
    ensure_medium_users()
    from django.conf import settings

    from bench.relay.run import measure as measure_relay
    from events.management.config import conninfo_from_settings, topology_from_settings
    from events.topology import declare_topology_sync, delete_topology

    if "relay" in parts:
        log("relay throughput")
        results["relay"] = measure_relay(
            conninfo_from_settings(),
            settings.RABBITMQ_URL,
            args.relay_events,
            settings.RELAY_BATCH_SIZE,
            settings.RELAY_BATCHES_IN_FLIGHT,
        )
        log(f"relay: {results['relay']}")
    psql(
        "INSERT INTO event_relay_cursor (name, position, updated_at) "
        f"SELECT '{settings.RELAY_NAME}', coalesce(max(position), 0), now() FROM event_log"
    )
    declare_topology_sync(settings.RABBITMQ_URL, topology_from_settings())
    port = args.api_port or free_port()
    base = f"http://127.0.0.1:{port}"
    venv = Path(sys.executable).parent
    # the project's gunicorn settings (and metrics: METRICS_ENABLED=0 measures without them)
    gunicorn = [str(venv / "gunicorn"), "core_app.wsgi:application", "-c", "python:core_app.gunicorn_conf"]
    processes = [
        start([*gunicorn, "-w", "2", "-b", f"127.0.0.1:{port}"], "api"),
        start([sys.executable, "manage.py", "run_relay"], "relay"),
        start(
            [
                str(venv / "celery"),
                "-A",
                "projections.celery_app",
                "worker",
                "--concurrency=2",
                "--loglevel=WARNING",
                "--without-mingle",
                "--without-gossip",
            ],
            "worker",
        ),
    ]
    try:
        wait_http(f"{base}/health")
        heavy = tokens_file(list(range(1, USERS + 1, 20)), "heavy")
        light = tokens_file(list(range(USERS + 1, USERS + LIGHT_USERS + 1, 2)), "light")
        if "read" in parts:
            log("feed read, 500 follows")
            results["feed_500_follows"] = feed_load(base, heavy, args.read_seconds)
            log(f"{results['feed_500_follows']}")
            log("feed read, 20 follows")
            results["feed_20_follows"] = feed_load(base, light, args.read_seconds)
            log(f"{results['feed_20_follows']}")
        if "sweep" in parts:
            results["read_sweep"] = read_sweep(base, args, processes[0].pid)
        if "fanout" in parts:
            log("fan-out throughput")
            results["fanout"] = fanout_throughput()
            log(f"{results['fanout']}")
        if "lag" in parts:
            for rate in [float(r) for r in args.lag_rates.split(",")]:
                log(f"end-to-end lag at {rate:g} posts/s")
                name = "e2e_lag" if rate == 20 else f"e2e_lag_{rate:g}"
                results[name] = e2e_lag(base, seconds=args.lag_seconds, rate=rate)
                log(f"{results[name]}")
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            process.wait(timeout=30)
        asyncio.run(delete_topology(settings.RABBITMQ_URL, topology_from_settings()))
        import aio_pika

        async def drop_task_queue() -> None:
            conn = await aio_pika.connect(settings.RABBITMQ_URL)
            async with conn:
                channel = await conn.channel()
                await channel.queue_delete(settings.CELERY_TASK_QUEUE)
                await channel.exchange_delete(settings.CELERY_TASK_QUEUE)

        asyncio.run(drop_task_queue())
    results["machine"] = {**machine(), "load_average": os.getloadavg()}
    results["finished_at"] = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    print(json.dumps(results, indent=2))
    for out in [ROOT / "var" / "bench-feed-results.json", *([args.json] if args.json else [])]:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
