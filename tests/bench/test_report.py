"""bench.report: the plots and the report's tables come from the benchmarks' JSON, or a clear error."""

from __future__ import annotations

import json
import struct
from pathlib import Path
from typing import Any

import pytest

from bench import report


def run(bench_dir: Path, *extra: str) -> int:
    args = ["--results", str(bench_dir / "results"), "--plots", str(bench_dir / "plots")]
    return report.main([*args, "--report", str(bench_dir / "REPORT.md"), *extra])


def png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def rows(markdown: str) -> list[list[str]]:
    return [
        [c.strip() for c in line.strip("|").split("|")]
        for line in markdown.splitlines()
        if line.startswith("| ")
    ]


def test_every_plot_is_written_as_a_small_png(bench_dir: Path) -> None:
    assert run(bench_dir) == 0

    plots = sorted(p.name for p in (bench_dir / "plots").iterdir())
    assert plots == ["faults.png", "feed.png", "writes.png"]
    for name in plots:
        width, height = png_size(bench_dir / "plots" / name)
        assert (width, height) in {(1100, 460), (1100, 480)}  # 100 dpi
        assert (bench_dir / "plots" / name).stat().st_size < 200_000


def test_each_plot_carries_the_machine_date_and_command_of_its_data(
    bench_dir: Path, monkeypatch: Any
) -> None:
    footers: dict[str, str] = {}
    save = report.save

    def spy(fig: Any, path: Path) -> Path:
        footers[path.name] = "\n".join(t.get_text() for t in fig.texts)
        return save(fig, path)

    monkeypatch.setattr(report, "save", spy)
    assert run(bench_dir) == 0

    commands = {
        "writes.png": "python -m bench.writes.run --quick --json w.json",
        "feed.png": "python -m bench.feed.run --only sweep",
        "faults.png": "python -m bench.faults.run --seconds 8",
    }
    for name, command in commands.items():
        text = " ".join(footers[name].split())
        assert command in text
        assert "Test CPU 9000, 2 CPUs" in text
        assert "2026-12-06T14:00:00Z" in text
        assert "load average at start 1.25 1.0 0.5" in text


def test_write_table_numbers_come_from_the_json(bench_dir: Path) -> None:
    assert run(bench_dir) == 0
    text = (bench_dir / "REPORT.md").read_text()
    part = text.split("<!-- generated:writes -->")[1].split("<!-- end:writes -->")[0]

    assert rows(part)[1:] == [
        ["posts", "1", "111.1", "8.2", "16.4", "0", "2.5"],
        ["posts", "4", "222.2", "18.3", "40.5", "0", "2.5"],
        ["follows", "1", "98.7", "9.1", "21.2", "0", "2.5"],
        ["follows", "4", "187.6", "20.4", "55.5", "0", "2.5"],
    ]
    assert "old writes table" not in text
    assert "`python -m bench.writes.run --quick --json w.json`" in part


def test_feed_tables_follow_the_sweep(bench_dir: Path, feed_json: dict[str, Any]) -> None:
    feed_json["read_sweep"]["by_clients"][1] |= {"p99_ms": 1234.5, "api_cpu_ms_per_request": 3.21}
    (bench_dir / "results" / "feed.json").write_text(json.dumps(feed_json))
    assert run(bench_dir) == 0
    part = (bench_dir / "REPORT.md").read_text().split("<!-- generated:feed -->")[1].split("<!-- end:feed")[0]

    table = [r for r in rows(part) if r[0] != "follows"]
    assert [r[:2] for r in table] == [["20", "2"], ["100", "2"], ["500", "2"], ["500", "1"], ["500", "16"]]
    assert table[-1][2:6] == ["310.5", "48.8", "1,234.5", "3.2"]
    assert table[0][5] == "-"  # a sweep from before the CPU was measured


def test_faults_part_gives_each_fault_the_worst_lag_that_followed_it(bench_dir: Path) -> None:
    assert run(bench_dir) == 0
    part = (bench_dir / "REPORT.md").read_text().split("<!-- generated:faults -->")[1]

    table = rows(part)
    assert ["kill relay", "2.0", "2.3", "4.5", "120.5"] in table
    assert ["broker (Closed 7 connections)", "6.0", "-", "6.1", "77.7"] in table
    assert ["posts in all feeds", "4 of 5 (1,001 feeds)"] in table
    assert ["exactly once (feeds, posts, statistics)", "**no**"] in table
    assert "![lag under faults](plots/faults.png)" in part


def test_prose_outside_the_generated_parts_stays_and_a_rerun_changes_nothing(bench_dir: Path) -> None:
    assert run(bench_dir) == 0
    first = (bench_dir / "REPORT.md").read_text()
    assert run(bench_dir) == 0

    assert (bench_dir / "REPORT.md").read_text() == first
    for prose in ("Prose before, kept.", "Between.", "Prose after, kept."):
        assert first.count(prose) == 1


def test_a_scaled_fault_run_gets_its_own_plot_and_part(bench_dir: Path, faults_json: dict[str, Any]) -> None:
    faults_json["settings"]["scale"] = "relay=2 worker=3"
    (bench_dir / "results" / "faults-scaled.json").write_text(json.dumps(faults_json))
    assert run(bench_dir) == 0

    assert (bench_dir / "plots" / "faults-scaled.png").exists()
    assert "**faults-scaled.json** (SCALE=relay=2 worker=3)" in (bench_dir / "REPORT.md").read_text()


@pytest.mark.parametrize("missing", ["writes.json", "feed.json", "faults.json"])
def test_a_missing_input_is_a_clear_error(bench_dir: Path, missing: str, capsys: Any) -> None:
    (bench_dir / "results" / missing).unlink()
    before = (bench_dir / "REPORT.md").read_text()

    assert run(bench_dir) == 2

    error = capsys.readouterr().err
    assert missing.removesuffix(".json") in error and "bench." in error and "first" in error
    assert (bench_dir / "REPORT.md").read_text() == before


def test_an_input_of_the_wrong_shape_names_the_missing_field(bench_dir: Path, capsys: Any) -> None:
    (bench_dir / "results" / "feed.json").write_text(json.dumps({"relay": {}}))

    assert run(bench_dir) == 2
    assert "feed.json: no 'read_sweep'" in capsys.readouterr().err


def test_a_report_without_the_markers_is_refused(bench_dir: Path, capsys: Any) -> None:
    (bench_dir / "REPORT.md").write_text("# Load report\n\n<!-- generated:writes -->\n<!-- end:writes -->\n")

    assert run(bench_dir) == 2
    assert "no <!-- generated:feed -->" in capsys.readouterr().err


def test_rerun_refuses_an_unknown_benchmark_before_running_anything(
    bench_dir: Path, capsys: Any, monkeypatch: Any
) -> None:
    ran: list[list[str]] = []
    monkeypatch.setattr(report.subprocess, "run", lambda command, **kw: ran.append(command))

    assert run(bench_dir, "--rerun", "writes,nope") == 2
    assert "unknown benchmark 'nope'" in capsys.readouterr().err
    assert ran == []


def test_rerun_runs_each_benchmark_under_the_lock_into_the_results_then_reports(
    bench_dir: Path, monkeypatch: Any
) -> None:
    ran: list[list[str]] = []
    monkeypatch.setattr(report.subprocess, "run", lambda command, **kw: ran.append(command))

    assert run(bench_dir, "--rerun", "writes,faults") == 0

    results = str((bench_dir / "results").resolve())
    assert [c[:2] for c in ran] == [["flock", report.LOCK]] * 2
    assert ran[0][3:6] == ["-m", "bench.writes.run", "--quick"] and ran[0][-1] == f"{results}/writes.json"
    assert ran[1][3:5] == ["-m", "bench.faults.run"] and ran[1][-1] == f"{results}/faults.json"
    assert (bench_dir / "plots" / "writes.png").exists()
