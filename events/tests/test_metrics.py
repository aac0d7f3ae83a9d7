"""The core's event metrics: appends by type; the relay's published count and lag."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest
from django.db import transaction

from events.append import append_event, append_events
from events.contracts import PageBlocked, PostLiked
from events.relay import Relay
from events.tests.test_relay import FakePublisher, _with_conns, append, config
from observability.testing import local

pytestmark = pytest.mark.django_db(transaction=True)

LIKED = PostLiked(post_id=1, page_id=2, page_owner_id=3, user_id=4)


def appended(type_: str) -> float:
    return local("innotter_events_appended_total", type=type_)


def test_each_appended_event_counts_under_its_type() -> None:
    liked, blocked = appended("post.liked"), appended("page.blocked")
    with transaction.atomic():
        append_event(LIKED, actor_id=4)
        append_events([LIKED, LIKED, PageBlocked(page_id=2, owner_id=3, until=None, reason="")], actor_id=1)
    assert (appended("post.liked"), appended("page.blocked")) == (liked + 3, blocked + 1)


async def _until(condition: Callable[[], bool], what: str) -> None:
    for _ in range(200):
        if condition():
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"{what} did not happen")


def test_the_relay_counts_what_it_published_and_its_lag_falls_to_zero() -> None:
    positions = [e.position for e in append(4)]
    with pytest.raises(RuntimeError), transaction.atomic():  # a rolled-back append: a hole in the positions
        append_event(LIKED, actor_id=4)
        raise RuntimeError("rolled back")
    relay = Relay(config(batch_size=1, batches_in_flight=1, poll_seconds=0.05))
    publisher = FakePublisher()
    published = local("innotter_relay_published_total")

    def lag() -> float:
        return local("innotter_relay_lag_events")

    async def scenario(data, lock) -> None:
        running = asyncio.create_task(relay._publish_until_stopped(data, lock, publisher))
        await _until(lambda: len(publisher.confirms) == 1, "the first batch")
        publisher.confirms[0].set_result(None)
        await _until(lambda: relay.published == 1, "the first confirm")
        assert lag() == positions[-1] + 1 - positions[0]  # the head (the hole's position) minus the cursor
        publisher.confirm_at_once = True
        for confirm in publisher.confirms[1:]:
            confirm.set_result(None)
        await _until(lambda: relay.published == 4 and lag() == 0, "caught up")  # the hole is not behind
        relay.stop()
        await running

    asyncio.run(_with_conns(scenario))
    assert local("innotter_relay_published_total") == published + 4
