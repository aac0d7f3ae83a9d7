"""Write benchmark (a script, not a test): posts, likes and follows through the whole pipeline.

    .venv/bin/python -m bench.writes.run [--quick] [--ops posts,likes-hot,likes-spread,follows]
        [--clients 1,4,16,64] [--seconds 10] [--keep-stack | --reuse-stack] [--profile posts:4]

Starts the whole system with the project's local runner (compose/local/runner.py: gunicorn with
DEBUG off, relay, Celery worker and beat, statistics API and consumer, moto's server) in its own
database, RabbitMQ virtual host, ports and var directory (var/bench-writes/<db>/), creates the
dataset through the services (client users with a page each; publishers' public pages with a few
posts, one of them the hot post), then for each operation and client count runs a closed loop in
a separate load process (bench/writes/loadgen.py) and waits until the pipeline has drained what
the level caused (relay caught up, every queue of the virtual host empty, unacknowledged
messages too). Per level it reports writes/s, p50/p99, errors, the drain time and the CPU
seconds per 1,000 writes of every process group, counted from the start of the level to the
end of its drain. Results: a table on stdout, JSON under var/bench-writes/ (or --json).

Operations: posts (each client posts on its own page, no followers), likes-hot (every client
likes and unlikes one post), likes-spread (like/unlike over the publishers' posts), follows
(follow/unfollow the publishers' public pages).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import socket
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.writes import profile as pyspy
from bench.writes import report
from bench.writes.loadgen import OPERATIONS
from bench.writes.meter import QUIET_SECONDS, CpuMeter, Drain
from bench.writes.stack import ROOT, StackConfig, api_workers, check_reusable, say
from bench.writes.stack import start as start_stack
from bench.writes.stack import stop as stop_stack

PUBLISHERS, PAGES_PER_PUBLISHER, POSTS_PER_PAGE = 8, 8, 4
PASSWORD = "bench-writes-Passw0rd"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--ops", default=",".join(OPERATIONS), help="comma-separated operations")
    parser.add_argument("--clients", default="1,4,16,64", help="comma-separated client counts")
    parser.add_argument("--seconds", type=float, default=10, help="measured seconds per level")
    parser.add_argument("--warmup", type=float, default=1, help="unmeasured seconds before each level")
    parser.add_argument("--idle-seconds", type=float, default=5, help="idle CPU measured before the levels")
    parser.add_argument(
        "--quick",
        action="store_true",
        help="5 s levels, 2 s idle: the whole default run in ~4 minutes (~3 with --no-confirm-drain)",
    )
    parser.add_argument(
        "--no-confirm-drain",
        action="store_true",
        help="trust the quiet consumers; skip the broker's count (5.5 s per level)",
    )
    stack = parser.add_mutually_exclusive_group()
    stack.add_argument("--keep-stack", action="store_true", help="leave the stack running at the end")
    stack.add_argument("--reuse-stack", action="store_true", help="use a stack left by --keep-stack")
    parser.add_argument("--stop-stack", action="store_true", help="only stop a kept stack, then exit")
    parser.add_argument("--db", default=os.environ.get("POSTGRES_DB") or "innotter_bench_writes")
    parser.add_argument("--vhost", help="RabbitMQ virtual host (default: the database name)")
    parser.add_argument("--api-port", type=int, default=int(os.environ.get("API_PORT") or 38000))
    parser.add_argument("--stats-port", type=int, help="default: API port + 1 (or $STATS_PORT)")
    parser.add_argument("--aws-port", type=int, help="default: API port + 2 (or $AWS_PORT)")
    parser.add_argument(
        "--api-workers", type=int, default=int(os.environ.get("API_WORKERS") or 2), help="gunicorn workers"
    )
    parser.add_argument("--api-worker-class", default="sync", help="gunicorn worker class (sync, gthread)")
    parser.add_argument("--api-threads", type=int, default=1, help="threads per gunicorn worker (gthread)")
    parser.add_argument("--log-level", help="LOG_LEVEL of the stack (default: the project's, INFO)")
    parser.add_argument("--scale", default="", help='the runner\'s SCALE, e.g. "relay=2 worker=3"')
    parser.add_argument(
        "--profile",
        default="",
        help="levels to profile with py-spy, e.g. posts:4,likes-hot:16 or all (raw stacks + summary)",
    )
    parser.add_argument("--profile-rate", type=int, default=100, help="py-spy samples per second")
    parser.add_argument(
        "--profile-active",
        action="store_true",
        help="sample every runnable thread, not only the one holding the GIL (py-spy without --gil)",
    )
    parser.add_argument("--json", type=Path, help="where the results go (default var/bench-writes/...)")
    parser.add_argument("--label", default="", help="a note stored with the results (e.g. 'before')")
    args = parser.parse_args(argv)
    if args.quick:
        args.seconds, args.idle_seconds = min(args.seconds, 5), min(args.idle_seconds, 2)
    args.ops = [op for op in args.ops.split(",") if op]
    unknown = set(args.ops) - set(OPERATIONS)
    if unknown:
        parser.error(f"unknown operations {sorted(unknown)}; known: {', '.join(OPERATIONS)}")
    args.clients = [int(n) for n in args.clients.split(",") if n]
    return args


def stack_config(args: argparse.Namespace) -> StackConfig:
    return StackConfig(
        db=args.db,
        vhost=args.vhost or args.db,
        api_port=args.api_port,
        stats_port=args.stats_port or int(os.environ.get("STATS_PORT") or args.api_port + 1),
        aws_port=args.aws_port or int(os.environ.get("AWS_PORT") or args.api_port + 2),
        api_workers=args.api_workers,
        api_worker_class=args.api_worker_class,
        api_threads=args.api_threads,
        log_level=args.log_level,
        scale=args.scale,
    )


# --- dataset (through the services, in this process) ---------------------------------------------


def setup_django(cfg: StackConfig) -> None:
    os.environ.update(cfg.env())
    os.environ["DJANGO_SETTINGS_MODULE"] = "core_app.settings"
    # Nobody logs in with these passwords (tokens are issued directly): a cheap hash saves minutes.
    os.environ["DJANGO_PASSWORD_HASHERS"] = "django.contrib.auth.hashers.MD5PasswordHasher"
    os.environ["LOG_LEVEL"] = "WARNING"
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()


def new_user(tag: str, role: str, n: int) -> Any:
    from core_app.users.services import user_register

    name = f"wb{tag}{role}{n}"
    return user_register(username=name, email=f"{name}@bench.local", password=PASSWORD)


def new_page(owner: Any, uuid: str) -> Any:
    from core_app.pages.services import page_create

    return page_create(owner=owner, name=f"Page {uuid}", uuid=uuid, description="Write benchmark page")


def create_publishers(tag: str) -> tuple[list[int], list[int], int]:
    """Public pages to follow, POSTS_PER_PAGE posts each; the first post is the hot one."""
    from core_app.posts.services import post_create

    pages, posts = [], []
    for p in range(PUBLISHERS):
        owner = new_user(tag, "p", p)
        for k in range(PAGES_PER_PUBLISHER):
            page = new_page(owner, f"wb{tag}-p{p}-{k}")
            pages.append(page.pk)
            for n in range(POSTS_PER_PAGE):
                post = post_create(
                    author=owner, page_id=page.pk, content=f"Publisher post {n} of {page.uuid}."
                )
                posts.append(post.pk)
    return pages, posts, posts[0]


def ensure_dataset(cfg: StackConfig, clients: int) -> dict[str, Any]:
    """The dataset of this database (kept in its var directory), grown to `clients` client users."""
    from django.db import connection

    path = cfg.var_dir / "dataset.json"
    data: dict[str, Any] = json.loads(path.read_text()) if path.exists() else {}
    if data.get("db_oid") != db_identity(cfg):
        data = {"db_oid": db_identity(cfg), "tag": datetime.now(UTC).strftime("%H%M%S"), "clients": []}
    started = time.monotonic()
    if "pages" not in data:
        data["pages"], data["posts"], data["hot_post"] = create_publishers(data["tag"])
    for n in range(len(data["clients"]), clients):
        user = new_user(data["tag"], "c", n)
        page = new_page(user, f"wb{data['tag']}-c{n}")
        data["clients"].append({"user_id": user.pk, "page": page.pk})
    connection.close()
    path.write_text(json.dumps(data, indent=1))
    say(
        f"dataset: {len(data['clients'])} client users with a page, {len(data['pages'])} publisher pages,"
        f" {len(data['posts'])} posts ({time.monotonic() - started:.1f}s)"
    )
    return data


def db_identity(cfg: StackConfig) -> str:
    """Changes when the database is recreated: a dataset file from an older database is stale."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT oid FROM pg_database WHERE datname = %s", [cfg.db])
        row = cursor.fetchone()
    return str(row[0]) if row else ""


def tokens(data: dict[str, Any], n: int) -> list[dict[str, Any]]:
    from core_app.common.auth.tokens import issue_access_token

    return [
        {"token": issue_access_token(user_id=c["user_id"], role="user")[0], "page": c["page"]}
        for c in data["clients"][:n]
    ]


# --- one level ------------------------------------------------------------------------------------


def run_loadgen(spec_path: Path, out_path: Path) -> tuple[dict[str, Any], float]:
    """The load process; its result and the CPU seconds it used (its own row, not the pipeline's)."""
    with open(out_path, "w") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "bench.writes.loadgen", "--spec", str(spec_path)], cwd=ROOT, stdout=out
        )
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise RuntimeError(f"load process failed ({proc.returncode})")
    return json.loads(out_path.read_text().strip().splitlines()[-1]), usage.ru_utime + usage.ru_stime


def run_level(
    args: argparse.Namespace, cfg: StackConfig, data: dict[str, Any], op: str, clients: int, drain: Drain
) -> dict[str, Any]:
    work = cfg.var_dir / "levels"
    work.mkdir(parents=True, exist_ok=True)
    spec = {
        "base": cfg.api_url,
        "op": op,
        "warmup": args.warmup,
        "seconds": args.seconds,
        "clients": tokens(data, clients),
        "hot_post": data["hot_post"],
        "posts": data["posts"],
        "pages": data["pages"],
    }
    spec_path = work / f"{op}-{clients}.spec.json"
    spec_path.write_text(json.dumps(spec))
    profiling = pyspy.wanted(args.profile, op, clients)
    load_before = os.getloadavg()
    dead_before = drain.dead_letters()
    db_before = drain.db_counters()
    meter = CpuMeter(cfg)
    meter.start()
    started = time.monotonic()
    recorders = (
        pyspy.start(
            cfg,
            profile_dir(args, op, clients),
            args.warmup + args.seconds,
            args.profile_rate,
            gil=not args.profile_active,
        )
        if profiling
        else []
    )
    load, loadgen_cpu = run_loadgen(spec_path, work / f"{op}-{clients}.out.json")
    load_seconds = time.monotonic() - started
    drain_marks, cpu = drain.wait(meter)  # CPU up to the drained point, not the confirmation
    meter.stop()
    meter.close()
    db_after = drain.db_counters()
    window = load_seconds + drain_marks["drained"] + QUIET_SECONDS  # what the CPU was counted over
    writes = max(1, load["writes_total"])
    per_1000 = {g: round(s * 1000 / writes, 2) for g, s in cpu.items()}
    if recorders:
        pyspy.finish(recorders, per_1000)  # CPU seconds per 1,000 writes = ms per write
    pipeline = sum(cpu.values())
    result = {
        "op": op,
        "clients": clients,
        **load,
        "load_seconds": round(load_seconds, 2),
        "drain_seconds": drain_marks["drained"],
        "drain_marks": drain_marks,
        "window_seconds": round(window, 2),
        "cpu_seconds": cpu,
        "cpu_seconds_per_1000_writes": per_1000,
        "pipeline_cpu_ms_per_write": round(pipeline * 1000 / writes, 1),
        "pipeline_cpu_cores": round(pipeline / window, 2),
        "loadgen_cpu_seconds": round(loadgen_cpu, 2),
        "dead_letters": drain.dead_letters() - dead_before,
        # Whole database, every process (statistics are flushed by backends: approximate).
        "db_per_write": {k: round((db_after[k] - db_before[k]) / writes, 2) for k in db_after},
        "load_average_at_start": [round(x, 2) for x in load_before],
        "profiled": profiling,
    }
    say(report.level_line(result))
    return result


def profile_dir(args: argparse.Namespace, op: str, clients: int) -> Path:
    base = args.json.parent if args.json else ROOT / "var" / "bench-writes"
    return base / f"profile-{op}-{clients}"


def measure_idle(cfg: StackConfig, seconds: float) -> dict[str, float]:
    """CPU share of a core each group uses with no load: what every level's window carries anyway."""
    meter = CpuMeter(cfg)
    meter.start()
    time.sleep(seconds)
    cpu = meter.stop()
    meter.close()
    return {g: round(s / seconds * 100, 1) for g, s in cpu.items()}


def machine() -> dict[str, Any]:
    cpu_model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu_model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "host": socket.gethostname(),
        "cpus": os.cpu_count(),
        "cpu_model": cpu_model,
        "python": platform.python_version(),
        "kernel": platform.release(),
    }


def git_commit() -> str:
    result = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True)
    return result.stdout.strip()


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    cfg = stack_config(args)
    if args.stop_stack:
        stop_stack(cfg)
        return
    if args.reuse_stack:
        check_reusable(cfg)
    else:
        start_stack(cfg)
    results: dict[str, Any] = {"levels": []}
    try:
        run_all(args, cfg, results)
    except BaseException as exc:
        results["error"] = repr(exc)  # what was measured is kept: the levels before the failure
        raise
    finally:
        if not (args.keep_stack or args.reuse_stack):
            say("stopping the stack")
            stop_stack(cfg)
        if results["levels"]:
            write_results(args, results)


def write_results(args: argparse.Namespace, results: dict[str, Any]) -> None:
    stamp = results["started_at"].replace(":", "")
    out = args.json or ROOT / "var" / "bench-writes" / f"results-{stamp}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=1) + "\n")
    print(report.tables(results))
    say(f"results in {out}")


def run_all(args: argparse.Namespace, cfg: StackConfig, results: dict[str, Any]) -> None:
    """Every level; `results` fills as they go (so a failure keeps what was measured)."""
    setup_django(cfg)
    from django.conf import settings

    data = ensure_dataset(cfg, max(args.clients))
    queues = [settings.EVENTS_QUEUE_PROJECTIONS, settings.EVENTS_QUEUE_STATS, settings.CELERY_TASK_QUEUE]
    drain = Drain(cfg, settings.RELAY_NAME, queues, confirm=not args.no_confirm_drain)
    meter = CpuMeter(cfg)
    meter.start()
    say(f"dataset drained through the pipeline: {drain.wait(meter)[0]}")
    meter.stop()
    meter.close()
    results |= {
        "label": args.label,
        "started_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "command": " ".join([Path(sys.executable).name, "-m", "bench.writes.run", *(sys.argv[1:])]),
        "commit": git_commit(),
        "machine": machine(),
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
        "settings": {
            "seconds": args.seconds,
            "warmup": args.warmup,
            "api_workers": len(api_workers(cfg)),
            "api_gunicorn_args": cfg.gunicorn_cmd_args(),
            "log_level": args.log_level or "INFO (project default)",
            "db": cfg.db,
            "vhost": cfg.vhost,
            "scale": cfg.scale,
        },
    }
    results["idle_cpu_percent"] = measure_idle(cfg, args.idle_seconds)
    say(f"idle CPU (% of a core): {results['idle_cpu_percent']}")
    try:
        for op in args.ops:
            for clients in args.clients:
                results["levels"].append(run_level(args, cfg, data, op, clients, drain))
    finally:
        drain.close()
        results["finished_at"] = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        results["rusage_self_cpu_seconds"] = round(
            resource.getrusage(resource.RUSAGE_SELF).ru_utime
            + resource.getrusage(resource.RUSAGE_SELF).ru_stime,
            1,
        )


if __name__ == "__main__":
    main()
