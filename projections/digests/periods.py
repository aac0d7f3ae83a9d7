"""Digest periods: who is due in a run, and where each user's next digest starts."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Literal

from django.conf import settings
from django.db import connection
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone

from core_app.users.models import RefreshSession, User

Period = Literal["daily", "weekly"]
PERIODS: tuple[Period, ...] = ("daily", "weekly")
LENGTH: dict[str, timedelta] = {"daily": timedelta(days=1), "weekly": timedelta(days=7)}

LAST_DIGEST_SQL = """
    SELECT DISTINCT ON (user_id) user_id, slot, period_end FROM digests_digestdelivery
    WHERE user_id = ANY(%s) AND status IN ('claimed', 'sent')
    ORDER BY user_id, slot DESC
"""


def slot_of(moment: datetime) -> datetime:
    """The hour a run belongs to: one digest per user and slot, however many runs start in it."""
    return moment.replace(minute=0, second=0, microsecond=0)


def active_since() -> datetime:
    return timezone.now() - timedelta(days=settings.DIGEST_INACTIVE_DAYS)


def recipients_q(period: Period) -> Q:
    """Users who get `period` digests: in that mode, not opted out, not blocked, active lately."""
    cutoff = active_since()
    # A login sets last_login; a user who stays signed in only refreshes (a new session row).
    refreshed = Exists(RefreshSession.objects.filter(user=OuterRef("pk"), created_at__gte=cutoff))
    recently = Q(last_login__gte=cutoff) | Q(date_joined__gte=cutoff) | Q(refreshed)
    return Q(email_frequency=period, email_notifications=True, is_active=True, is_blocked=False) & recently


def due_user_ids(period: Period, slot: datetime, *, every_user: bool) -> list[int]:
    """Ids of the users whose digest is due in this slot (all of the mode when `every_user`)."""
    users = User.objects.filter(recipients_q(period))
    if not every_user:
        users = users.filter(digest_hour=slot.hour)
        if period == "weekly":
            users = users.filter(digest_weekday=slot.weekday())
    return list(users.order_by("pk").values_list("pk", flat=True))


def period_starts(
    user_ids: Sequence[int], period: Period, slot: datetime, until: datetime
) -> dict[int, datetime]:
    """Where each user's digest of this slot starts: the end of their last digest, at most one
    period back. Users already claimed in this slot are left out (their digest is done)."""
    floor = until - LENGTH[period]
    starts = dict.fromkeys(user_ids, floor)
    with connection.cursor() as cursor:
        cursor.execute(LAST_DIGEST_SQL, [list(user_ids)])
        for user_id, last_slot, last_end in cursor.fetchall():
            if last_slot >= slot:
                del starts[user_id]
            elif last_end > floor:
                starts[user_id] = min(last_end, until)
    return starts
