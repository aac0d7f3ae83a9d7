"""The relay's and the worker's metrics, scraped from the real processes' metrics endpoints."""

from __future__ import annotations

import pytest

from observability.testing import scrape_if_up, value
from tests.integration.pipeline.support import wait_for
from tests.integration.pipeline.test_pipeline import audience, in_every_feed, mails_to, publish

pytestmark = pytest.mark.integration


def test_relay_metrics_move_as_it_publishes_and_the_queues_fill_and_drain(pipeline, ses) -> None:
    page, users = audience(3, pipeline.suffix)
    relay = pipeline.start_relay()
    queue = pipeline.topology.projections_queue
    [post_id] = publish(page, 1)

    # No worker yet: everything the relay published waits in the projections queue.
    published = wait_for(
        lambda: (
            (s := scrape_if_up(relay.metrics_url))
            and value(s, "innotter_relay_published_total") >= 5  # page, 3 follows, the post
            and value(s, "innotter_relay_lag_events") == 0
            and value(s, "innotter_queue_depth", queue=queue) >= 1
            and s
        ),
        what="relay caught up, queue filled",
    )
    depth = value(published, "innotter_queue_depth", queue=queue)
    assert value(published, "innotter_relay_published_total") >= depth
    assert ("innotter_queue_depth", frozenset({("queue", f"{queue}.dead")})) in published
    assert (
        "innotter_queue_depth",
        frozenset({("queue", pipeline.task_queue)}),
    ) not in published  # no worker yet

    pipeline.start_worker()
    wait_for(lambda: in_every_feed([post_id], [*users, page.owner]), what="fan-out")
    drained = wait_for(
        lambda: (
            (s := scrape_if_up(relay.metrics_url))
            and value(s, "innotter_queue_depth", queue=queue) == 0
            and s
        ),
        what="queue drained",
    )
    assert ("innotter_queue_depth", frozenset({("queue", pipeline.task_queue)})) in drained


def test_worker_metrics_count_applied_events_fanout_rows_and_emails(pipeline, ses) -> None:
    page, users = audience(3, pipeline.suffix)
    pipeline.start_relay()
    worker = pipeline.start_worker()
    [post_id] = publish(page, 1)
    wait_for(lambda: in_every_feed([post_id], [*users, page.owner]), what="fan-out")
    wait_for(lambda: len(mails_to({u.email for u in users})) == 3, what="e-mails")

    # The consumer runs in the worker's main process, the tasks in its pool's children: the
    # main process serves both.
    samples = wait_for(
        lambda: (
            (s := scrape_if_up(worker.metrics_url))
            and value(s, "innotter_emails_sent_total", kind="post") == 3
            and s
        ),
        what="e-mails counted",
    )
    assert value(samples, "innotter_consumer_applied_total", consumer="feed") >= 5  # page, follows, post
    assert value(samples, "innotter_consumer_applied_total", consumer="email") == 1  # the one post
    for consumer in ("feed", "email"):
        assert 0 <= value(samples, "innotter_consumer_lag_seconds", consumer=consumer) < 60
    assert value(samples, "innotter_fanout_rows_total") == 4  # three followers and the owner
    assert value(samples, "innotter_email_failures_total", kind="post") == 0
