"""py-spy profiles of every Python process of the stack during a level, and their summaries.

Each service is recorded with `py-spy record --pid <leader> --subprocesses --nonblocking --gil
--nolineno --format raw`: collapsed stacks, one line per stack (`frame;frame;... count`), one
file per service, kept gzipped (<service>.txt.gz: `zcat` it into https://www.speedscope.app
or flamegraph.pl), an SVG flame graph drawn from it (<service>.svg, bench/writes/flame.py) and
summary.md, the top frames per service in shares of the samples and in milliseconds of CPU per
write (the shares times the CPU the service used per write, measured from /proc). Summarize a
directory again with `python -m bench.writes.profile DIR [RESULTS.json OP CLIENTS]`.
"""

from __future__ import annotations

import gzip
import json
import re
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from bench.writes.stack import ROOT, SERVICES, StackConfig, leader_pid, say

PY_SPY = ROOT / ".venv" / "bin" / "py-spy"
FRAME = re.compile(r"^(?P<func>.*) \((?P<file>[^()]*?)(?::(?P<line>\d+))?\)$")


def wanted(spec: str, op: str, clients: int) -> bool:
    items = {s.strip() for s in spec.split(",") if s.strip()}
    return "all" in items or f"{op}:{clients}" in items or op in items


@dataclass
class Recorder:
    service: str
    path: Path
    proc: subprocess.Popen[bytes]


def start(cfg: StackConfig, out_dir: Path, seconds: float, rate: int, gil: bool = True) -> list[Recorder]:
    """One py-spy per service, for `seconds`. `gil`: only samples of a thread holding the GIL,
    i.e. running Python; without it py-spy samples every thread the OS counts as runnable, which
    on an oversubscribed machine also counts threads woken up (from a database or socket wait)
    but still waiting for a core, and charges that wait to the frame they woke up in."""
    out_dir.mkdir(parents=True, exist_ok=True)
    for stale in [*out_dir.glob("*.txt"), *out_dir.glob("*.txt.gz"), *out_dir.glob("*.svg")]:
        stale.unlink()  # a directory used before: its stacks would be summarized with the new ones
    recorders = []
    for service in SERVICES:
        pid = leader_pid(cfg, service)
        if pid is None:
            continue
        path = out_dir / f"{service}.txt"
        argv = [
            str(PY_SPY),
            "record",
            "--pid",
            str(pid),
            "--subprocesses",
            "--nonblocking",
            "--format",
            "raw",
        ]
        argv += ["--rate", str(rate), "--duration", str(max(1, round(seconds))), "--output", str(path)]
        argv += ["--nolineno", *(["--gil"] if gil else [])]
        log = open(out_dir / f"{service}.py-spy.log", "wb")  # noqa: SIM115 (removed in finish())
        recorders.append(
            Recorder(service, path, subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT))
        )
    say(f"py-spy recording {len(recorders)} services into {out_dir}")
    return recorders


def finish(recorders: list[Recorder], cpu_ms_per_write: dict[str, float]) -> None:
    """Wait for the recorders, draw the flame graphs, write summary.md. `cpu_ms_per_write`: the
    CPU each service used per write in the level, measured from /proc, to turn shares into ms."""
    for r in recorders:
        try:
            r.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            r.proc.terminate()
            r.proc.wait()
    for r in recorders:
        log = r.path.with_name(f"{r.service}.py-spy.log")
        if r.proc.returncode == 0:
            log.unlink(missing_ok=True)
        else:
            tail = log.read_text(errors="replace")[-300:]
            say(f"py-spy on {r.service} failed ({r.proc.returncode}): {tail}")
    out_dir = recorders[0].path.parent
    from bench.writes import flame

    for r in recorders:
        if r.path.exists():
            flame.write_svg(r.path, r.path.with_suffix(".svg"), title=f"{r.service} ({out_dir.name})")
    summary = summarize_dir(out_dir, cpu_ms_per_write)
    (out_dir / "summary.md").write_text(summary)
    for r in recorders:  # the stacks repeat long prefixes: a tenth of the size compressed
        if r.path.exists():
            r.path.with_suffix(".txt.gz").write_bytes(gzip.compress(r.path.read_bytes()))
            r.path.unlink()
    say(f"profile summary in {out_dir / 'summary.md'}")


# --- reading collapsed stacks ----------------------------------------------------------------------


def service_name(path: Path) -> str:
    return path.name.split(".", 1)[0]


def parse(path: Path) -> list[tuple[list[str], int]]:
    raw = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
    stacks = []
    for line in raw.decode(errors="replace").splitlines():
        stack, _, count = line.rpartition(" ")
        if stack and count.isdigit():
            stacks.append((stack.split(";"), int(count)))
    return stacks


# py-spy writes paths relative to the process's sys.path entry: "core_app/posts/services.py",
# "django/db/models/query.py", "socket.py". The project's are those under its own packages.
PROJECT = {p.name for p in ROOT.iterdir() if (p / "__init__.py").exists()} | {"manage.py"}
TWO_LEVEL_OWNERS = {"django", "rest_framework", "celery", "kombu", "moto", *PROJECT}


def split_frame(frame: str) -> tuple[str, list[str]]:
    m = FRAME.match(frame)
    if not m:
        return frame, []
    file = m["file"]
    for marker in ("site-packages/", "/lib/python3"):  # absolute paths, should py-spy give them
        if marker in file:
            file = (
                file.split(marker, 1)[1].split("/", 1)[-1]
                if marker != "site-packages/"
                else file.split(marker, 1)[1]
            )
    return m["func"], file.removeprefix(str(ROOT) + "/").split("/")


def short(frame: str) -> str:
    """`func (path:line)` -> `func (path)`: one entry per function, whatever the line."""
    func, parts = split_frame(frame)
    return f"{func} ({'/'.join(parts)})" if parts else func


def package(frame: str) -> str:
    """Who owns the frame: a project area (core_app/posts) or a library (django/db, psycopg...)."""
    _, parts = split_frame(frame)
    if not parts:
        return "other"
    if parts[:2] == ["django", "db"] and len(parts) > 3:
        return "/".join(parts[:3])  # django/db/models (the ORM) apart from django/db/backends
    if parts[0] in TWO_LEVEL_OWNERS and len(parts) > 2:
        return "/".join(parts[:2])
    return parts[0].removesuffix(".py")


def is_project(frame: str) -> bool:
    _, parts = split_frame(frame)
    return bool(parts) and parts[0] in PROJECT


def is_process_frame(frame: str) -> bool:
    return frame.startswith("process ")


@dataclass
class Tally:
    total: int = 0
    self_time: Counter[str] = field(default_factory=Counter)
    project: Counter[str] = field(default_factory=Counter)
    owners: Counter[str] = field(default_factory=Counter)
    owners_inclusive: Counter[str] = field(default_factory=Counter)
    processes: Counter[str] = field(default_factory=Counter)


def tally(path: Path) -> Tally:
    t = Tally()
    for frames, count in parse(path):
        if frames and is_process_frame(frames[0]):
            t.processes[frames[0][:90]] += count
        frames = [f for f in frames if not is_process_frame(f)]
        if not frames:
            continue
        t.total += count
        t.self_time[short(frames[-1])] += count
        t.owners[package(frames[-1])] += count
        for frame in {short(f) for f in frames if is_project(f)}:
            t.project[frame] += count
        for owner in {package(f) for f in frames}:
            t.owners_inclusive[owner] += count
    return t


def summarize(path: Path, cpu_ms: float | None = None, top: int = 12) -> str:
    """Top frames of one service: self time (leaf frames), owners of the leaf frames, and the
    project's own frames inclusive of what they call, as shares of the samples; given the CPU
    the service used per write (`cpu_ms`), also as milliseconds of CPU per write. (Sample
    counts are not CPU time on a busy machine: a thread holding the GIL but waiting for a
    core is sampled too, so shares are kept and scaled by the measured CPU.)"""
    t = tally(path)
    if not t.total:
        return f"### {service_name(path)}\n\nno samples\n"

    def share(n: int) -> str:
        ms = f" ({n / t.total * cpu_ms:.2f} ms)" if cpu_ms else ""
        return f"{n * 100 / t.total:.1f}%{ms}"

    cpu = f", {cpu_ms:.2f} ms of CPU per write (measured)" if cpu_ms else ""
    lines = [f"### {service_name(path)}", "", f"{t.total} samples{cpu}", ""]
    if len(t.processes) > 1:
        lines += ["Processes: " + "; ".join(f"`{p}` {share(n)}" for p, n in t.processes.most_common(6)), ""]
    owners = ", ".join(f"{o} {n * 100 / t.total:.0f}%" for o, n in t.owners.most_common(10))
    lines += [f"Leaf frames by owner: {owners}", ""]
    below = [(o, n) for o, n in t.owners_inclusive.most_common() if n < t.total * 0.95][:12]
    lines += ["Below each owner (inclusive, owners on every stack left out): "]
    lines[-1] += ", ".join(f"{o} {share(n)}" for o, n in below)
    lines += ["", "| self | frame |", "|---:|---|"]
    lines += [f"| {share(n)} | `{f}` |" for f, n in t.self_time.most_common(top)]
    if t.project:
        lines += ["", "| inclusive | project frame |", "|---:|---|"]
        lines += [f"| {share(n)} | `{f}` |" for f, n in t.project.most_common(top)]
    return "\n".join(lines) + "\n"


def summarize_dir(directory: Path, cpu_ms_per_write: dict[str, float] | None = None) -> str:
    cpu = cpu_ms_per_write or {}
    files = sorted(
        [*directory.glob("*.txt"), *directory.glob("*.txt.gz")],
        key=lambda p: -cpu.get(service_name(p), 0) - tally(p).total / 1e9,
    )
    head = f"# py-spy profile: {directory.name}"
    return head + "\n\n" + "\n".join(summarize(p, cpu.get(service_name(p))) for p in files)


if __name__ == "__main__":
    # python -m bench.writes.profile DIR [RESULTS.json OP CLIENTS]: ms per write from that level
    cpu_ms: dict[str, float] = {}
    if len(sys.argv) == 5:
        results = json.loads(Path(sys.argv[2]).read_text())
        level = next(
            r for r in results["levels"] if (r["op"], r["clients"]) == (sys.argv[3], int(sys.argv[4]))
        )
        cpu_ms = level["cpu_seconds_per_1000_writes"]  # seconds per 1,000 = ms per write
    print(summarize_dir(Path(sys.argv[1]), cpu_ms))
