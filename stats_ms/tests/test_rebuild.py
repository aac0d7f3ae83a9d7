"""Rebuild: fold an exported log into fresh tables, switch, and come out equal to the live figures."""

from __future__ import annotations

import asyncio
import io

import pytest

from stats_ms.consumer import StatsConsumer
from stats_ms.rebuild import begin, finish, fold_into, main, rebuild
from stats_ms.repository import StatsRepository
from stats_ms.tests import builders as b
from stats_ms.tests.conftest import folded, good


def history():
    return [
        b.page_created(1, 7),
        b.page_created(2, 8),
        b.post_created(10, 1, 7),
        b.post_created(11, 1, 7),
        b.post_liked(10, 1, 7, user_id=3),
        b.post_liked(11, 1, 7, user_id=3),
        b.post_created(20, 2, 8, reply_to=(10, 1)),
        b.follow_requested(1, 7, 4),
        b.follow_accepted(1, 7, 5, was_requested=False),
        b.post_deleted(11, 1, 7, likes=1),
        b.page_created(3, 9),
        b.page_deleted(3, 9),
    ]


def ndjson(envelopes) -> list[str]:
    return [e.model_dump_json() + "\n" for e in envelopes]


async def snapshot(repo, pages=(1, 2, 3)):
    return {page: await repo.page_stats(page) for page in pages}


async def test_rebuild_equals_the_live_figures_and_switches(repo, settings, monkeypatch):
    monkeypatch.setattr("stats_ms.rebuild.BATCH", 5)  # full batches and a last, shorter one
    events = history()
    for event in events:  # live: one by one, as the consumer would
        await repo.apply(folded(event))
    live = await snapshot(repo)
    before = (await repo.generations(fresh=True)).active

    report = await rebuild(repo, settings, ndjson(events))

    assert report.previous == before
    assert report.generation != before
    assert (await repo.generations(fresh=True)).active == report.generation
    assert (report.read, report.folded, report.skipped) == (len(events), len(events), 0)
    assert await snapshot(repo) == live
    assert live[1] is not None and live[1].posts == 1 and live[3] is None


async def test_bad_lines_are_skipped_and_counted(repo, settings):
    lines = ["not json\n", "\n", *ndjson([b.page_created(1, 7)]), b.raw_envelope("x.y", {}).model_dump_json()]
    generation = "gtest"
    await repo.create_generation(generation)
    report = await fold_into(repo, generation, lines)
    assert (report.read, report.folded, report.skipped) == (3, 1, 2)


async def test_the_consumer_holds_during_a_rebuild_and_nothing_is_lost_or_doubled(repo, settings):
    events = history()
    exported, late = events[:8], events[8:]
    for event in exported:
        await repo.apply(folded(event))
    before = await snapshot(repo)
    await begin(repo, settings)

    # The consumer receives one event the export also holds, and the later ones.
    consumer = StatsConsumer(repo, batch_limit=100)
    held = [good(e) for e in [exported[-1], *late]]
    task = asyncio.create_task(consumer.handle_batch(held, asyncio.Event()))
    await asyncio.wait_for(consumer.holding.wait(), 10)
    assert await snapshot(repo) == before  # the API keeps answering from the old tables
    assert not any(m.ack.await_count for m in held)

    await finish(repo, ndjson(exported))
    await asyncio.wait_for(task, 10)
    held[-1].ack.assert_awaited_once_with(multiple=True)  # the whole batch, in one frame

    expected = StatsRepository(
        repo._db, settings.model_copy(update={"stats_table_prefix": "x" + settings.stats_table_prefix})
    )
    await expected.ensure_tables()
    await expected.apply(folded(*events))
    assert await snapshot(repo) == await snapshot(expected)


async def test_finish_without_begin_refuses(repo):
    with pytest.raises(SystemExit):
        await finish(repo, [])


async def test_the_active_generation_cannot_be_dropped(repo):
    with pytest.raises(ValueError):
        await repo.drop_generation((await repo.generations(fresh=True)).active)


def test_command_line_run_from_stdin(settings, monkeypatch, capsys):
    monkeypatch.setattr("stats_ms.rebuild.get_settings", lambda: settings)
    monkeypatch.setattr("sys.stdin", io.StringIO("".join(ndjson(history()))))
    main(["run", "--from-file", "-"])
    assert f"{len(history())} events folded, 0 skipped" in capsys.readouterr().out
