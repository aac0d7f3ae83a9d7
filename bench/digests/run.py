"""Digest benchmark (a script, not a test): build and send the daily digests of 10,000 users.

    .venv/bin/python -m bench.digests.run [--skip-dataset] [--aws-port 51002] [--send-rate 0]

The feed benchmark's dataset (bench.feed.run's SQL: 10,000 users following 500 pages each,
1,000,000 posts over the last 11.6 days) in its own database `innotter_digests_bench`, the
10,000 users switched to daily digests. Then, with nothing claimed yet:

1. build only: every digest built in batches of DIGEST_BATCH_SIZE (no claim, no send);
2. build and send: the same batches through `send_digest_batch` (claim, raw MIME, SES) against
   a moto server in its own process, paced at --send-rate e-mails/s (0: no pacing: moto's
   sandbox quota says 1/s, which would make this 10,000 s; real SES accounts have their own).

The run ends at the dataset's newest post, so the daily window holds ~86,400 posts whatever
the day the dataset was built.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

from bench.feed import run as feed_bench  # sets the bench environment (DJANGO_SETTINGS_MODULE, keys)

ROOT = Path(__file__).resolve().parents[2]
DB = "innotter_digests_bench"
DIGEST_USERS = feed_bench.USERS
os.environ.update(POSTGRES_DB=DB, AWS_ACCESS_KEY_ID="bench", AWS_SECRET_ACCESS_KEY="bench")

DAILY_SQL = f"""
UPDATE users_user SET email_notifications = true, email_frequency = 'daily', digest_hour = 7
WHERE id <= {DIGEST_USERS};
"""


def log(message: str) -> None:
    feed_bench.log(message)


def build_dataset() -> None:
    feed_bench.psql(f"DROP DATABASE IF EXISTS {DB}", db="postgres")
    feed_bench.psql(f"CREATE DATABASE {DB}", db="postgres")
    feed_bench.manage("migrate", "-v0")
    started = time.perf_counter()
    feed_bench.psql(feed_bench.DATASET_SQL, db=DB)
    feed_bench.psql(DAILY_SQL, db=DB)
    feed_bench.psql("VACUUM ANALYZE", db=DB)
    log(f"dataset built in {time.perf_counter() - started:.0f}s")


def start_moto(port: int) -> subprocess.Popen[bytes]:
    process = subprocess.Popen(
        [str(Path(sys.executable).parent / "moto_server"), "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    feed_bench.wait_http(f"http://127.0.0.1:{port}/moto-api/")
    return process


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--skip-dataset", action="store_true", help="reuse the dataset")
    parser.add_argument("--aws-port", type=int, default=51002)
    parser.add_argument("--send-rate", type=float, default=0, help="e-mails/s (0: unpaced)")
    parser.add_argument("--build-only", action="store_true")
    args = parser.parse_args()
    if not args.skip_dataset:
        build_dataset()
    os.environ["AWS_ENDPOINT_URL"] = f"http://127.0.0.1:{args.aws_port}"
    feed_bench.setup_django()
    from django.conf import settings
    from django.db import connection

    from events.consumer import chunked
    from projections.digests.builder import build_digests
    from projections.digests.periods import due_user_ids, period_starts, slot_of
    from projections.digests.sender import SendRate, send_digest_batch
    from projections.notifications import ses_client

    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE digests_digestdelivery")
        cursor.execute("SELECT max(created_at) FROM posts_post")
        until = cursor.fetchone()[0] + timedelta(seconds=1)
    slot = slot_of(until)
    user_ids = due_user_ids("daily", slot, every_user=True)
    batches = list(chunked(user_ids, settings.DIGEST_BATCH_SIZE))
    results: dict[str, object] = {"users": len(user_ids), "batch_size": settings.DIGEST_BATCH_SIZE}

    log(f"build only: {len(user_ids)} users in {len(batches)} batches")
    started, built, posts = time.perf_counter(), 0, 0
    for batch in batches:
        digests = build_digests(period_starts(batch, "daily", slot, until), until)
        built += sum(not d.is_empty for d in digests.values())
        posts += sum(len(d.post_ids) + d.more for d in digests.values())
    seconds = time.perf_counter() - started
    results["build"] = {
        "digests": built,
        "seconds": round(seconds, 2),
        "built_per_s": round(built / seconds, 1),
        "mean_posts_in_period": round(posts / max(built, 1), 1),
        "load_average": os.getloadavg(),
    }
    log(f"build: {results['build']}")

    if not args.build_only:
        moto = start_moto(args.aws_port)
        try:
            client = ses_client()
            client.verify_email_identity(EmailAddress=settings.SES_SENDER)
            results["ses_quota_max_send_rate"] = client.get_send_quota()["MaxSendRate"]
            limiter = SendRate(args.send_rate) if args.send_rate else None
            log("build and send")
            started = time.perf_counter()
            for batch in batches:
                send_digest_batch("daily", slot, until, batch, client=client, limiter=limiter or NoPacing())
            seconds = time.perf_counter() - started
            with connection.cursor() as cursor:
                cursor.execute("SELECT count(*) FROM digests_digestdelivery WHERE status = 'sent'")
                sent = cursor.fetchone()[0]
            results["send"] = {
                "sent": sent,
                "wall_seconds": round(seconds, 2),
                "sent_per_s": round(sent / seconds, 1),
                "load_average": os.getloadavg(),
            }
            log(f"send: {results['send']}")
        finally:
            moto.terminate()
            moto.wait(timeout=30)
    print(json.dumps(results, indent=2))
    (ROOT / "var").mkdir(exist_ok=True)
    (ROOT / "var" / "bench-digests-results.json").write_text(json.dumps(results, indent=2))


class NoPacing:
    def wait(self) -> None:
        pass


if __name__ == "__main__":
    main()
