"""In-process profile of the API's cost per request (a script, not a test), DEBUG off.

    BENCH_POSTGRES_DB=innotter_bench .venv/bin/python -m bench.writes.profile_api [--requests 300] [--profile]

Calls the WSGI application directly (no server, no socket), so what is measured is Django,
DRF, the views and the SQL round trips. For each kind of request (post create, like, follow,
feed read at 500 and at 20 follows) it prints the CPU and wall milliseconds per request and
the queries per request; with --profile, a cProfile (CPU time) of each kind and a breakdown
of where the milliseconds go. Feed reads need the feed benchmark's dataset (bench.feed.run);
the writes use users and pages of their own, created at start.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import os
import pstats
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
from bench.feed.run import ENV  # noqa: E402  (the feed benchmark's settings: its dataset, DEBUG off)

os.environ.update(ENV)

import django  # noqa: E402

django.setup()

from django.core.wsgi import get_wsgi_application  # noqa: E402
from django.db import connection  # noqa: E402

from core_app.common.auth.tokens import issue_access_token  # noqa: E402
from core_app.pages.models import Page  # noqa: E402
from core_app.posts.models import Post  # noqa: E402
from core_app.users.models import User  # noqa: E402

application = get_wsgi_application()
HEAVY_USERS = range(1, 10_001, 20)  # the feed dataset's users with 500 follows
LIGHT_USERS = range(10_001, 11_001, 2)  # ... and with 20 follows

# Where the milliseconds go: (label, file fragment, function name); cumulative CPU of each.
BUCKETS = [
    ("whole WSGI call", "django/core/handlers/wsgi.py", "__call__"),
    ("JWT middleware (decode + user query)", "auth/middleware.py", "__call__"),
    ("  jwt signature verify", "jwt/api_jws.py", "_verify_signature"),
    ("SQL round trips (cursor.execute)", "django/db/backends/utils.py", "_execute"),
    ("DRF APIView.dispatch", "rest_framework/views.py", "dispatch"),
    ("  DRF initial (negotiation, auth, perms)", "rest_framework/views.py", "initial"),
    ("  DRF finalize_response", "rest_framework/views.py", "finalize_response"),
    ("request body parse", "rest_framework/request.py", "_parse"),
    ("input validation (is_valid)", "rest_framework/serializers.py", "is_valid"),
    ("serializer .data (output)", "rest_framework/serializers.py", "data"),
    ("response render (JSON)", "rest_framework/response.py", "rendered_content"),
    ("event append", "events/append.py", "append_event"),
    ("  pydantic model_dump", "pydantic/main.py", "model_dump"),
    ("ORM SQL compile", "django/db/models/sql/compiler.py", "as_sql"),
    ("transaction.atomic enter+exit", "django/db/transaction.py", "__exit__"),
    ("URL resolve", "django/urls/resolvers.py", "resolve"),
    ("session middleware", "sessions/middleware.py", "process_response"),
    ("csrf middleware", "django/middleware/csrf.py", "process_view"),
    ("messages middleware", "messages/middleware.py", "process_response"),
]


def wsgi(method: str, path: str, token: str, body: Any = None, query: str = "") -> tuple[int, bytes]:
    raw = b"" if body is None else json.dumps(body).encode()
    environ = {
        "REQUEST_METHOD": method,
        "PATH_INFO": path,
        "QUERY_STRING": query,
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "80",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "HTTP_HOST": "127.0.0.1",
        "HTTP_AUTHORIZATION": f"Bearer {token}",
        "CONTENT_TYPE": "application/json" if body is not None else "",
        "CONTENT_LENGTH": str(len(raw)),
        "wsgi.input": io.BytesIO(raw),
        "wsgi.url_scheme": "http",
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": False,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
    }
    status: list[str] = []
    result = application(environ, lambda s, h, exc_info=None: status.append(s))
    try:
        content = b"".join(result)
    finally:
        result.close()  # type: ignore[attr-defined]
    return int(status[0].split()[0]), content


def token(user_id: int) -> str:
    return issue_access_token(user_id=user_id, role="user")[0]


def fresh_users(count: int) -> list[tuple[int, int, str]]:
    """`count` new users, each with a public page: (user id, page id, token)."""
    tag = uuid.uuid4().hex[:8]
    users = User.objects.bulk_create(
        [
            User(username=f"prof{tag}{i}", email=f"prof{tag}{i}@bench.local", password="!")
            for i in range(count)
        ]
    )
    pages = Page.objects.bulk_create(
        [Page(owner=u, name=f"Profile {i}", uuid=f"prof{tag}{i}") for i, u in enumerate(users)]
    )
    return [(u.pk, p.pk, token(u.pk)) for u, p in zip(users, pages, strict=True)]


def scenarios(n: int) -> dict[str, Iterator[Callable[[], tuple[int, bytes]]]]:
    """For each kind, `n` distinct requests (so each write really writes)."""
    users = fresh_users(n + 1)
    _, author_page, author_token = users[0]
    hot = Post.objects.create(page_id=author_page, content="hot post")
    targets = list(Page.objects.filter(pk__lte=10_000).order_by("pk").values_list("pk", flat=True)[:n])
    heavy = [token(u) for u in HEAVY_USERS]
    light = [token(u) for u in LIGHT_USERS]

    def posts() -> Iterator[Callable[[], tuple[int, bytes]]]:
        for i in range(n):
            body = {"page": author_page, "content": f"profile post {i}"}
            yield lambda body=body: wsgi("POST", "/api/v1/posts/", author_token, body)

    def likes() -> Iterator[Callable[[], tuple[int, bytes]]]:
        for _, _, liker in users[1:]:
            yield lambda liker=liker: wsgi("POST", f"/api/v1/posts/{hot.pk}/like/", liker)

    def follows() -> Iterator[Callable[[], tuple[int, bytes]]]:
        for page_id in targets:
            yield lambda page_id=page_id: wsgi("POST", f"/api/v1/pages/{page_id}/follow/", author_token)

    def feed(tokens: list[str]) -> Iterator[Callable[[], tuple[int, bytes]]]:
        for i in range(n):
            reader = tokens[i % len(tokens)]
            yield lambda reader=reader: wsgi("GET", "/api/v1/feed/", reader)

    return {
        "post create": posts(),
        "like": likes(),
        "follow": follows(),
        "feed read, 500 follows": feed(heavy),
        "feed read, 20 follows": feed(light),
    }


def bucket_table(stats: pstats.Stats, requests: int) -> list[tuple[str, float, int]]:
    rows = []
    raw: dict[Any, Any] = stats.stats  # type: ignore[attr-defined]
    for label, fragment, name in BUCKETS:
        cum, calls = 0.0, 0
        for (filename, _, function), (_, ncalls, _, ct, _) in raw.items():
            if function == name and filename.endswith(fragment):
                cum += ct
                calls += ncalls
        rows.append((label, cum * 1000 / requests, round(calls / requests)))
    return rows


def run(kind: str, calls: Iterator[Callable[[], tuple[int, bytes]]], profile: bool, out: Path) -> None:
    calls_list = list(calls)
    warm, timed = calls_list[:10], calls_list[10:]
    for call in warm:
        code, content = call()
        assert code < 300, (kind, code, content[:300])
    queries: list[str] = []

    def record(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        queries.append(sql)
        return execute(sql, params, many, context)

    # Not CaptureQueriesContext: request_started resets the connection's query log.
    with connection.execute_wrapper(record):
        code, content = timed[0]()
    timed = timed[1:]
    assert code < 300, (kind, code, content[:300])
    profiler = cProfile.Profile(time.process_time) if profile else None
    cpu, wall = time.process_time(), time.perf_counter()
    if profiler:
        profiler.enable()
    for call in timed:
        call()
    if profiler:
        profiler.disable()
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    print(
        f"{kind}: {len(queries)} queries, CPU {cpu * 1000 / len(timed):.2f} ms, "
        f"wall {wall * 1000 / len(timed):.2f} ms per request ({len(timed)} requests)"
    )
    for sql in queries:
        print(f"    SQL {' '.join(sql.split())[:160]}")
    if profiler:
        stats = pstats.Stats(profiler)
        for label, ms, ncalls in bucket_table(stats, len(timed)):
            print(f"    {label:<45} {ms:7.2f} ms  ({ncalls} calls/request)")
        name = kind.replace(" ", "-").replace(",", "")
        text = io.StringIO()
        pstats.Stats(profiler, stream=text).sort_stats("cumulative").print_stats(60)
        pstats.Stats(profiler, stream=text).sort_stats("tottime").print_stats(40)
        (out / f"profile-{name}.txt").write_text(text.getvalue())


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--profile", action="store_true", help="cProfile (CPU) each kind too")
    parser.add_argument("--only", default="", help="comma-separated kinds (prefixes) to run")
    parser.add_argument("--out", default=str(ROOT / "var" / "profiles"))
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    wanted = [w for w in args.only.split(",") if w]
    for kind, calls in scenarios(args.requests + 11).items():
        if not wanted or any(kind.startswith(w) for w in wanted):
            run(kind, calls, args.profile, out)


if __name__ == "__main__":
    main()
