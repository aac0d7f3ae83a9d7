"""Per-event cost of the feed consumer, and per-e-mail cost of the e-mail path, on the feed dataset.

    POSTGRES_DB=... REDIS_URL=... .venv/bin/python -m bench.feed.eventcost [--events 400] [--batch 1,50]

`post.created` events of the 1,000-follower page go through `projections.consumer.
on_event_messages` as the worker applies them (fan-out to the owner and the 1,000 followers in
the event's batch, e-mail planning), `--batch` events per batch. Reported per event: CPU of
this process, of its PostgreSQL backend, of the Redis server (shared: an upper bound), and
the wall time; then the top of a cProfile of one run. The e-mail path: `send_post_notifications`
to 200 followers with a stub SES client (no emulator in the figure), in a transaction rolled
back at the end, so the dataset is left as it was.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import itertools
import os
import pstats
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from unittest import mock

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "core_app.settings")
os.environ.setdefault("DJANGO_SECRET_KEY", "bench-only-secret")

import django  # noqa: E402

from bench.feed.rowcost import proc_cpu, redis_cpu  # noqa: E402

PAGE, OWNER = 10_001, 11_001  # the dataset's 1,000-follower page and its owner


class Rollback(Exception):
    pass


def envelopes(count: int, first_post: int, first_position: int) -> list[bytes]:
    from events.contracts import EventEnvelope, PostCreated

    bodies = []
    for i in range(count):
        payload = PostCreated(
            post_id=first_post + i,
            page_id=PAGE,
            page_owner_id=OWNER,
            page_is_private=False,
            reply_to_id=None,
            reply_to_page_id=None,
        )
        envelope = EventEnvelope(
            event_id=uuid.uuid4(),
            position=first_position + i,
            type=payload.type,
            version=payload.version,
            aggregate_type=payload.aggregate_type,
            aggregate_id=payload.aggregate_id(),
            actor_id=OWNER,
            occurred_at=datetime.now(UTC),
            payload=payload.model_dump(mode="json"),
        )
        bodies.append(envelope.model_dump_json().encode())
    return bodies


def message(body: bytes) -> mock.Mock:
    return mock.Mock(body=body, headers={}, properties={"message_id": "bench"})


def consumer_cost(events: int, batch: int, backend: int, profiler: cProfile.Profile | None) -> dict:
    from django.db import connection

    from projections.consumer import on_event_messages
    from projections.feed.work import InlineFeedWork

    with connection.cursor() as cursor:
        cursor.execute("SELECT coalesce(max(post_id), 0) FROM projections_feedpost")
        first_post = int(cursor.fetchone()[0]) + 1_000_000
    bodies = envelopes(events, first_post, 10**12 + first_post)
    queued: list[int] = []
    cpu0, pg0, redis0, wall0 = time.process_time(), proc_cpu(backend), redis_cpu(), time.perf_counter()
    if profiler:
        profiler.enable()
    for start in range(0, events, batch):
        messages = [message(b) for b in bodies[start : start + batch]]
        on_event_messages(messages, InlineFeedWork(), lambda post, users: queued.append(len(users)))
        assert all(m.ack.called for m in messages)
    if profiler:
        profiler.disable()
    cpu, pg = time.process_time() - cpu0, proc_cpu(backend) - pg0
    redis, wall = redis_cpu() - redis0, time.perf_counter() - wall0
    _clean_up(first_post, events)
    return {
        "events": events,
        "batch": batch,
        "ms_per_event": {
            "consumer_cpu": round(cpu / events * 1000, 2),
            "postgres_cpu": round(pg / events * 1000, 2),
            "redis_cpu": round(redis / events * 1000, 2),
            "wall": round(wall / events * 1000, 2),
        },
        "load_average": os.getloadavg()[0],
    }


def _clean_up(first_post: int, events: int) -> None:
    """Leave the dataset as it was: the made-up posts out of the feeds and the projection."""
    from django.db import connection

    from projections.feed import store

    post_ids = list(range(first_post, first_post + events))
    store._remove([*range(1, 1001), OWNER], post_ids)
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM projections_feedpost WHERE post_id >= %s", [first_post])
        cursor.execute("DELETE FROM projections_appliedevent WHERE position >= %s", [10**12])


def email_cost(recipients: int, backend: int) -> dict:
    from django.db import transaction

    from core_app.users.models import User
    from projections.notifications import send_post_notifications

    client = mock.Mock()
    client.send_email.return_value = {"MessageId": "bench"}
    post_id = 1_000_000  # a post of the dataset
    users = list(range(1, recipients + 1))
    try:
        with transaction.atomic():
            User.objects.filter(pk__in=users).update(email_notifications=True)
            cpu0, pg0, wall0 = time.process_time(), proc_cpu(backend), time.perf_counter()
            send_post_notifications(post_id, users, client=client)
            cpu, pg, wall = time.process_time() - cpu0, proc_cpu(backend) - pg0, time.perf_counter() - wall0
            assert client.send_email.call_count == recipients
            raise Rollback
    except Rollback:
        pass
    return {
        "emails": recipients,
        "ms_per_email": {
            "worker_cpu": round(cpu / recipients * 1000, 2),
            "postgres_cpu": round(pg / recipients * 1000, 2),
            "wall": round(wall / recipients * 1000, 2),
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=400)
    parser.add_argument("--batch", default="1,50")
    parser.add_argument("--top", type=int, default=25)
    args = parser.parse_args()
    django.setup()
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        backend = int(cursor.fetchone()[0])
    consumer_cost(20, 10, backend, None)  # warm: connections, plans, the scripts' cache
    profiler = cProfile.Profile()
    for batch, first in zip([int(b) for b in args.batch.split(",")], itertools.count(), strict=False):
        print(consumer_cost(args.events, batch, backend, profiler if first == 0 else None), flush=True)
    print(email_cost(200, backend), flush=True)
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(args.top)
    print(out.getvalue())


if __name__ == "__main__":
    main()
