"""bench.faults.run: the fault schedule, the watcher's lag and the exactly-once verdict."""

from __future__ import annotations

from typing import Any

import pytest

from bench.faults import run as faults


class FakePipeline:
    def __init__(self, feeds: dict[str, set[str]]) -> None:
        self.feeds = feeds
        self.calls: list[tuple[str, list[str]]] = []

    def zmscore(self, key: str, members: list[str]) -> None:
        self.calls.append((key, members))

    def execute(self) -> list[list[float | None]]:
        return [[1.0 if m in self.feeds.get(k, set()) else None for m in ms] for k, ms in self.calls]


class FakeRedis:
    def __init__(self) -> None:
        self.feeds: dict[str, set[str]] = {}

    def pipeline(self, transaction: bool) -> FakePipeline:
        return FakePipeline(self.feeds)


@pytest.fixture
def watcher(monkeypatch: Any) -> tuple[faults.Watcher, FakeRedis, faults.Run]:
    run = faults.Run()
    clock = iter([1.0, 2.0, 3.0, 4.0, 5.0])
    monkeypatch.setattr(run, "now", lambda: next(clock))
    redis = FakeRedis()
    w = faults.Watcher.__new__(faults.Watcher)
    w.run, w.watched, w.every, w.redis = run, ["owner", "f1"], ["owner", "f1", "f2"], redis
    return w, redis, run


def test_a_post_in_every_feed_at_the_first_check_lags_until_the_watched_feeds_had_it(watcher: Any) -> None:
    w, redis, run = watcher
    run.probes[7] = faults.Probe(sent=0.25, acked=0.3)
    redis.feeds = {"owner": {"7"}, "f1": {"7"}, "f2": {"7"}}

    w.poll()  # at 1.0
    w.audit()  # at 2.0

    assert run.probes[7].seen == 1.0 and run.probes[7].complete == 1.0
    assert run.probes[7].lag == pytest.approx(0.75)


def test_a_post_missing_from_a_feed_counts_from_the_check_that_finds_it_everywhere(watcher: Any) -> None:
    w, redis, run = watcher
    run.probes[7] = faults.Probe(sent=0.0, acked=0.1)
    redis.feeds = {"owner": {"7"}, "f1": {"7"}, "f2": set()}

    w.poll()  # 1.0: in the watched feeds
    w.audit()  # 2.0: not in f2
    assert (run.probes[7].complete, run.probes[7].audits, run.probes[7].missing_feeds) == (None, 1, 1)
    redis.feeds["f2"].add("7")
    w.audit()  # 3.0

    assert run.probes[7].lag == 3.0


def test_a_post_not_yet_in_the_watched_feeds_is_not_audited(watcher: Any) -> None:
    w, redis, run = watcher
    run.probes[7] = faults.Probe(sent=0.0, acked=0.1)
    redis.feeds = {"owner": {"7"}, "f2": {"7"}}

    w.poll()
    w.audit()

    assert run.probes[7].seen is None and run.probes[7].complete is None and run.probes[7].audits == 0


def args(**over: Any) -> Any:
    return faults.parse_args([f"--{k.replace('_', '-')}={v}" for k, v in over.items()])


def test_faults_are_spread_evenly_kills_first_then_the_broker() -> None:
    plan = faults.schedule(args(seconds=100, kill="relay-1,worker-2", broker_restarts=2, db="x"))

    assert [(f.kind, f.name, f.at) for f in plan] == [
        ("kill", "relay-1", 20.0),
        ("kill", "worker-2", 40.0),
        ("broker", "connections of the virtual host x", 60.0),
        ("broker", "connections of the virtual host x", 80.0),
    ]


def test_defaults_name_the_single_instances_of_todays_runner() -> None:
    defaults = faults.parse_args([])

    assert defaults.kill == ["relay", "worker", "stats-consumer"]
    assert (defaults.broker_restarts, defaults.scale) == (1, "")


def test_the_scale_reaches_the_runner_with_the_stack_settings() -> None:
    cfg = faults.stack_config(faults.parse_args(["--scale", "relay=2 worker=3", "--db", "x"]))

    assert cfg.env()["SCALE"] == "relay=2 worker=3"
    assert faults.stack_config(faults.parse_args([])).env()["SCALE"] == ""


def finished(lags: dict[int, float | None]) -> faults.Run:
    run = faults.Run()
    for post_id, lag in lags.items():
        run.probes[post_id] = faults.Probe(
            sent=1.0, acked=1.01, seen=None, complete=None if lag is None else 1.0 + lag
        )
    return run


def test_exactly_once_when_every_post_is_committed_everywhere_and_counted_once() -> None:
    run = finished({1: 0.02, 2: 0.04, 3: 1.5})

    summary = faults.summarize(run, {1, 2, 3}, {"posts": 3, "followers": 1000}, 1000)

    assert summary["exactly_once"] is True
    assert (summary["reached_every_feed"], summary["feeds"], summary["missing"]) == (3, 1001, [])
    assert summary["lag_max_ms"] == 1500.0


@pytest.mark.parametrize(
    ("lags", "committed", "stats", "what"),
    [
        ({1: 0.02, 2: None}, {1, 2}, {"posts": 2, "followers": 10}, "a post missing from a feed"),
        ({1: 0.02, 2: 0.03}, {1, 2}, {"posts": 3, "followers": 10}, "a post counted twice"),
        ({1: 0.02, 2: 0.03}, {1, 2}, {"posts": 2, "followers": 11}, "a follow counted twice"),
        ({1: 0.02, 2: 0.03}, {1, 2, 3}, {"posts": 3, "followers": 10}, "a post committed without an answer"),
    ],
)
def test_anything_lost_or_doubled_is_not_exactly_once(
    lags: dict[int, float | None], committed: set[int], stats: dict[str, int], what: str
) -> None:
    summary = faults.summarize(finished(lags), committed, stats, 10)

    assert summary["exactly_once"] is False, what
