"""The consumer: acks after the write, dead-letters poison, survives DynamoDB outages; real RabbitMQ."""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any
from unittest import mock

import aio_pika
import pytest

from events.topology import Topology, declare_topology, delete_topology
from stats_ms.consumer import StatsConsumer, consume
from stats_ms.repository import Generations, StatsRepository
from stats_ms.tests import builders as b
from stats_ms.tests.conftest import eventually, good, message, unique_topology

RABBITMQ_URL = "amqp://guest:guest@127.0.0.1:5672/"


def fake_repo(**apply) -> mock.MagicMock:
    repo = mock.MagicMock(apply=mock.AsyncMock(**apply))
    repo.generations = mock.AsyncMock(return_value=Generations(active="g0", building=None))
    repo.settings.stats_meta_refresh_seconds = 0.01
    return repo


async def test_valid_messages_are_acked_after_the_write():
    order: list[str] = []
    repo = fake_repo(side_effect=lambda events: order.append(f"write {len(events)}"))
    msgs = [good(b.page_created(1, 7)), good(b.post_created(10, 1, 7))]
    for m in msgs:
        m.ack.side_effect = lambda multiple, m=m: order.append(f"ack {m.message_id} multiple={multiple}")
    await StatsConsumer(repo, batch_limit=10).handle_batch(msgs, asyncio.Event())
    assert order == ["write 2", f"ack {msgs[-1].message_id} multiple=True"]  # one frame for the batch
    (events,) = repo.apply.await_args.args
    assert [e.event_id for e in events] == [m.message_id for m in msgs]


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b'{"event_id": "x"}',
        b.raw_envelope("page.exploded", {}).model_dump_json().encode(),
        b.raw_envelope("post.liked", {"post_id": 1}).model_dump_json().encode(),
        b.post_liked(1, 2**64, 7, 3).model_dump_json().encode(),
        "\udcff".encode("utf-8", "surrogatepass"),
    ],
)
async def test_poison_is_rejected_without_requeue_and_the_rest_goes_on(body, caplog):
    repo = fake_repo()
    poison, fine = message(body, "poison"), good(b.page_created(1, 7))
    await StatsConsumer(repo, batch_limit=10).handle_batch([poison, fine], asyncio.Event())
    poison.reject.assert_awaited_once_with(requeue=False)
    poison.ack.assert_not_awaited()
    fine.ack.assert_awaited_once_with(multiple=True)
    assert len(repo.apply.await_args.args[0]) == 1
    assert "dead-lettering message poison" in caplog.text


async def test_each_folded_event_is_logged_once_with_the_request_id_of_its_message(caplog):
    traced, untraced = good(b.page_created(1, 7)), good(b.post_created(10, 1, 7))
    traced.headers, untraced.headers = {"position": 1, "request_id": "req-s"}, {"position": 2}
    traced.type, untraced.type = "page.created", "post.created"
    poison = message(b"not json", "poison")
    with caplog.at_level("INFO", logger="stats_ms.consumer"):
        await StatsConsumer(fake_repo(), batch_limit=10).handle_batch(
            [traced, poison, untraced], asyncio.Event()
        )
    folded = [(r.getMessage(), r.request_id, r.event_id) for r in caplog.records if r.levelname == "INFO"]
    assert folded == [
        ("event page.created folded", "req-s", traced.message_id),
        ("event post.created folded", None, untraced.message_id),
    ]


async def test_a_failing_write_is_retried_and_acked_only_once_it_succeeds():
    repo = fake_repo(side_effect=[RuntimeError("dynamodb down"), None])
    msg = good(b.page_created(1, 7))
    await StatsConsumer(repo, batch_limit=10).handle_batch([msg], asyncio.Event())
    assert repo.apply.await_count == 2
    msg.ack.assert_awaited_once()


async def test_stopping_during_an_outage_leaves_messages_unacked():
    repo = fake_repo(side_effect=RuntimeError("dynamodb down"))
    msg = good(b.page_created(1, 7))
    stop = asyncio.Event()
    stop.set()
    await StatsConsumer(repo, batch_limit=10).handle_batch([msg], stop)
    msg.ack.assert_not_awaited()
    msg.reject.assert_not_awaited()


async def test_writes_are_held_while_a_rebuild_runs():
    repo = fake_repo()
    building = Generations(active="g0", building="g1")
    repo.generations.side_effect = [building, building, Generations(active="g1", building=None)]
    msg = good(b.page_created(1, 7))
    consumer = StatsConsumer(repo, batch_limit=10)
    await consumer.handle_batch([msg], asyncio.Event())
    assert repo.generations.await_count == 3
    repo.apply.assert_awaited_once()
    msg.ack.assert_awaited_once()
    assert not consumer.holding.is_set()


class FakeQueue:
    """Hands the consumer's callback to the test, which delivers messages through it."""

    def __init__(self) -> None:
        self.deliver: Callable[[Any], Awaitable[None]] | None = None

    async def consume(self, callback):
        self.deliver = callback
        return "tag"

    async def cancel(self, tag):
        return None

    def all_taken(self) -> bool:
        """Whether the consumer has taken every delivered message (its callback is `inbox.put`)."""
        inbox = getattr(self.deliver, "__self__", None)
        assert isinstance(inbox, asyncio.Queue)
        return inbox.empty()


@contextlib.asynccontextmanager
async def consuming(consumer: StatsConsumer) -> AsyncIterator[FakeQueue]:
    queue, stop = FakeQueue(), asyncio.Event()
    task = asyncio.create_task(consumer.run(queue, stop))  # type: ignore[arg-type]
    await eventually(lambda: _true(queue.deliver is not None))
    try:
        yield queue
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)


async def _true(value: bool) -> bool:
    return value


def batch_sizes(repo: mock.MagicMock) -> list[int]:
    return [len(call.args[0]) for call in repo.apply.await_args_list]


async def test_a_message_after_a_quiet_spell_is_written_at_once():
    repo = fake_repo()
    async with consuming(StatsConsumer(repo, batch_limit=10, batch_interval=60.0)) as queue:
        await queue.deliver(good(b.page_created(1, 7)))
        await eventually(lambda: _true(batch_sizes(repo) == [1]), seconds=5)  # not 60 s later


async def test_under_load_a_batch_fills_until_the_interval_since_the_previous_one():
    repo = fake_repo()
    async with consuming(StatsConsumer(repo, batch_limit=10, batch_interval=0.5)) as queue:
        await queue.deliver(good(b.page_created(1, 7)))
        await eventually(lambda: _true(batch_sizes(repo) == [1]))
        await queue.deliver(good(b.post_created(10, 1, 7)))
        # The consumer has taken it and, within the interval, waits for more instead of writing.
        await eventually(lambda: _true(queue.all_taken()))
        await queue.deliver(good(b.post_created(11, 1, 7)))
        await eventually(lambda: _true(batch_sizes(repo) == [1, 2]))


async def test_a_batch_of_many_writes_spaces_the_next_by_the_write_budget():
    repo = fake_repo(return_value=30)  # each batch wrote 30 items
    consumer = StatsConsumer(
        repo, batch_limit=10, batch_interval=0.0, writes_per_second=1.0, max_spacing=60.0
    )
    async with consuming(consumer) as queue:
        await queue.deliver(good(b.page_created(1, 7)))
        await eventually(lambda: _true(batch_sizes(repo) == [1]))
        # No interval, but 30 writes at 1 a second: the next batch waits (up to the cap) and fills.
        await queue.deliver(good(b.post_created(10, 1, 7)))
        await eventually(lambda: _true(queue.all_taken()))
        await queue.deliver(good(b.post_created(11, 1, 7)))
        await eventually(lambda: _true(queue.all_taken()))
        assert batch_sizes(repo) == [1]
        assert consumer.spacing == 30.0
    assert batch_sizes(repo) == [1, 2]  # stopping ends the wait


def test_batch_spacing_is_the_interval_or_the_write_budget_up_to_the_cap():
    consumer = StatsConsumer(
        fake_repo(), batch_limit=10, batch_interval=0.1, writes_per_second=50.0, max_spacing=1.5
    )
    spacings = []
    for writes in (0, 4, 25, 49, 64, 75, 1000):
        consumer._space_after(writes)
        spacings.append(consumer.spacing)
    assert spacings == [0.1, 0.1, 0.5, 0.98, 1.28, 1.5, 1.5]
    unbudgeted = StatsConsumer(fake_repo(), batch_limit=10, batch_interval=0.1)
    unbudgeted._space_after(1000)
    assert unbudgeted.spacing == 0.1


async def test_a_full_batch_does_not_wait_for_the_interval():
    repo = fake_repo()
    async with consuming(StatsConsumer(repo, batch_limit=2, batch_interval=60.0)) as queue:
        for envelope in [b.page_created(1, 7), *(b.post_created(10 + i, 1, 7) for i in range(4))]:
            await queue.deliver(good(envelope))
        # Two full batches at once; the last message waits for more (stopping ends the wait).
        await eventually(lambda: _true(batch_sizes(repo) == [2, 2]), seconds=5)


# --- with the real broker ---------------------------------------------------------------------


@pytest.fixture
async def topology() -> AsyncIterator[Topology]:
    topo = unique_topology("test", max_deliveries=3)
    await declare_topology(RABBITMQ_URL, topo)
    yield topo
    await delete_topology(RABBITMQ_URL, topo)


@pytest.fixture
async def running(settings, topology, repo) -> AsyncIterator[None]:
    stop = asyncio.Event()
    task = asyncio.create_task(consume(settings, topology, stop))
    yield
    stop.set()
    with contextlib.suppress(asyncio.CancelledError):
        await asyncio.wait_for(task, 10)


async def publish(topology: Topology, bodies: list[tuple[str, bytes]]) -> None:
    connection = await aio_pika.connect(RABBITMQ_URL)
    async with connection:
        channel = await connection.channel()
        exchange = await channel.get_exchange(topology.exchange)
        for routing_key, body in bodies:
            await exchange.publish(aio_pika.Message(body=body, message_id=str(uuid.uuid4())), routing_key)


async def dead_letters(topology: Topology) -> list[bytes]:
    connection = await aio_pika.connect(RABBITMQ_URL)
    async with connection:
        channel = await connection.channel()
        queue = await channel.get_queue(topology.dead_letter_queue(topology.stats_queue))
        bodies = []
        while (msg := await queue.get(no_ack=True, fail=False)) is not None:
            bodies.append(msg.body)
        return bodies


def wire(envelope) -> tuple[str, bytes]:
    return envelope.type, envelope.model_dump_json().encode()


@pytest.mark.integration
async def test_events_through_rabbitmq_reach_dynamodb_exactly_once(repo, topology, running):
    events = [b.page_created(1, 7), b.post_created(10, 1, 7), b.post_liked(10, 1, 7, user_id=3)]
    await publish(topology, [wire(e) for e in events] + [wire(events[2])])  # a redelivered like

    async def folded() -> bool:
        stats = await repo.page_stats(1)
        return stats is not None and stats.posts == 1 and stats.likes == 1

    await eventually(folded)
    await publish(topology, [wire(b.post_liked(10, 1, 7, user_id=4))])
    await eventually(lambda: _likes_are(repo, 2))


async def _likes_are(repo, n: int) -> bool:
    stats = await repo.page_stats(1)
    return stats is not None and stats.likes == n


@pytest.mark.integration
async def test_a_poison_message_goes_to_the_dead_letter_queue(repo, topology, running, caplog):
    poison = json.dumps({"event_id": str(uuid.uuid4()), "type": "post.liked"}).encode()
    unknown = b.raw_envelope("page.exploded", {})
    await publish(topology, [("post.liked", poison), wire(unknown), wire(b.page_created(1, 7))])
    await eventually(lambda: _known(repo, 1))
    collected: list[bytes] = []

    async def both_dead() -> bool:
        collected.extend(await dead_letters(topology))
        return len(collected) >= 2

    await eventually(both_dead)
    assert sorted(collected) == sorted([poison, wire(unknown)[1]])
    assert caplog.text.count("dead-lettering message") == 2


async def _known(repo, page_id: int) -> bool:
    return await repo.page_stats(page_id) is not None


@pytest.mark.integration
async def test_the_next_batch_is_delivered_while_one_is_written(settings, repo, topology):
    settings = settings.model_copy(update={"stats_prefetch": 5})
    events = [b.page_created(1, 7), *(b.post_liked(10, 1, 7, user_id=u) for u in range(14))]
    await publish(topology, [wire(e) for e in events])
    writing, release = asyncio.Event(), asyncio.Event()
    original = StatsRepository.apply

    async def slow_apply(self, events):
        writing.set()
        await release.wait()
        return await original(self, events)

    stop = asyncio.Event()
    with mock.patch.object(StatsRepository, "apply", slow_apply):
        task = asyncio.create_task(consume(settings, topology, stop))
        await asyncio.wait_for(writing.wait(), 20)
        # Two batches' worth (10) are out of the queue while the first one is being written.
        await eventually(lambda: _ready_in_queue(topology, 15 - 10))
        release.set()
        await eventually(lambda: _likes_are(repo, 14))
        stop.set()
        await asyncio.wait_for(task, 10)
    assert await _ready_in_queue(topology, 0)  # all acked: nothing came back when the channel closed


async def _ready_in_queue(topology: Topology, n: int) -> bool:
    connection = await aio_pika.connect(RABBITMQ_URL)
    async with connection:
        channel = await connection.channel()
        queue = await channel.declare_queue(topology.stats_queue, passive=True)
        return queue.declaration_result.message_count == n
