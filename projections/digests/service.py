"""Starting a digest run on request (the admins' run endpoint)."""

from __future__ import annotations

from django.utils import timezone

from projections.digests.periods import Period, slot_of
from projections.digests.tasks import digests_plan


def digest_run_request(*, period: Period) -> str:
    """Queue a run of `period` for every user in that mode now; returns the run's slot."""
    now = timezone.now()
    digests_plan.apply_async(args=(period, now.isoformat(), True))
    return slot_of(now).isoformat()
