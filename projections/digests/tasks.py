"""Celery tasks of the digests: the hourly tick, a run's planning, one batch's build and send."""

from __future__ import annotations

from datetime import datetime
from typing import cast

from celery import Task
from django.conf import settings
from django.utils import timezone

from events.consumer import chunked
from projections.celery_app import app
from projections.digests.periods import PERIODS, Period, due_user_ids, slot_of
from projections.tasks import RETRY_OPTIONS


@app.task(name="projections.digests_tick", acks_late=True)
def digests_tick() -> None:
    """Every hour (beat): plan the daily and weekly digests whose hour (and weekday) has come.

    The run's time is fixed here, so a planning task retried later still plans this hour's users.
    """
    now = timezone.now().isoformat()
    for period in PERIODS:
        digests_plan.apply_async(args=(period, now, False))


@app.task(name="projections.digests_plan", **RETRY_OPTIONS)
def digests_plan(period: str, run_at: str, every_user: bool) -> int:
    """Plan one run (from the tick, or the admins' run endpoint with `every_user`)."""
    return plan_digests(cast(Period, period), run_at, every_user=every_user)


def plan_digests(period: Period, run_at: str, *, every_user: bool) -> int:
    """Queue the due users of one run in batches; returns how many users were queued."""
    until = datetime.fromisoformat(run_at)
    slot = slot_of(until).isoformat()
    user_ids = due_user_ids(period, slot_of(until), every_user=every_user)
    for batch in chunked(user_ids, settings.DIGEST_BATCH_SIZE):
        digests_send.apply_async(args=(period, slot, run_at, list(batch)))
    return len(user_ids)


@app.task(name="projections.digests_send", bind=True, **RETRY_OPTIONS)
def digests_send(self: Task, period: str, slot: str, until: str, user_ids: list[int]) -> int:
    """Build and send one batch's digests, at most once each; retry those SES never got."""
    from projections.digests.sender import send_digest_batch

    retry = send_digest_batch(
        cast(Period, period), datetime.fromisoformat(slot), datetime.fromisoformat(until), user_ids
    )
    if retry:
        countdown = min(60, 2 ** (self.request.retries + 1))
        raise self.retry(args=(period, slot, until, retry), countdown=countdown)
    return len(user_ids)
