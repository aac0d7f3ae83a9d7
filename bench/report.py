"""The load report: bench/REPORT.md's tables and the PNG plots of bench/plots/, from the benchmarks' JSON.

    .venv/bin/python -m bench.report [--rerun writes,feed,faults] [--results DIR] [--plots DIR]
        [--report FILE]

Reads bench/results/writes.json (bench.writes.run), feed.json (bench.feed.run's read sweep) and
every faults*.json (bench.faults.run); writes bench/plots/writes.png, feed.png and one
<faults file name>.png each, and rewrites the generated parts of bench/REPORT.md (between the
`<!-- generated:NAME -->` and `<!-- end:NAME -->` lines; the prose around them stays). With
--rerun, the named benchmarks run first (each under flock /tmp/innotter-bench.lock, with the
commands in RERUN) and replace their JSON files. Each plot carries the machine, the date, the
load average and the command of its data.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import textwrap
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only, no display
import matplotlib.pyplot as plt
from matplotlib.figure import Figure

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
LOCK = "/tmp/innotter-bench.lock"
DPI = 100
OPS = ("posts", "likes-hot", "likes-spread", "follows")
# What --rerun runs (from the repository's root), before the report is made again; the feed
# sweep needs the feed benchmark's dataset (built once by `bench.feed.run --only sweep`).
RERUN: dict[str, list[str]] = {
    "writes": ["-m", "bench.writes.run", "--quick", "--json", "{results}/writes.json"],
    "feed": ["-m", "bench.feed.run", "--skip-dataset", "--only", "sweep", "--json", "{results}/feed.json"],
    "faults": ["-m", "bench.faults.run", "--json", "{results}/faults.json"],
}


class ReportError(Exception):
    """An input the report cannot be made from (missing file, missing field, missing marker)."""


def load(path: Path, produced_by: str) -> dict[str, Any]:
    if not path.exists():
        raise ReportError(f"{path} is missing: run `{produced_by}` (or bench.report --rerun) first")
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise ReportError(f"{path} is not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise ReportError(f"{path}: a JSON object was expected")
    return data


def need(data: dict[str, Any], key: str, path: Path) -> Any:
    if key not in data:
        raise ReportError(f"{path}: no {key!r} (is it the output of the right benchmark?)")
    return data[key]


# --- provenance ---------------------------------------------------------------------------------


def machine_line(data: dict[str, Any]) -> str:
    m = data.get("machine", {})
    parts = [m.get("cpu_model") or "unknown CPU", f"{m.get('cpus', '?')} CPUs"]
    if m.get("kernel"):
        parts.append(f"Linux {m['kernel']}")
    if m.get("python"):
        parts.append(f"Python {m['python']}")
    return ", ".join(parts)


def provenance(data: dict[str, Any], levels: list[dict[str, Any]] | None = None) -> str:
    """Machine, date, load average, commit and command: one text for a plot's foot and the report."""
    load = data.get("load_average_at_start")
    when = data.get("started_at", "unknown date")
    first = f"{machine_line(data)}; {when}, commit {data.get('commit', '?')}"
    if load:
        first += f", load average at start {' '.join(str(x) for x in load)}"
    if end := data.get("load_average_at_end"):
        first += f", at the end {' '.join(str(x) for x in end)}"
    if levels and (spread := load_spread(levels)):
        first += f" (1-min load average at the levels' starts: {spread})"
    return "\n".join([first, f"command: {data.get('command', 'unknown')}"])


def load_spread(levels: list[dict[str, Any]]) -> str:
    firsts = [load[0] for lv in levels if (load := lv.get("load_average_at_start") or lv.get("load_average"))]
    return f"{min(firsts):.1f}-{max(firsts):.1f}" if firsts else ""


def footer(fig: Figure, data: dict[str, Any], levels: list[dict[str, Any]] | None = None) -> None:
    text = "\n".join(textwrap.fill(line, 160) for line in provenance(data, levels).splitlines())
    fig.text(0.01, 0.01, text, fontsize=7, va="bottom", ha="left", color="#444444")


def save(fig: Figure, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=DPI)
    plt.close(fig)
    return path


# --- markdown ---------------------------------------------------------------------------------


def fmt(value: Any, digits: int = 1) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:,.{digits}f}"
    return f"{value:,}" if isinstance(value, int) and not isinstance(value, bool) else str(value)


def table(header: list[str], rows: list[list[Any]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(fmt(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


# --- (a) writes -----------------------------------------------------------------------------------


def writes_levels(data: dict[str, Any], path: Path) -> dict[str, list[dict[str, Any]]]:
    by_op: dict[str, list[dict[str, Any]]] = {}
    for level in need(data, "levels", path):
        by_op.setdefault(level["op"], []).append(level)
    if not by_op:
        raise ReportError(f"{path}: no levels")
    return {op: sorted(levels, key=lambda lv: lv["clients"]) for op, levels in by_op.items()}


def plot_writes(data: dict[str, Any], path: Path, out: Path) -> Path:
    by_op = writes_levels(data, path)
    fig, (rate, latency) = plt.subplots(1, 2, figsize=(11, 4.6))
    for n, (op, levels) in enumerate(by_op.items()):
        clients = [lv["clients"] for lv in levels]
        colour = f"C{n}"
        rate.plot(clients, [lv["writes_per_second"] for lv in levels], "o-", color=colour, label=op)
        latency.plot(clients, [lv["p50_ms"] for lv in levels], "o-", color=colour, label=f"{op} p50")
        latency.plot(clients, [lv["p99_ms"] for lv in levels], "s--", color=colour, label=f"{op} p99")
    ticks = sorted({lv["clients"] for levels in by_op.values() for lv in levels})
    for ax in (rate, latency):
        ax.set_xscale("log", base=2)
        ax.set_xticks(ticks, [str(t) for t in ticks])
        ax.set_xlabel("concurrent clients (closed loop)")
        ax.grid(True, alpha=0.3)
    rate.set_ylabel("writes/s")
    rate.set_ylim(bottom=0)
    rate.set_title("Write throughput")
    rate.legend(fontsize=8)
    latency.set_yscale("log")
    latency.set_ylabel("latency, ms (log)")
    latency.set_title("Write latency: p50 (solid), p99 (dashed)")
    latency.legend(fontsize=7, ncol=2)
    footer(fig, data, [lv for levels in by_op.values() for lv in levels])
    fig.tight_layout(rect=(0, 0.09, 1, 1))
    return save(fig, out / "writes.png")


def writes_section(data: dict[str, Any], path: Path) -> str:
    rows = [
        [op, lv["clients"], lv["writes_per_second"], lv["p50_ms"], lv["p99_ms"], lv["errors"], load_of(lv)]
        for op, levels in writes_levels(data, path).items()
        for lv in levels
    ]
    header = ["operation", "clients", "writes/s", "p50 ms", "p99 ms", "errors", "load average"]
    return "\n\n".join([provenance_md(data, data["levels"]), table(header, rows)])


def load_of(level: dict[str, Any]) -> str:
    load = level.get("load_average_at_start") or level.get("load_average")
    return f"{load[0]:.1f}" if load else "-"


def provenance_md(data: dict[str, Any], levels: list[dict[str, Any]] | None = None) -> str:
    first, command = provenance(data, levels).splitlines()
    return f"{first}.  \n`{command.removeprefix('command: ')}`"


# --- (b) feed reads -------------------------------------------------------------------------------


def feed_sweep(data: dict[str, Any], path: Path) -> dict[str, list[dict[str, Any]]]:
    sweep = need(data, "read_sweep", path)
    for name in ("by_follows", "by_clients"):
        if not sweep.get(name):
            raise ReportError(f"{path}: read_sweep has no {name!r} levels (bench.feed.run --only sweep)")
    return {name: sweep[name] for name in ("by_follows", "by_clients")}


def plot_feed(data: dict[str, Any], path: Path, out: Path) -> Path:
    sweep = feed_sweep(data, path)
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.6))
    panels = [
        ("by_follows", "follows", "pages the reader follows", "at {clients} clients"),
        ("by_clients", "clients", "concurrent clients (closed loop)", "at {follows} follows"),
    ]
    for ax, (name, key, label, fixed) in zip(axes, panels, strict=True):
        levels = sorted(sweep[name], key=lambda lv: lv[key])
        xs = [lv[key] for lv in levels]
        ax.plot(xs, [lv["p50_ms"] for lv in levels], "o-", color="C0", label="p50")
        ax.plot(xs, [lv["p99_ms"] for lv in levels], "s--", color="C3", label="p99")
        if all("api_cpu_ms_per_request" in lv for lv in levels):
            cpu = [lv["api_cpu_ms_per_request"] for lv in levels]
            ax.plot(xs, cpu, "d-.", color="black", label="API CPU per read")
        ax.set_xscale("log")
        ax.minorticks_off()
        ax.set_xticks(xs, [str(x) for x in xs])
        ax.set_xlabel(label)
        ax.set_ylabel("latency, ms")
        ax.set_ylim(0, max(lv["p99_ms"] for lv in levels) * 1.5)  # room for the legend above the lines
        ax.grid(True, alpha=0.3)
        rps = ax.twinx()
        rps.plot(xs, [lv["rps"] for lv in levels], "^:", color="C2", label="req/s")
        rps.set_ylabel("requests/s", color="C2")
        rps.set_ylim(0, max(lv["rps"] for lv in levels) * 1.5)
        handles = ax.get_legend_handles_labels()[0] + rps.get_legend_handles_labels()[0]
        ax.legend(handles, [h.get_label() for h in handles], fontsize=8, loc="upper left")
        ax.set_title(f"Feed read vs {key} ({fixed.format(**levels[0])})")
    footer(fig, data, [*sweep["by_follows"], *sweep["by_clients"]])
    fig.tight_layout(rect=(0, 0.09, 1, 1))
    return save(fig, out / "feed.png")


def feed_section(data: dict[str, Any], path: Path) -> str:
    sweep = feed_sweep(data, path)
    header = ["follows", "clients", "req/s", "p50 ms", "p99 ms", "API CPU ms/read", "errors", "load average"]
    parts = [provenance_md(data, [*sweep["by_follows"], *sweep["by_clients"]])]
    for name in ("by_follows", "by_clients"):
        keys = ("follows", "clients", "rps", "p50_ms", "p99_ms", "api_cpu_ms_per_request", "errors")
        rows = [[*(lv.get(k) for k in keys), load_of(lv)] for lv in sweep[name]]
        parts.append(table(header, rows))
    return "\n\n".join(parts)


# --- (c) lag under faults -------------------------------------------------------------------------


def fault_posts(data: dict[str, Any], path: Path) -> list[list[Any]]:
    posts = need(data, "posts", path)
    need(data, "faults", path)
    need(data, "summary", path)
    if not posts:
        raise ReportError(f"{path}: no posts were measured")
    return list(posts)


def plot_faults(data: dict[str, Any], path: Path, out: Path) -> Path:
    posts = fault_posts(data, path)
    fig, ax = plt.subplots(figsize=(11, 4.8))
    arrived = [(p[0], p[1]) for p in posts if p[1] is not None]
    ax.plot(
        [t for t, _ in arrived], [lag for _, lag in arrived], ".", ms=3, color="C0", label="lag of a post"
    )
    lost = [p[0] for p in posts if p[1] is None]
    top = max([lag for _, lag in arrived], default=1.0) * 1.5
    if lost:
        ax.plot(lost, [top] * len(lost), "x", color="red", label="never in every feed")
    for n, fault in enumerate(data["faults"]):
        start = fault.get("started", fault["at"])
        end = max(fault.get("back") or start, start + 0.5)
        ax.axvspan(start, end, color=f"C{n + 1}", alpha=0.25)
        ax.axvline(fault.get("killed") or start, color=f"C{n + 1}", lw=1)
        label = f"kill {fault['name']}" if fault["kind"] == "kill" else "broker: connections closed"
        ax.annotate(
            label,
            (start, 0.98),
            xycoords=("data", "axes fraction"),
            rotation=90,
            fontsize=8,
            va="top",
            ha="right",
        )
    settings = data.get("settings", {})
    ax.set_yscale("log")
    ax.set_xlabel(
        "seconds since the first post (shaded: from the fault to the instance healthy again; line: killed by)"
    )
    ax.set_ylabel("lag to every follower's feed, ms (log)")
    ax.set_title(
        f"Post -> {fault_feeds(data)} feeds, {settings.get('rate', '?')} posts/s,"
        f" faults marked{scaled(settings)}"
    )
    ax.grid(True, alpha=0.3, which="both")
    ax.legend(fontsize=8, loc="upper left")
    footer(fig, data)
    fig.tight_layout(rect=(0, 0.09, 1, 1))
    return save(fig, out / f"{path.stem}.png")


def fault_feeds(data: dict[str, Any]) -> str:
    feeds = data["summary"].get("feeds")
    return f"{feeds:,}" if isinstance(feeds, int) else "every"


def scaled(settings: dict[str, Any]) -> str:
    return f" (SCALE={settings['scale']})" if settings.get("scale") else ""


def worst_after(posts: list[list[Any]], start: float, end: float) -> float | None:
    lags = [p[1] for p in posts if start <= p[0] < end and p[1] is not None]
    return max(lags) if lags else None


def faults_section(data: dict[str, Any], path: Path) -> str:
    posts = fault_posts(data, path)
    faults = data["faults"]
    ends = [f.get("started", f["at"]) for f in faults[1:]] + [float("inf")]
    header = [
        "fault",
        "at s",
        "killed by s",
        "healthy again at s",
        "worst lag of the posts sent until the next fault, ms",
    ]
    rows = [
        [
            f"kill {f['name']}" if f["kind"] == "kill" else f"broker ({f.get('detail', '')})",
            f.get("started"),
            f.get("killed"),
            f.get("back"),
            worst_after(posts, f.get("started", f["at"]), end),
        ]
        for f, end in zip(faults, ends, strict=True)
    ]
    s = data["summary"]
    verdict = [
        ["posts acknowledged / committed", f"{s['acknowledged']:,} / {s['committed']:,}"],
        ["errors answered to the client", s["errors"]],
        [
            "posts in all feeds",
            f"{s['reached_every_feed']:,} of {s['acknowledged']:,} ({s['feeds']:,} feeds)",
        ],
        [
            "lag p50 / p99 / max, ms",
            f"{fmt(s['lag_p50_ms'])} / {fmt(s['lag_p99_ms'])} / {fmt(s['lag_max_ms'])}",
        ],
        [
            "statistics: posts / followers",
            f"{fmt(s['stats'].get('posts'))} / {fmt(s['stats'].get('followers'))}",
        ],
        ["exactly once (feeds, posts, statistics)", "yes" if s["exactly_once"] else "**no**"],
    ]
    settings = data.get("settings", {})
    title = f"**{path.name}**{scaled(settings)}"
    return "\n\n".join([title, provenance_md(data), table(header, rows), table(["", ""], verdict)])


# --- the whole report --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Input:
    """A benchmark's JSON file, the command that writes it, its plot and its part of the report."""

    file: str
    produced_by: str
    plot: Callable[[dict[str, Any], Path, Path], Path]
    section: Callable[[dict[str, Any], Path], str]


INPUTS = {
    "writes": Input(
        "writes.json",
        "python -m bench.writes.run --quick --json bench/results/writes.json",
        plot_writes,
        writes_section,
    ),
    "feed": Input(
        "feed.json",
        "python -m bench.feed.run --skip-dataset --only sweep --json bench/results/feed.json",
        plot_feed,
        feed_section,
    ),
}


def fault_files(results: Path) -> list[Path]:
    files = sorted(results.glob("faults*.json"))
    if not files:
        raise ReportError(f"no {results}/faults*.json: run `python -m bench.faults.run --json FILE` first")
    return files


def build(results: Path, plots: Path) -> tuple[dict[str, str], list[Path]]:
    """Every plot and every generated part of the report (name -> markdown)."""
    parts: dict[str, str] = {}
    pngs: list[Path] = []
    for name, source in INPUTS.items():
        path = results / source.file
        data = load(path, source.produced_by)
        pngs.append(source.plot(data, path, plots))
        parts[name] = source.section(data, path)
    fault_parts = []
    for path in fault_files(results):
        data = load(path, "python -m bench.faults.run")
        pngs.append(plot_faults(data, path, plots))
        fault_parts.append(faults_section(data, path) + f"\n\n![lag under faults](plots/{path.stem}.png)")
    parts["faults"] = "\n\n".join(fault_parts)
    return parts, pngs


def fill(report: str, parts: dict[str, str]) -> str:
    """The report with each generated part replaced; the markers must be there."""
    for name, text in parts.items():
        pattern = re.compile(rf"(<!-- generated:{name} -->\n).*?(<!-- end:{name} -->)", re.S)
        match = pattern.search(report)
        if match is None:
            raise ReportError(f"the report has no <!-- generated:{name} --> ... <!-- end:{name} --> part")
        report = report[: match.end(1)] + text + "\n" + report[match.start(2) :]
    return report


def rerun(names: list[str], results: Path) -> None:
    unknown = [name for name in names if name not in RERUN]
    if unknown:
        raise ReportError(f"--rerun: unknown benchmark {unknown[0]!r}; known: {', '.join(RERUN)}")
    for name in names:
        argv = [arg.format(results=results) for arg in RERUN[name]]
        command = ["flock", LOCK, sys.executable, *argv]
        print(f"[bench.report] {' '.join(command)} (load average {os.getloadavg()[0]:.1f})", flush=True)
        subprocess.run(command, cwd=ROOT, check=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--results", type=Path, default=BENCH / "results", help="the benchmarks' JSON")
    parser.add_argument("--plots", type=Path, default=BENCH / "plots", help="where the PNGs go")
    parser.add_argument("--report", type=Path, default=BENCH / "REPORT.md", help="the report to fill")
    parser.add_argument("--rerun", default="", help="benchmarks to run first: writes,feed,faults")
    args = parser.parse_args(argv)
    try:
        rerun([n for n in args.rerun.split(",") if n], args.results.resolve())
        parts, pngs = build(args.results, args.plots)
        if not args.report.exists():
            raise ReportError(f"{args.report} is missing (it holds the prose around the generated parts)")
        args.report.write_text(fill(args.report.read_text(), parts))
    except ReportError as exc:
        print(f"bench.report: {exc}", file=sys.stderr)
        return 2
    for png in pngs:
        print(f"[bench.report] {png}")
    print(f"[bench.report] {args.report}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
