"""The readable tables of a write benchmark result (also: python -m bench.writes.report FILE.json)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from bench.writes.meter import GROUPS


def fmt(value: float | None, digits: int = 1) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def level_line(r: dict[str, Any]) -> str:
    return (
        f"{r['op']} x{r['clients']}: {r['writes_per_second']} writes/s, p50 {fmt(r['p50_ms'])} ms,"
        f" p99 {fmt(r['p99_ms'])} ms, {r['errors']} errors, drain {r['drain_marks']},"
        f" {r['pipeline_cpu_ms_per_write']} ms CPU/write"
    )


def markdown(header: list[str], rows: list[list[str]]) -> str:
    lines = [
        "| " + " | ".join(header) + " |",
        "|" + "|".join("---:" if i else "---" for i in range(len(header))) + "|",
    ]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def throughput_table(levels: list[dict[str, Any]]) -> str:
    header = [
        "operation",
        "clients",
        "writes/s",
        "p50 ms",
        "p99 ms",
        "errors",
        "drain s",
        "CPU ms/write",
        "cores busy",
        "DB commits/write",
    ]
    rows = [
        [
            r["op"],
            str(r["clients"]),
            fmt(r["writes_per_second"]),
            fmt(r["p50_ms"]),
            fmt(r["p99_ms"]),
            str(r["errors"]) + (f" ({r['error_codes']})" if r["errors"] else ""),
            fmt(r["drain_seconds"]),
            fmt(r["pipeline_cpu_ms_per_write"]),
            fmt(r["pipeline_cpu_cores"], 2),
            fmt(r.get("db_per_write", {}).get("commits")),
        ]
        for r in levels
    ]
    return markdown(header, rows)


def cpu_table(levels: list[dict[str, Any]]) -> str:
    header = ["operation", "clients", *GROUPS, "total", "loadgen"]
    rows = []
    for r in levels:
        per = r["cpu_seconds_per_1000_writes"]
        writes = max(1, r["writes_total"])
        rows.append(
            [
                r["op"],
                str(r["clients"]),
                *(fmt(per.get(g, 0.0), 2) for g in GROUPS),
                fmt(sum(per.values()), 2),
                fmt(r["loadgen_cpu_seconds"] * 1000 / writes, 2),
            ]
        )
    return markdown(header, rows)


def tables(results: dict[str, Any]) -> str:
    idle = results.get("idle_cpu_percent", {})
    settings = results["settings"]
    parts = [
        f"Write benchmark {results.get('label') or ''} {results['started_at']} (commit {results['commit']},"
        f" load average at start {results['load_average_at_start']})",
        f"API: gunicorn {settings['api_gunicorn_args']}, {settings['api_workers']} workers;"
        f" {settings['seconds']} s per level after {settings['warmup']} s warm-up",
        "",
        throughput_table(results["levels"]),
        "",
        "CPU seconds per 1,000 writes (start of the level to the end of its drain; "
        "rabbitmq is the whole shared broker):",
        "",
        cpu_table(results["levels"]),
        "",
        "Idle CPU, % of one core: " + ", ".join(f"{g} {v}" for g, v in idle.items()),
    ]
    return "\n".join(parts)


if __name__ == "__main__":
    print(tables(json.loads(Path(sys.argv[1]).read_text())))
