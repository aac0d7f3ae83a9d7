"""Small benchmark outputs, shaped as bench.writes.run, bench.feed.run and bench.faults.run write them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

MACHINE = {"host": "h", "cpus": 2, "cpu_model": "Test CPU 9000", "python": "3.11.7", "kernel": "6.1.0"}


def provenance(command: str) -> dict[str, Any]:
    return {
        "started_at": "2026-12-06T14:00:00Z",
        "command": command,
        "commit": "abc1234",
        "machine": MACHINE,
        "load_average_at_start": [1.25, 1.0, 0.5],
    }


def write_level(op: str, clients: int, rate: float, p50: float, p99: float) -> dict[str, Any]:
    return {
        "op": op,
        "clients": clients,
        "writes_per_second": rate,
        "p50_ms": p50,
        "p99_ms": p99,
        "errors": 0,
        "load_average_at_start": [2.5, 2.0, 1.0],
    }


def read_level(follows: int, clients: int, rps: float, p50: float, p99: float) -> dict[str, Any]:
    return {
        "follows": follows,
        "clients": clients,
        "rps": rps,
        "p50_ms": p50,
        "p99_ms": p99,
        "errors": 0,
        "requests": int(rps * 10),
        "seconds": 10,
        "load_average": [3.5, 3.0, 2.0],
    }


@pytest.fixture
def writes_json() -> dict[str, Any]:
    levels = [
        write_level("posts", 1, 111.1, 8.2, 16.4),
        write_level("posts", 4, 222.2, 18.3, 40.5),
        write_level("follows", 1, 98.7, 9.1, 21.2),
        write_level("follows", 4, 187.6, 20.4, 55.5),
    ]
    return {**provenance("python -m bench.writes.run --quick --json w.json"), "levels": levels}


@pytest.fixture
def feed_json() -> dict[str, Any]:
    sweep = {
        "by_follows": [
            read_level(20, 2, 301.5, 6.1, 12.7),
            read_level(100, 2, 299.5, 6.2, 13.3),
            read_level(500, 2, 297.5, 6.3, 14.9),
        ],
        "by_clients": [read_level(500, 1, 150.5, 5.9, 9.9), read_level(500, 16, 310.5, 48.8, 97.7)],
    }
    return {**provenance("python -m bench.feed.run --only sweep"), "read_sweep": sweep}


@pytest.fixture
def faults_json() -> dict[str, Any]:
    faults = [
        {
            "kind": "kill",
            "name": "relay",
            "at": 2.0,
            "started": 2.0,
            "killed": 2.3,
            "back": 4.5,
            "ok": True,
            "detail": "",
        },
        {
            "kind": "broker",
            "name": "vhost",
            "at": 6.0,
            "started": 6.0,
            "back": 6.1,
            "ok": True,
            "detail": "Closed 7 connections",
        },
    ]
    # [sent s, lag ms, answer ms, post id]: 120.5 ms is the worst after the kill, 77.7 after the broker
    posts = [
        [1.0, 30.0, 5.0, 1],
        [2.5, 120.5, 5.0, 2],
        [5.0, 40.0, 5.0, 3],
        [6.5, 77.7, 5.0, 4],
        [7.0, None, 5.0, 5],
    ]
    summary = {
        "posts_sent": 5,
        "acknowledged": 5,
        "errors": 0,
        "committed": 5,
        "feeds": 1001,
        "reached_every_feed": 4,
        "lag_p50_ms": 58.9,
        "lag_p99_ms": 119.2,
        "lag_max_ms": 120.5,
        "stats": {"posts": 5, "followers": 1000},
        "stats_exact": True,
        "exactly_once": False,
    }
    settings = {"rate": 20, "scale": ""}
    run = {"faults": faults, "posts": posts, "summary": summary, "settings": settings}
    return {**provenance("python -m bench.faults.run --seconds 8"), **run}


REPORT = """# Load report

Prose before, kept.

<!-- generated:writes -->
old writes table
<!-- end:writes -->

Between.

<!-- generated:feed -->
<!-- end:feed -->

<!-- generated:faults -->
old
<!-- end:faults -->

Prose after, kept.
"""


@pytest.fixture
def bench_dir(tmp_path: Path, writes_json: Any, feed_json: Any, faults_json: Any) -> Path:
    results = tmp_path / "results"
    results.mkdir()
    (results / "writes.json").write_text(json.dumps(writes_json))
    (results / "feed.json").write_text(json.dumps(feed_json))
    (results / "faults.json").write_text(json.dumps(faults_json))
    (tmp_path / "REPORT.md").write_text(REPORT)
    return tmp_path
