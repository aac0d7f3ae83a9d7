from __future__ import annotations

import psycopg
import pytest
from django.db import transaction

from events.append import NOTIFY_CHANNEL, NotInTransactionError, append_event, to_envelope
from events.contracts import PageBlocked, PostLiked, UnknownEventError, parse_payload
from events.horizon import RELAY_SLEEPING
from events.management.config import conninfo_from_settings
from events.models import StoredEvent

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
