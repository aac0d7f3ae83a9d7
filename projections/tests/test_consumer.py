from __future__ import annotations

from unittest import mock

import pytest

from events.consumer import PoisonMessageError, chunked, decode_event, delivery_count, redelivery_backoff
from events.contracts import PageCreated, PostCreated
from projections import consumer, tasks
from projections.feed import store
from projections.feed.work import InlineFeedWork
from projections.models import AppliedEvent
from projections.tests.conftest import envelope_of

pytestmark = pytest.mark.django_db


def body_of(payload) -> bytes:
    return envelope_of(payload).model_dump_json().encode()


def message(body: bytes, headers: dict | None = None) -> mock.Mock:
    return mock.Mock(body=body, headers=headers or {}, properties={"message_id": "m"})


POST = PostCreated(
    post_id=7, page_id=3, page_owner_id=1, page_is_private=False, reply_to_id=None, reply_to_page_id=None
)


def test_decode_rejects_garbage_and_unknown_types() -> None:
    with pytest.raises(PoisonMessageError):
        decode_event(b"{not json")
    envelope = envelope_of(POST).model_copy(update={"type": "post.exploded"})
    with pytest.raises(PoisonMessageError):
        decode_event(envelope.model_dump_json().encode())


def test_process_event_applies_feed_and_plans_email_once() -> None:
    body = body_of(POST)
    queue_emails = mock.Mock()
    consumer.process_event(body, InlineFeedWork(), queue_emails)
    consumer.process_event(body, InlineFeedWork(), queue_emails)
    assert store.all_feeds() == {1: [7]}
    assert sorted(AppliedEvent.objects.values_list("consumer", flat=True)) == ["email", "feed"]
    queue_emails.assert_not_called()  # no follower wants e-mail here


@pytest.mark.django_db(transaction=True)
def test_message_is_acked_after_success() -> None:
    msg = message(
        body_of(PageCreated(page_id=3, owner_id=1, uuid="abc", name="n", is_private=False, tags=[]))
    )
    consumer.on_event_message(msg, InlineFeedWork(), mock.Mock())
    msg.ack.assert_called_once_with()
    msg.requeue.assert_not_called()


@pytest.mark.django_db(transaction=True)
def test_poison_is_dead_lettered() -> None:
    msg = message(b'{"type": 1}')
    consumer.on_event_message(msg, InlineFeedWork(), mock.Mock())
    msg.reject.assert_called_once_with(requeue=False)
    msg.ack.assert_not_called()


@pytest.mark.django_db(transaction=True)
def test_failure_is_handed_back_after_a_backoff() -> None:
    msg = message(body_of(POST), headers={"x-delivery-count": 2})
    with (
        mock.patch.object(consumer, "apply_feed_event", side_effect=RuntimeError("db down")),
        mock.patch.object(consumer.time, "sleep") as sleep,
    ):
        consumer.on_event_message(msg, InlineFeedWork(), mock.Mock())
    msg.requeue.assert_called_once_with()
    msg.ack.assert_not_called()
    sleep.assert_called_once_with(redelivery_backoff(2))
    assert not AppliedEvent.objects.exists()


def test_delivery_helpers() -> None:
    assert delivery_count(None) == 0 and delivery_count({"x-delivery-count": "3"}) == 3
    assert redelivery_backoff(0) < redelivery_backoff(3) <= redelivery_backoff(30) == 5.0
    assert list(chunked([1, 2, 3, 4, 5], 2)) == [[1, 2], [3, 4], [5]]


def test_celery_feed_work_sends_one_task_per_chunk() -> None:
    from projections.feed.store import PostRef
    from projections.tests.conftest import BASE_TIME

    with (
        mock.patch.object(tasks.feed_fanout, "apply_async") as fanout,
        mock.patch.object(tasks.feed_backfill, "apply_async") as backfill,
    ):
        tasks.CeleryFeedWork().fanout(PostRef(7, 3, BASE_TIME), [1, 2])
        tasks.CeleryFeedWork().backfill(3, [4])
    fanout.assert_called_once_with(args=(7, 3, BASE_TIME.isoformat(), [1, 2]))
    backfill.assert_called_once_with(args=(3, [4]))


def test_tasks_are_idempotent_when_run_twice() -> None:
    from projections.tests.conftest import BASE_TIME

    consumer.process_event(body_of(POST), InlineFeedWork(), mock.Mock())
    for _ in range(2):
        tasks.feed_fanout.run(7, 3, BASE_TIME.isoformat(), [1, 2])
        tasks.feed_backfill.run(3, [6])
    assert store.all_feeds() == {1: [7], 2: [7], 6: [7]}


def test_unblock_task_calls_the_pages_service() -> None:
    service = mock.Mock(return_value=2)
    with mock.patch.object(tasks, "import_string", return_value=service) as load:
        assert tasks.unblock_expired_pages.run() == 2
    load.assert_called_once_with("core_app.pages.services.page_unblock_expired")
    service.assert_called_once_with()


def test_send_post_emails_retries_only_unsent_users() -> None:
    with (
        mock.patch("projections.notifications.send_post_notifications", return_value=[5]) as send,
        mock.patch.object(tasks.send_post_emails, "retry", side_effect=RuntimeError("retry")) as retry,
        pytest.raises(RuntimeError),
    ):
        tasks.send_post_emails.run(7, [4, 5])
    send.assert_called_once_with(7, [4, 5])
    assert retry.call_args.kwargs["args"] == (7, [5])
