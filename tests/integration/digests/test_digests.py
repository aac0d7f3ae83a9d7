"""Digests against the real PostgreSQL and RabbitMQ: relay and Celery worker processes, moto's SES."""

from __future__ import annotations

import email
import re
from email.policy import default

import psycopg
import pytest
from django.db import connection
from django.utils import timezone
from moto.core import DEFAULT_ACCOUNT_ID
from moto.ses.models import ses_backends

from core_app.pages import follows as follow_services
from core_app.pages import services as page_services
from core_app.posts import services as post_services
from core_app.testing.factories import PageFactory, PostFactory, UserFactory
from core_app.users.models import EmailFrequency
from events.management.config import conninfo_from_settings
from projections.digests.models import DigestDelivery
from projections.digests.tasks import digests_plan
from tests.integration.pipeline.support import recipient, wait_for

pytestmark = pytest.mark.integration


@pytest.fixture
def ses(ses, monkeypatch):
    """The pipeline's SES client; moto's sandbox quota is 1 e-mail/s: lifted for the worker, or
    1,000 digests take 17 minutes."""
    monkeypatch.setenv("DIGEST_MAX_SEND_RATE", "1000")
    monkeypatch.setenv("DIGEST_BATCH_SIZE", "100")
    return ses


def messages_to(addresses: set[str]) -> list:
    return [
        m for m in ses_backends[DEFAULT_ACCOUNT_ID]["us-east-1"].sent_messages if recipient(m) in addresses
    ]


def digests_to(addresses: set[str]) -> list:
    return [m for m in messages_to(addresses) if hasattr(m, "raw_data")]


def recipients_of(messages: list) -> list[str]:
    return [recipient(m) for m in messages]


def run_daily(pipeline) -> None:
    """What POST /api/v1/digests/run does, published to this test's task queue."""
    queue = pipeline.task_queue
    digests_plan.apply_async(
        args=("daily", timezone.now().isoformat(), True), exchange=queue, routing_key=queue
    )


def start_ready_worker(pipeline):
    """A worker that has declared its task queue (so a run can be published to it)."""
    worker = pipeline.start_worker()
    wait_for(lambda: " ready." in worker.output(), what="worker ready")
    return worker


def finished_sends(worker) -> int:
    return len(re.findall(r"Task projections\.digests_send\[[^]]+\] succeeded", worker.output()))


def test_a_daily_user_gets_one_digest_and_no_per_post_email(pipeline, ses) -> None:
    owner = UserFactory()
    page = page_services.page_create(owner=owner, name="Digest page", uuid=f"it-{pipeline.suffix}")
    instant = UserFactory()
    daily = UserFactory(email_frequency=EmailFrequency.DAILY)
    for user in (instant, daily):
        follow_services.follow_create(page=page, user=user)
    pipeline.start_relay()
    worker = start_ready_worker(pipeline)
    posts = [post_services.post_create(author=owner, page_id=page.pk, content=f"news {i}") for i in range(3)]
    wait_for(lambda: len(messages_to({instant.email})) == 3, what="per-post e-mails")
    assert messages_to({daily.email}) == []

    run_daily(pipeline)
    wait_for(lambda: DigestDelivery.objects.filter(user_id=daily.pk, status="sent").exists(), what="digest")
    [digest] = digests_to({daily.email})
    text = (
        email.message_from_bytes(digest.raw_data.encode(), policy=default).get_body(("plain",)).get_content()
    )
    links = re.findall(r"/posts/(\d+)", text)
    assert links == [str(p.pk) for p in reversed(posts)]
    assert digests_to({instant.email}) == []  # instant users are not in the daily run

    finished = finished_sends(worker)
    run_daily(pipeline)
    wait_for(lambda: finished_sends(worker) > finished, what="second run")
    assert len(digests_to({daily.email})) == 1
    assert messages_to({daily.email}) == [digest]


def _backend_waiting_on(prefix: str) -> int | None:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pid FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE %s",
            [f"%{prefix}%"],
        )
        row = cursor.fetchone()
    return row[0] if row else None


def test_a_worker_killed_mid_run_sends_each_digest_at_most_once_and_the_retry_completes_it(
    pipeline, ses
) -> None:
    page = PageFactory()
    PostFactory(page=page, content="for everyone")
    users = UserFactory.create_batch(1000, email_frequency=EmailFrequency.DAILY)
    from core_app.pages.models import Follow

    Follow.objects.bulk_create(
        [Follow(page=page, follower=u, status="accepted", accepted_at=timezone.now()) for u in users]
    )
    addresses = {u.email for u in users}
    worker = start_ready_worker(pipeline)
    run_daily(pipeline)
    wait_for(lambda: DigestDelivery.objects.filter(status="sent").count() >= 300, what="a third sent")
    blocker = psycopg.connect(conninfo_from_settings())
    try:
        # Hold the claims table so the worker blocks on its next claim (or mark), and kill it there.
        blocker.execute("BEGIN")
        blocker.execute("LOCK TABLE digests_digestdelivery IN SHARE MODE")
        waiting = wait_for(lambda: _backend_waiting_on("digests_digestdelivery"), what="worker mid-run")
        worker.kill()
        with connection.cursor() as cursor:  # the dead worker's session goes with it
            cursor.execute("SELECT pg_terminate_backend(%s)", [waiting])
    finally:
        blocker.rollback()
        blocker.close()
    interrupted = recipients_of(digests_to(addresses))
    assert 300 <= len(interrupted) < 1000
    assert len(interrupted) == len(set(interrupted))  # at most one each

    start_ready_worker(pipeline)
    wait_for(lambda: len(digests_to(addresses)) >= 1000, timeout=180, what="the rest after the retry")
    delivered = recipients_of(digests_to(addresses))
    assert sorted(delivered) == sorted(addresses)  # exactly one each
    assert DigestDelivery.objects.filter(user_id__in=[u.pk for u in users]).count() == 1000
