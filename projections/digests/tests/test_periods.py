"""Who is due in a run (the hourly tick and the admins' run) and how a run is queued."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from unittest import mock

import pytest

from core_app.testing.factories import UserFactory
from core_app.users.models import EmailFrequency
from projections.digests import tasks
from projections.digests.periods import due_user_ids, period_starts, slot_of

pytestmark = pytest.mark.django_db
MONDAY_7 = datetime(2026, 3, 2, 7, 0, tzinfo=UTC)


def test_the_tick_picks_daily_users_at_their_hour_and_weekly_ones_on_their_weekday_too() -> None:
    daily_7 = UserFactory(email_frequency=EmailFrequency.DAILY, digest_hour=7)
    UserFactory(email_frequency=EmailFrequency.DAILY, digest_hour=8)
    weekly_monday_7 = UserFactory(email_frequency=EmailFrequency.WEEKLY, digest_hour=7, digest_weekday=0)
    UserFactory(email_frequency=EmailFrequency.WEEKLY, digest_hour=7, digest_weekday=1)
    UserFactory(digest_hour=7)  # instant
    assert due_user_ids("daily", MONDAY_7, every_user=False) == [daily_7.pk]
    assert due_user_ids("weekly", MONDAY_7, every_user=False) == [weekly_monday_7.pk]
    assert len(due_user_ids("daily", MONDAY_7, every_user=True)) == 2


def test_slot_is_the_hour_of_the_run() -> None:
    assert slot_of(MONDAY_7 + timedelta(minutes=59, seconds=3)) == MONDAY_7


def test_period_starts_one_period_back_without_an_earlier_digest() -> None:
    user = UserFactory(email_frequency=EmailFrequency.WEEKLY)
    until = MONDAY_7 + timedelta(minutes=5)
    assert period_starts([user.pk], "weekly", MONDAY_7, until) == {user.pk: until - timedelta(days=7)}


def test_a_run_queues_its_users_in_batches(settings) -> None:
    settings.DIGEST_BATCH_SIZE = 2
    users = UserFactory.create_batch(5, email_frequency=EmailFrequency.DAILY)
    with mock.patch.object(tasks.digests_send, "apply_async") as queued:
        assert tasks.plan_digests("daily", MONDAY_7.isoformat(), every_user=True) == 5
    batches = [call.kwargs["args"][3] for call in queued.call_args_list]
    assert batches == [[users[0].pk, users[1].pk], [users[2].pk, users[3].pk], [users[4].pk]]
    assert {call.kwargs["args"][1] for call in queued.call_args_list} == {MONDAY_7.isoformat()}


def test_the_tick_plans_both_periods_for_this_hour_only() -> None:
    with mock.patch.object(tasks.digests_plan, "apply_async") as queued:
        tasks.digests_tick()
    planned = [call.kwargs["args"] for call in queued.call_args_list]
    assert [(period, every_user) for period, _, every_user in planned] == [
        ("daily", False),
        ("weekly", False),
    ]
    assert planned[0][1] == planned[1][1]  # one run time, kept by retries
