from __future__ import annotations

import psycopg
import pytest
from django.db import transaction

from events.append import NOTIFY_CHANNEL, NotInTransactionError, append_event, append_events, to_envelope
from events.contracts import PageBlocked, PostLiked, UnknownEventError, parse_payload
from events.horizon import RELAY_SLEEPING
from events.management.config import conninfo_from_settings
from events.models import StoredEvent
from observability.trace import bound

pytestmark = pytest.mark.django_db(transaction=True)


def test_append_outside_a_transaction_is_refused() -> None:
    with pytest.raises(NotInTransactionError):
        append_event(PostLiked(post_id=1, page_id=2, page_owner_id=3, user_id=4), actor_id=4)
    assert StoredEvent.objects.count() == 0


def test_append_stores_the_contract_and_round_trips() -> None:
    with transaction.atomic():
        stored = append_event(PostLiked(post_id=1, page_id=2, page_owner_id=3, user_id=4), actor_id=None)
    envelope = to_envelope(StoredEvent.objects.get(pk=stored.pk))
    assert (envelope.type, envelope.version, envelope.aggregate_type, envelope.aggregate_id) == (
        "post.liked",
        1,
        "post",
        "1",
    )
    assert envelope.parse_payload() == PostLiked(post_id=1, page_id=2, page_owner_id=3, user_id=4)
    assert stored.is_moderation is False


def test_rolled_back_transaction_leaves_no_event() -> None:
    with pytest.raises(RuntimeError), transaction.atomic():
        append_event(PostLiked(post_id=1, page_id=2, page_owner_id=3, user_id=4), actor_id=4)
        raise RuntimeError("boom")
    assert not StoredEvent.objects.exists()


def test_moderation_flag_comes_from_the_contract() -> None:
    with transaction.atomic():
        stored = append_event(PageBlocked(page_id=1, owner_id=2, until=None, reason="spam"), actor_id=9)
    assert stored.is_moderation is True


def test_an_event_stores_the_bound_request_id_and_none_outside_a_request() -> None:
    like = PostLiked(post_id=1, page_id=2, page_owner_id=3, user_id=4)
    with bound("req-1"), transaction.atomic():
        one = append_event(like, actor_id=4)
        several = append_events([like, like], actor_id=4)
    with transaction.atomic():  # a task or command with nothing bound
        outside = append_event(like, actor_id=4)
    stored = dict(StoredEvent.objects.values_list("position", "request_id"))
    assert [stored[e.position] for e in (one, *several)] == ["req-1"] * 3
    assert stored[outside.position] is None


def test_each_committed_append_is_logged_once_and_a_rolled_back_one_never(caplog) -> None:
    like = PostLiked(post_id=1, page_id=2, page_owner_id=3, user_id=4)
    with caplog.at_level("INFO", logger="events.append"):
        with bound("req-2"), transaction.atomic():
            event = append_event(like, actor_id=4)
            assert not caplog.records  # not before the commit
        with pytest.raises(RuntimeError), transaction.atomic():
            append_event(like, actor_id=4)
            raise RuntimeError("rolled back")
        with transaction.atomic():
            append_events([like, like, like], actor_id=4)
    single, bulk = caplog.records
    assert (single.request_id, single.event_id, single.event_type) == ("req-2", event.event_id, "post.liked")
    assert bulk.getMessage() == "3 events appended (post.liked)"


def test_unknown_type_is_rejected() -> None:
    with pytest.raises(UnknownEventError):
        parse_payload("post.exploded", 1, {})


def _append_one() -> None:
    with transaction.atomic():
        append_event(PostLiked(post_id=1, page_id=2, page_owner_id=3, user_id=4), actor_id=4)


def test_an_append_notifies_only_while_a_relay_sleeps() -> None:
    conninfo = conninfo_from_settings()
    with (
        psycopg.connect(conninfo, autocommit=True) as listener,
        psycopg.connect(conninfo, autocommit=True) as relay,
    ):
        listener.execute(f"LISTEN {NOTIFY_CHANNEL}")
        relay.execute("SELECT pg_advisory_lock(%s, %s)", RELAY_SLEEPING)
        _append_one()
        assert [n.payload for n in listener.notifies(timeout=10, stop_after=1)] == [""]
        relay.execute("SELECT pg_advisory_unlock(%s, %s)", RELAY_SLEEPING)
        _append_one()
        # Notifications arrive in commit order: anything the append sent comes before this one.
        relay.execute("SELECT pg_notify(%s, 'sentinel')", [NOTIFY_CHANNEL])
        assert [n.payload for n in listener.notifies(timeout=10, stop_after=1)] == ["sentinel"]
