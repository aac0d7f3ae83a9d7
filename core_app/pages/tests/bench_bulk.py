"""Benchmark of bulk follow-request decisions (not collected by default).

Run: POSTGRES_DB=innotter_<tag> .venv/bin/pytest core_app/pages/tests/bench_bulk.py -s
"""

import time

import pytest

from core_app.pages import services
from core_app.pages.models import Follow, FollowStatus, Page
from core_app.testing.factories import PageFactory
from core_app.users.models import User
from events.models import StoredEvent


@pytest.mark.django_db
@pytest.mark.parametrize("n", [1000, 5000])
def test_bulk_decisions(n):
    page = PageFactory(is_private=True)
    users = User.objects.bulk_create([User(username=f"b{n}_{i}", email=f"b{n}_{i}@x.io") for i in range(n)])
    Follow.objects.bulk_create([Follow(page=page, follower=u, status=FollowStatus.PENDING) for u in users])
    started = time.perf_counter()
    assert services.follow_requests_accept(page=page, actor=page.owner, all_requests=True) == n
    print(f"\naccept all {n}: {time.perf_counter() - started:.2f}s")
    assert Page.objects.get(pk=page.pk).followers_count == n
    started = time.perf_counter()
    assert services.follow_requests_reject(page=page, actor=page.owner, user_ids=[u.pk for u in users]) == n
    print(f"reject {n} by id: {time.perf_counter() - started:.2f}s")
    assert Page.objects.get(pk=page.pk).followers_count == 0
    assert StoredEvent.objects.count() == 2 * n
