"""The worker's metrics, in this process's registry: consumers applied and lag, fan-out rows, e-mails."""

from __future__ import annotations

from datetime import timedelta
from unittest import mock

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError
from django.utils import timezone

from core_app.testing.factories import FollowFactory, PostFactory
from events.contracts import PageCreated, PostCreated
from observability.testing import local
from projections import consumer, notifications
from projections.feed import store
from projections.feed.work import InlineFeedWork
from projections.tests.conftest import envelope_of

pytestmark = pytest.mark.django_db(transaction=True)

PAGE = PageCreated(page_id=3, owner_id=1, uuid="abc", name="n", is_private=False, tags=[])
POST = PostCreated(
    post_id=7, page_id=3, page_owner_id=1, page_is_private=False, reply_to_id=None, reply_to_page_id=None
)


def message(payload, age_seconds: float = 0) -> mock.Mock:
    envelope = envelope_of(payload)
    envelope = envelope.model_copy(update={"occurred_at": timezone.now() - timedelta(seconds=age_seconds)})
    return redelivery(envelope.model_dump_json().encode())


def redelivery(body: bytes) -> mock.Mock:
    return mock.Mock(body=body, headers={}, properties={"message_id": "m"})


def applied(name: str) -> float:
    return local("innotter_consumer_applied_total", consumer=name)


def test_a_committed_batch_moves_applied_and_lag_of_feed_and_email() -> None:
    feed, email = applied("feed"), applied("email")
    post = message(POST, age_seconds=30)
    consumer.on_event_messages([message(PAGE), post], InlineFeedWork(), mock.Mock())
    assert (applied("feed"), applied("email")) == (feed + 2, email + 1)  # e-mail: post.created only
    assert 30 <= local("innotter_consumer_lag_seconds", consumer="feed") < 40
    assert 30 <= local("innotter_consumer_lag_seconds", consumer="email") < 40

    consumer.on_event_messages(
        [message(PAGE, age_seconds=1), redelivery(post.body)], InlineFeedWork(), mock.Mock()
    )
    assert (applied("feed"), applied("email")) == (feed + 3, email + 1)  # the redelivered post: nothing


def test_a_failed_batch_counts_nothing() -> None:
    feed = applied("feed")
    work = InlineFeedWork()
    with (
        mock.patch.object(consumer.transaction, "atomic", side_effect=RuntimeError("commit failed")),
        mock.patch.object(consumer.time, "sleep"),
    ):
        consumer.on_event_messages([message(PAGE)], work, mock.Mock())
    assert applied("feed") == feed


def test_fanout_rows_count_the_entries_added() -> None:
    before = local("innotter_fanout_rows_total")
    post = store.PostRef(post_id=10**9, page_id=3, created_at=timezone.now())
    assert store.fanout_to(post, [1, 2, 3]) == 3
    assert store.fanout_to(post, [1, 2, 3]) == 0  # already there: no row added
    assert local("innotter_fanout_rows_total") == before + 3


def test_post_emails_sent_and_failed_are_counted(ses) -> None:
    post = PostFactory()
    users = [FollowFactory(page=post.page).follower for _ in range(3)]
    sent, failed = (
        local("innotter_emails_sent_total", kind="post"),
        local("innotter_email_failures_total", kind="post"),
    )
    assert notifications.send_post_notifications(post.pk, [users[0].pk], client=ses) == []

    rejecting = mock.Mock()
    rejecting.send_email.side_effect = ClientError({"Error": {"Code": "MessageRejected"}}, "SendEmail")
    notifications.send_post_notifications(post.pk, [users[1].pk], client=rejecting)
    unreachable = mock.Mock()
    unreachable.send_email.side_effect = EndpointConnectionError(endpoint_url="http://ses")
    notifications.send_post_notifications(post.pk, [users[2].pk], client=unreachable)

    assert local("innotter_emails_sent_total", kind="post") == sent + 1
    assert local("innotter_email_failures_total", kind="post") == failed + 2
