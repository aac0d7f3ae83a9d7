from __future__ import annotations

import contextlib
from unittest import mock

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from events.consumer import PoisonMessageError, chunked, decode_event, delivery_count, redelivery_backoff
from events.contracts import PageCreated, PostCreated, PostLiked
from projections import consumer, tasks
from projections.feed import store
from projections.feed.work import InlineFeedWork
from projections.models import AppliedEvent, FeedPost
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


def _savepoints(body: bytes) -> int:
    with CaptureQueriesContext(connection) as queries:
        consumer.process_event(body, InlineFeedWork(), mock.Mock())
    return sum(q["sql"].startswith("SAVEPOINT") for q in queries.captured_queries)


def test_one_savepoint_serves_both_projections_and_an_ignored_event_gets_none() -> None:
    page = PageCreated(page_id=3, owner_id=1, uuid="abc", name="n", is_private=False, tags=[])
    consumer.process_event(body_of(page), InlineFeedWork(), mock.Mock())  # the page is known
    assert _savepoints(body_of(POST)) == 1
    # the page's record, then the post's two
    assert sorted(AppliedEvent.objects.values_list("consumer", flat=True)) == ["email", "feed", "feed"]
    assert _savepoints(body_of(PostLiked(post_id=7, page_id=3, page_owner_id=1, user_id=2))) == 0


def test_each_projection_applies_what_it_missed() -> None:
    body = body_of(POST)
    consumer.process_event(body, InlineFeedWork(), mock.Mock())
    AppliedEvent.objects.filter(consumer="email").delete()  # as if e-mail planning came later
    with mock.patch.object(consumer.notifications, "recipients", return_value=[5]) as recipients:
        queue_emails = mock.Mock()
        _, handled = consumer.process_event(body, InlineFeedWork(), queue_emails)
    assert handled == {"feed": False, "email": True}
    recipients.assert_called_once_with(3, 1)
    queue_emails.assert_called_once_with(7, [5])


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
        mock.patch.object(consumer, "feed_effect", return_value=mock.Mock(side_effect=RuntimeError("down"))),
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


# --- batches -------------------------------------------------------------------------------------

PAGE_CREATED = PageCreated(page_id=3, owner_id=1, uuid="abc", name="n", is_private=False, tags=[])


def other_post(post_id: int) -> PostCreated:
    return POST.model_copy(update={"post_id": post_id})


def projection_state() -> tuple:
    return store.all_feeds(), sorted(AppliedEvent.objects.values_list("consumer", "event_id"))


@pytest.mark.django_db(transaction=True)
def test_a_batch_commits_once_and_is_acked_after_the_commit() -> None:
    from django.db import connection

    messages = [message(body_of(p)) for p in (PAGE_CREATED, POST, other_post(8))]
    for msg in messages:  # acked only once the batch's transaction is over
        msg.ack.side_effect = lambda: assert_outside_transaction(connection)
    with mock.patch.object(connection, "commit", wraps=connection.commit) as commit:
        consumer.on_event_messages(messages, InlineFeedWork(), mock.Mock())
    commit.assert_called_once_with()
    for msg in messages:
        msg.ack.assert_called_once_with()
    assert store.all_feeds() == {1: [8, 7]}


def assert_outside_transaction(connection) -> None:
    assert not connection.in_atomic_block


@pytest.mark.django_db(transaction=True)
def test_a_redelivered_batch_changes_nothing_and_is_acked_again() -> None:
    bodies = [body_of(p) for p in (PAGE_CREATED, POST, other_post(8))]
    queue_emails = mock.Mock()
    consumer.on_event_messages([message(b) for b in bodies], InlineFeedWork(), queue_emails)
    before = projection_state()
    again = [message(b) for b in bodies]
    consumer.on_event_messages(again, InlineFeedWork(), queue_emails)
    assert projection_state() == before
    assert all(m.ack.call_count == 1 for m in again)
    queue_emails.assert_not_called()


@pytest.mark.django_db(transaction=True)
def test_a_poison_message_does_not_cost_the_rest_of_its_batch() -> None:
    good, poison, later = message(body_of(POST)), message(b'{"type": 1}'), message(body_of(other_post(8)))
    consumer.on_event_messages([good, poison, later], InlineFeedWork(), mock.Mock())
    poison.reject.assert_called_once_with(requeue=False)
    poison.ack.assert_not_called()
    good.ack.assert_called_once_with()
    later.ack.assert_called_once_with()
    assert store.all_feeds() == {1: [8, 7]}


@pytest.mark.django_db(transaction=True)
def test_a_failing_event_rolls_back_alone_and_is_handed_back() -> None:
    from projections.feed import handlers

    real = handlers.on_post_created

    def explode_on_seven(event, envelope, work) -> None:
        real(event, envelope, work)  # its effects are written, then rolled back with its savepoint
        if event.post_id == 7:
            raise RuntimeError("boom")

    messages = [message(body_of(p), headers={"x-delivery-count": 1}) for p in (POST, other_post(8))]
    with (
        mock.patch.dict(handlers.HANDLERS, {"post.created": explode_on_seven}),
        mock.patch.object(consumer.time, "sleep") as sleep,
    ):
        consumer.on_event_messages(messages, InlineFeedWork(), mock.Mock())
    failed, applied = messages
    failed.requeue.assert_called_once_with()
    failed.ack.assert_not_called()
    applied.ack.assert_called_once_with()
    sleep.assert_called_once_with(redelivery_backoff(1))
    from projections.models import FeedPost

    assert list(FeedPost.objects.values_list("post_id", flat=True)) == [8]  # 7's row rolled back
    assert AppliedEvent.objects.filter(consumer="feed").count() == 1


@pytest.mark.django_db(transaction=True)
def test_when_the_batch_cannot_commit_every_message_but_poison_is_handed_back() -> None:
    from django.db import OperationalError

    good, poison = message(body_of(POST)), message(b"{not json")
    with (
        mock.patch.object(consumer.transaction, "atomic", side_effect=OperationalError("gone")),
        mock.patch.object(consumer.time, "sleep"),
    ):
        consumer.on_event_messages([good, poison], InlineFeedWork(), mock.Mock())
    good.requeue.assert_called_once_with()
    good.ack.assert_not_called()
    assert not AppliedEvent.objects.exists()


def apply_page() -> None:
    consumer.on_event_messages([message(body_of(PAGE_CREATED))], InlineFeedWork(), mock.Mock())


def explode_on(post_id: int):
    """The post.created handler, failing after its effects for one post (each time it runs)."""
    from projections.feed import handlers

    real = handlers.on_post_created

    def handler(event, envelope, work) -> None:
        real(event, envelope, work)
        if event.post_id == post_id:
            raise RuntimeError("boom")

    return mock.patch.dict(handlers.HANDLERS, {"post.created": handler})


def applied_events(*messages) -> set:
    return {decode_event(m.body)[0].event_id for m in messages}


@pytest.mark.django_db(transaction=True)
def test_a_batch_applies_without_a_savepoint_per_event() -> None:
    apply_page()
    messages = [message(body_of(other_post(post_id))) for post_id in (7, 8, 9)]
    with CaptureQueriesContext(connection) as queries:
        consumer.on_event_messages(messages, InlineFeedWork(), mock.Mock())
    statements = [q["sql"].split()[0] for q in queries.captured_queries]
    # Per post.created: the AppliedEvent rows, the post with its page and followers, the
    # re-check after the Redis add, the e-mail recipients: 4 (8 before, with the savepoint's two).
    assert statements == ["BEGIN", *["INSERT", "WITH", "SELECT", "SELECT"] * 3, "COMMIT"]
    assert all(m.ack.call_count == 1 for m in messages)
    assert store.all_feeds() == {1: [9, 8, 7]}
    assert set(AppliedEvent.objects.values_list("event_id", flat=True)) >= applied_events(*messages)


@pytest.mark.django_db(transaction=True)
def test_a_failing_event_makes_its_batch_apply_again_with_savepoints_and_is_counted_once() -> None:
    apply_page()
    messages = [
        message(body_of(other_post(post_id)), headers={"x-delivery-count": 1}) for post_id in (7, 8, 9)
    ]
    with (
        explode_on(8),
        mock.patch.object(consumer.time, "sleep"),
        mock.patch.object(consumer, "record_consumed") as recorded,
        CaptureQueriesContext(connection) as queries,
    ):
        consumer.on_event_messages(messages, InlineFeedWork(), mock.Mock())
    first, failing, last = messages
    failing.requeue.assert_called_once_with()
    failing.ack.assert_not_called()
    for applied in (first, last):
        applied.ack.assert_called_once_with()
        applied.requeue.assert_not_called()
    # The fast path's two events, then one savepoint per event.
    assert sum(q["sql"].startswith("SAVEPOINT") for q in queries.captured_queries) == 3
    events = set(AppliedEvent.objects.values_list("event_id", flat=True))
    assert applied_events(first, last) <= events and not applied_events(failing) & events
    assert AppliedEvent.objects.filter(event_id__in=applied_events(first, last)).count() == 4
    assert sorted(FeedPost.objects.values_list("post_id", flat=True)) == [7, 9]
    assert {c.args[0]: c.kwargs["applied"] for c in recorded.call_args_list} == {"feed": 2, "email": 2}


@pytest.mark.django_db(transaction=True)
def test_poison_in_a_batch_with_a_failing_event_is_dead_lettered_once() -> None:
    apply_page()
    early, late = message(b'{"type": 1}'), message(b"{not json")
    failing, good = message(body_of(other_post(8))), message(body_of(other_post(9)))
    with explode_on(8), mock.patch.object(consumer.time, "sleep"):
        consumer.on_event_messages([early, failing, late, good], InlineFeedWork(), mock.Mock())
    for poison in (early, late):
        poison.reject.assert_called_once_with(requeue=False)
        poison.ack.assert_not_called()
        poison.requeue.assert_not_called()
    failing.requeue.assert_called_once_with()
    failing.reject.assert_not_called()
    good.ack.assert_called_once_with()
    assert list(FeedPost.objects.values_list("post_id", flat=True)) == [9]


@pytest.mark.django_db(transaction=True)
def test_an_error_an_effect_swallowed_fails_its_event_not_the_commit() -> None:
    from django.db import DatabaseError

    apply_page()
    real = consumer.notifications.post_created_effect

    def swallowing_on_eight(event, queue_emails):
        plan = real(event, queue_emails)
        if event.post_id != 8:
            return plan

        def swallow() -> None:  # the last effect of the batch: nothing after it would fail
            plan()
            with connection.cursor() as cursor, contextlib.suppress(DatabaseError):
                cursor.execute("SELECT 1 / 0")  # the transaction is aborted: a COMMIT rolls back

        return swallow

    good, swallowing = message(body_of(other_post(7))), message(body_of(other_post(8)))
    with (
        mock.patch.object(consumer.notifications, "post_created_effect", swallowing_on_eight),
        mock.patch.object(consumer.time, "sleep"),
    ):
        consumer.on_event_messages([good, swallowing], InlineFeedWork(), mock.Mock())
    good.ack.assert_called_once_with()
    swallowing.requeue.assert_called_once_with()
    swallowing.ack.assert_not_called()
    events = set(AppliedEvent.objects.values_list("event_id", flat=True))
    assert applied_events(good) <= events and not applied_events(swallowing) & events


class Loop:
    """The worker's event loop, reduced to what the batcher uses: timers run in order, each turn
    moving a fake clock to the latest of them (`now`, the batcher's clock)."""

    def __init__(self) -> None:
        self.ready: list = []
        self.now = 0.0

    def call_later(self, delay, callback) -> None:
        self.ready.append((self.now + delay, callback))

    def run_ready(self) -> None:
        ready, self.ready = self.ready, []
        for at, callback in ready:
            self.now = max(self.now, at)
            callback()


def test_batcher_flushes_what_was_read_in_one_go() -> None:
    loop, flushed = Loop(), []
    batcher = consumer.EventBatcher(mock.Mock(), mock.Mock(), limit=10, schedule=loop.call_later)
    with mock.patch.object(consumer, "on_event_messages", side_effect=lambda b, *_: flushed.append(b)):
        batcher.on_message("m1")
        batcher.on_message("m2")  # read in the same turn of the loop
        loop.run_ready()  # the batch grew since the check was scheduled: wait one more turn
        assert flushed == []
        batcher.on_message("m3")
        loop.run_ready()
        assert flushed == []
        loop.run_ready()  # nothing more was read: flush
        assert flushed == [["m1", "m2", "m3"]]
        batcher.on_message("m4")  # a lone message later is applied on the next turn
        loop.run_ready()
        assert flushed == [["m1", "m2", "m3"], ["m4"]]


def test_batcher_under_load_applies_a_batch_at_most_once_per_spacing() -> None:
    loop, flushed = Loop(), []
    batcher = consumer.EventBatcher(
        mock.Mock(), mock.Mock(), limit=10, schedule=loop.call_later, spacing=0.02, clock=lambda: loop.now
    )
    with mock.patch.object(consumer, "on_event_messages", side_effect=lambda b, *_: flushed.append(b)):
        batcher.on_message("m1")  # after a quiet spell: on the next check
        loop.run_ready()
        assert flushed == [["m1"]] and loop.now == consumer.BATCH_CHECK_SECONDS
        batcher.on_message("m2")
        loop.run_ready()  # the connection is quiet, but the previous batch began 1 ms ago
        assert flushed == [["m1"]]
        batcher.on_message("m3")  # arrives while the batch waits out the spacing
        loop.run_ready()
        loop.run_ready()
        assert flushed == [["m1"], ["m2", "m3"]]
        assert loop.now >= consumer.BATCH_CHECK_SECONDS + 0.02


def test_batcher_flushes_a_full_batch_at_once_and_without_a_loop_each_message() -> None:
    loop, flushed = Loop(), []
    with mock.patch.object(consumer, "on_event_messages", side_effect=lambda b, *_: flushed.append(b)):
        batcher = consumer.EventBatcher(mock.Mock(), mock.Mock(), limit=2, schedule=loop.call_later)
        for m in ("m1", "m2", "m3"):
            batcher.on_message(m)
        assert flushed == [["m1", "m2"]]
        loop.run_ready()
        loop.run_ready()
        assert flushed == [["m1", "m2"], ["m3"]]
        unbatched = consumer.EventBatcher(mock.Mock(), mock.Mock(), limit=50, schedule=None)
        unbatched.on_message("m4")
        assert flushed[-1] == ["m4"]


@pytest.mark.django_db(transaction=True)
def test_each_event_is_handled_with_its_request_id_bound_and_logged_once_applied(caplog) -> None:
    from observability.trace import EVENT, current_request_id

    seen = []
    traced = mock.Mock(
        body=b"{}", headers={"request_id": "req-5"}, properties={"message_id": "ev-1", "type": "post.created"}
    )
    untraced = mock.Mock(body=b"{}", headers={}, properties={"message_id": "ev-2", "type": "page.created"})

    def record(*args: object, **kwargs: object) -> tuple[object, dict[str, bool]]:
        seen.append((current_request_id(), EVENT.get()))
        return mock.Mock(), {}  # an outcome with no consumer applied: no metrics to record

    with (
        mock.patch.object(consumer, "process_event", side_effect=record),
        caplog.at_level("INFO", logger="projections.consumer"),
    ):
        consumer.on_event_messages([traced, untraced], InlineFeedWork(), mock.Mock())
    assert seen == [("req-5", ("ev-1", "post.created")), (None, ("ev-2", "page.created"))]
    assert current_request_id() is None and EVENT.get() is None
    lines = [(r.getMessage(), r.request_id, r.event_id) for r in caplog.records]
    assert lines == [
        ("event post.created applied", "req-5", "ev-1"),
        ("event page.created applied", None, "ev-2"),
    ]
