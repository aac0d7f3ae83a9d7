"""Rebuild: fold an exported log into fresh tables, switch, and come out equal to the live figures."""

from __future__ import annotations

import io

import pytest

from stats_ms.rebuild import begin, finish, fold_into, main, rebuild
from stats_ms.tests import builders as b
from stats_ms.tests.conftest import folded


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


async def test_rebuild_equals_the_live_figures_and_switches(repo, settings):
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


async def test_events_folded_live_during_a_rebuild_count_once(repo, settings):
    events = history()
    exported, late = events[:8], events[8:]
    for event in exported:
        await repo.apply(folded(event))
    await begin(repo, settings)
    # The consumer keeps going: one event is both in the export and folded live, the rest only live.
    for event in [exported[-1], *late]:
        await repo.apply(folded(event))
    live = await snapshot(repo)
    await finish(repo, ndjson(exported))
    assert await snapshot(repo) == live


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
