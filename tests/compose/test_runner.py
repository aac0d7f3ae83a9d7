"""The local runner's mechanics: configuration, process groups, pid files, health waits, stop."""

from __future__ import annotations

import http.client
import os
import signal
import socket
import stat
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import boto3
import pytest

from tests.compose.conftest import ROOT


def config(runner: ModuleType, tmp_path: Path, **env: str) -> object:
    return runner.Config.from_env({"INNOTTER_VAR_DIR": str(tmp_path), **env})


def sleeper(runner: ModuleType, name: str = "sleeper", check: object = None) -> object:
    # a parent with a child in the same group, like a Celery worker and its pool
    code = (
        "import subprocess, sys, time; "
        "subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)']); "
        "print('ready.', flush=True); time.sleep(60)"
    )
    return runner.Service(
        name, lambda c: [sys.executable, "-c", code], check or runner.log_line_check("ready.")
    )


def test_configuration_comes_from_the_environment(runner: ModuleType, tmp_path: Path) -> None:
    cfg = config(runner, tmp_path, API_PORT="9100", STATS_PORT="9101", AWS_PORT="9102", POSTGRES_DB="x_db")
    env = cfg.child_env()
    assert (cfg.api_port, cfg.stats_port, cfg.aws_port, cfg.db_name) == (9100, 9101, 9102, "x_db")
    assert env["POSTGRES_DB"] == "x_db"
    assert env["AWS_ENDPOINT_URL"] == "http://127.0.0.1:9102"
    assert env["STATS_SERVICE_URL"] == "http://127.0.0.1:9101"
    assert env["APP_BASE_URL"] == "http://127.0.0.1:9100"
    assert env["JWT_PRIVATE_KEY_FILE"] == str(tmp_path / "keys" / "jwt_private.pem")
    assert cfg.pid_path("api") == tmp_path / "run" / "api" / "pid"
    assert cfg.log_path("api") == tmp_path / "log" / "api.log"


def test_defaults_are_the_documented_ports(runner: ModuleType, tmp_path: Path) -> None:
    cfg = config(runner, tmp_path)
    assert (cfg.api_port, cfg.stats_port, cfg.aws_port) == (8000, 8001, 5000)
    api = next(s for s in runner.SERVICES if s.name == "api")
    assert api.argv(cfg)[1:] == [
        "core_app.wsgi:application",
        "--config",
        "python:core_app.gunicorn_conf",  # API_WORKERS, API_WORKER_CLASS, request limits
        "--bind",
        "127.0.0.1:8000",
    ]


def test_the_stack_runs_production_settings_unless_asked(runner: ModuleType, tmp_path: Path) -> None:
    env = config(runner, tmp_path).child_env()
    assert "DJANGO_DEBUG" not in env  # the settings' default: off
    assert "DJANGO_SECRET_KEY" not in env  # the secret stays in its file
    assert config(runner, tmp_path, DJANGO_DEBUG="1").child_env()["DJANGO_DEBUG"] == "1"


def test_the_secret_key_is_generated_once_private_and_reused(runner: ModuleType, tmp_path: Path) -> None:
    env = config(runner, tmp_path).child_env()
    secret = Path(env["DJANGO_SECRET_KEY_FILE"])
    assert secret == tmp_path / "secret_key"
    assert stat.S_IMODE(secret.stat().st_mode) == 0o600
    key = secret.read_text().strip()
    assert len(key) >= 50
    again = config(runner, tmp_path).child_env()
    assert again["DJANGO_SECRET_KEY_FILE"] == str(secret) and secret.read_text().strip() == key
    assert [p.name for p in tmp_path.iterdir()] == ["secret_key"], "no draft left behind"


def test_a_configured_secret_is_used_and_none_is_generated(runner: ModuleType, tmp_path: Path) -> None:
    env = config(runner, tmp_path, DJANGO_SECRET_KEY="mine").child_env()
    assert env["DJANGO_SECRET_KEY"] == "mine" and "DJANGO_SECRET_KEY_FILE" not in env
    own_file = str(tmp_path / "elsewhere")
    assert (
        config(runner, tmp_path, DJANGO_SECRET_KEY_FILE=own_file).child_env()["DJANGO_SECRET_KEY_FILE"]
        == own_file
    )
    assert not (tmp_path / "secret_key").exists()


def test_the_secret_is_readable_by_the_settings(runner: ModuleType, tmp_path: Path) -> None:
    env = config(runner, tmp_path).child_env()
    code = "import core_app.settings as s; print(s.DEBUG, s.SECRET_KEY)"
    env = {**env, "DJANGO_SETTINGS_MODULE": "core_app.settings"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", (tmp_path / "secret_key").read_text().strip()]


def test_start_wait_and_stop_a_process_group(runner: ModuleType, tmp_path: Path) -> None:
    cfg, svc = config(runner, tmp_path), sleeper(runner)
    run = runner.spawn(svc, cfg)
    try:
        runner.wait_healthy(svc, cfg, run)
        assert runner.read_pid(cfg, "sleeper") == run.pid
        with pytest.raises(RuntimeError, match="already running"):
            runner.spawn(svc, cfg)
    finally:
        runner.stop_service(cfg, "sleeper")
    run.proc.wait(timeout=10)
    assert not runner.group_alive(run.pid), "the child in the group must be gone too"
    assert not cfg.pid_path("sleeper").exists()


def test_sigkill_takes_the_whole_group(runner: ModuleType, tmp_path: Path) -> None:
    cfg, svc = config(runner, tmp_path), sleeper(runner)
    run = runner.spawn(svc, cfg)
    runner.wait_healthy(svc, cfg, run)
    assert runner.signal_service(cfg, "sleeper", signal.SIGKILL)
    run.proc.wait(timeout=10)
    assert runner.wait_gone(run.pid, 10)
    assert runner.signal_service(cfg, "sleeper", signal.SIGKILL) is False
    runner.stop_service(cfg, "sleeper")


def test_a_process_that_dies_at_start_up_fails_with_its_log(runner: ModuleType, tmp_path: Path) -> None:
    cfg = config(runner, tmp_path)
    svc = runner.Service(
        "broken",
        lambda c: [sys.executable, "-c", "print('no config'); raise SystemExit(3)"],
        runner.settled_check,
    )
    run = runner.spawn(svc, cfg)
    with pytest.raises(RuntimeError, match=r"exited during start-up[\s\S]*no config"):
        runner.wait_healthy(svc, cfg, run)
    runner.stop_service(cfg, "broken")


def test_a_process_that_never_gets_healthy_times_out(runner: ModuleType, tmp_path: Path) -> None:
    cfg = config(runner, tmp_path, RUN_HEALTH_TIMEOUT="0.5")
    svc = sleeper(runner, "slow", check=lambda s, c, r: False)
    run = runner.spawn(svc, cfg)
    try:
        with pytest.raises(RuntimeError, match=r"not healthy after 0\.5s"):
            runner.wait_healthy(svc, cfg, run)
    finally:
        runner.stop_service(cfg, "slow")


def test_a_busy_port_is_refused_before_anything_starts(runner: ModuleType, tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        cfg = config(runner, tmp_path, API_PORT=str(port))
        with pytest.raises(RuntimeError, match=rf"port {port} \(API_PORT\) is in use"):
            runner.check_ports(cfg)


def test_setup_runs_migrations_before_the_admin(runner: ModuleType, tmp_path: Path) -> None:
    phases = [[name for name, _ in phase] for phase in runner.setup_phases(config(runner, tmp_path))]
    assert "migrate" in phases[0] and phases[-1] == ["admin"]
    assert {"keys", "topology", "aws", "stats-tables"} <= set(phases[0])


def test_stop_without_a_running_stack_is_harmless(runner: ModuleType, tmp_path: Path, capsys) -> None:
    cfg = config(runner, tmp_path)
    runner.stop_all(cfg)
    assert runner.cmd_status(cfg) == 1
    assert "stopped" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("args", "expected"),
    [([], ".venv/bin/python compose/local/runner.py up"), (["DEBUG=1"], "DJANGO_DEBUG=1 .venv/bin/python")],
)
def test_make_run_asks_for_debug_only_with_debug_set(args: list[str], expected: str) -> None:
    # Run as a top-level make even under `make test` (no "Leaving directory" lines from MAKELEVEL).
    unset = {"DEBUG", "DJANGO_DEBUG", "MAKELEVEL", "MAKEFLAGS", "MFLAGS"}
    env = {k: v for k, v in os.environ.items() if k not in unset}
    out = subprocess.run(
        ["make", "--no-print-directory", "-n", "run", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    assert out.stdout.splitlines()[-1].startswith(expected)


# --- several instances (SCALE) ----------------------------------------------------------------


def test_scale_comes_from_the_environment_and_names_each_instance(runner: ModuleType, tmp_path: Path) -> None:
    cfg = config(runner, tmp_path, SCALE="relay=2 worker=3,stats-consumer=2")
    assert cfg.scale == {"relay": 2, "worker": 3, "stats-consumer": 2}
    names = [inst.name for inst in runner.instances(cfg)]
    assert names == [
        "aws", "api", "relay-1", "relay-2", "worker-1", "worker-2", "worker-3",
        "beat", "stats-api", "stats-consumer-1", "stats-consumer-2",
    ]  # fmt: skip
    # one instance keeps the plain name, so nothing changes for a stack that is not scaled
    assert [inst.name for inst in runner.instances(config(runner, tmp_path))] == [
        svc.name for svc in runner.ALL_SERVICES
    ]
    assert config(runner, tmp_path, SCALE="relay=1").scale == {"relay": 1}
    assert "worker x3: each extra one is one more process for the Celery tasks" in runner.summary(cfg)


@pytest.mark.parametrize(
    ("item", "message"),
    [
        ("beat=2", "beat cannot run as 2 instances: beat is the scheduler"),
        ("api=3", "api cannot run as 3 instances: the API scales with API_WORKERS"),
        ("stats-api=2", "stats-api cannot run as 2 instances: it serves one port"),
        ("mailer=2", "no process 'mailer'; these scale: relay, worker, stats-consumer"),
        ("worker=0", "expected NAME=N with N >= 1"),
        ("worker", "expected NAME=N with N >= 1"),
    ],
)
def test_a_process_that_must_stay_one_is_refused(runner: ModuleType, item: str, message: str) -> None:
    with pytest.raises(runner.ScaleError, match=message):
        runner.parse_scale([item])


def test_each_instance_has_its_name_and_metrics_port(runner: ModuleType, tmp_path: Path) -> None:
    cfg = config(runner, tmp_path, SCALE="relay=2 worker=3", METRICS_PORT="1")
    envs = {inst.name: inst.env(cfg) for inst in runner.instances(cfg)}
    assert {name: env["PROCESS_NAME"] for name, env in envs.items()} == {name: name for name in envs}
    ports = {name: env.get("METRICS_PORT") for name, env in envs.items()}
    assert ports == {
        "aws": None, "api": "9101", "relay-1": "9102", "relay-2": "9112",
        "worker-1": "9103", "worker-2": "9113", "worker-3": "9123",
        "beat": None, "stats-api": "9104", "stats-consumer": "9105",
    }  # fmt: skip
    based = config(runner, tmp_path, SCALE="worker=3", METRICS_PORT_BASE="43000")
    assert runner.instance_named(based, "worker-3").env(based)["METRICS_PORT"] == "43023"


def test_scaled_workers_share_the_digest_send_rate(runner: ModuleType, tmp_path: Path) -> None:
    cfg = config(runner, tmp_path, SCALE="worker=3")
    processes = {
        inst.env(cfg).get("DIGEST_SENDER_PROCESSES") for inst in runner.instances(cfg) if inst.count > 1
    }
    assert processes == {str(3 * (os.cpu_count() or 1))}
    assert "DIGEST_SENDER_PROCESSES" not in runner.instance_named(config(runner, tmp_path), "worker").env(cfg)
    chosen = config(runner, tmp_path, SCALE="worker=3", DIGEST_SENDER_PROCESSES="2")
    assert runner.instance_named(chosen, "worker-1").env(chosen)["DIGEST_SENDER_PROCESSES"] == "2"


def test_celery_workers_get_distinct_node_names(runner: ModuleType, tmp_path: Path) -> None:
    cfg = config(runner, tmp_path, SCALE="worker=2")
    argvs = [inst.argv(cfg) for inst in runner.instances(cfg) if inst.service.name == "worker"]
    assert [argv[-2:] for argv in argvs] == [["-n", "worker-1@%h"], ["-n", "worker-2@%h"]]
    single = runner.instance_named(config(runner, tmp_path), "worker").argv(cfg)
    assert single[-2:] == ["-n", "worker@%h"]


def fake_relays(runner: ModuleType, cfg: object) -> list[object]:
    """Two sleepers standing in for relay-1 and relay-2 (same names, pid files and logs)."""
    return [runner.Instance(sleeper(runner, "relay"), number, 2) for number in (1, 2)]


def test_scaled_instances_have_their_own_pid_log_kill_and_stop(
    runner: ModuleType, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = config(runner, tmp_path, SCALE="relay=2")
    runner.remember_scale(cfg)
    runs = [runner.spawn(inst, cfg) for inst in fake_relays(runner, cfg)]
    try:
        for run in runs:
            runner.wait_healthy(runner.Service("relay", list, runner.log_line_check("ready.")), cfg, run)
        assert [runner.read_pid(cfg, name) for name in ("relay-1", "relay-2")] == [r.pid for r in runs]
        assert (tmp_path / "log" / "relay-2.log").read_text().startswith("ready.")
        # a later command reads the started scale, not SCALE
        started = runner.with_started_scale(config(runner, tmp_path))
        with pytest.raises(SystemExit, match="relay runs as 2 instances: name one of relay-1, relay-2"):
            runner.cmd_kill(started, "relay", "KILL")
        assert runner.cmd_kill(started, "relay-2", "KILL") == 0
        assert runner.group_alive(runs[0].pid) and runner.wait_gone(runs[1].pid, 10)
        capsys.readouterr()
        runner.cmd_status(started)
        status = capsys.readouterr().out
        assert f"relay-1           running pid {runs[0].pid}" in status
        assert "relay-2           stopped" in status
    finally:
        runner.stop_all(runner.with_started_scale(cfg))
    assert runner.wait_gone(runs[0].pid, 10)
    assert not list((tmp_path / "run").glob("*/pid")) and not (tmp_path / "run" / "scale").exists()


def test_stop_finds_instances_even_without_the_scale_note(runner: ModuleType, tmp_path: Path) -> None:
    cfg = config(runner, tmp_path, SCALE="relay=2")
    runs = [runner.spawn(inst, cfg) for inst in fake_relays(runner, cfg)]
    runner.stop_all(config(runner, tmp_path))  # no SCALE, no var/run/scale
    assert all(runner.wait_gone(run.pid, 10) for run in runs)


def test_a_refused_scale_starts_nothing(
    runner: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("INNOTTER_VAR_DIR", str(tmp_path))
    monkeypatch.setenv("SCALE", "worker=2")
    assert runner.main(["start", "--scale", "relay=2", "--scale", "beat=2"]) == 2
    assert "beat cannot run as 2 instances" in capsys.readouterr().out
    assert not tmp_path.exists() or not any(tmp_path.iterdir())


def test_make_passes_scale_to_the_runner() -> None:
    env = {k: v for k, v in os.environ.items() if k not in {"MAKELEVEL", "MAKEFLAGS", "MFLAGS", "DEBUG"}}
    out = subprocess.run(
        ["make", "--no-print-directory", "-n", "start", "SCALE=relay=2 worker=3"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    assert (
        out.stdout.splitlines()[-1]
        == 'SCALE="relay=2 worker=3" .venv/bin/python compose/local/runner.py start'
    )


def dynamodb_client(port: int) -> Any:
    """A client of its own (its own connections) to the emulator on `port`."""
    return boto3.client(
        "dynamodb",
        endpoint_url=f"http://127.0.0.1:{port}",
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


def test_the_aws_emulator_keeps_connections_and_serves_dynamodb(runner: ModuleType, tmp_path: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    cfg = config(runner, tmp_path, AWS_PORT=str(port))
    run = runner.spawn(runner.AWS, cfg)
    try:
        runner.wait_healthy(runner.AWS, cfg, run)
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        answers, sockets = [], []
        for _ in range(2):  # both on one socket: a server answering `Connection: close` fails this
            connection.request("GET", "/moto-api/")
            sockets.append(connection.sock)  # opened by the first request, reused by the second
            response = connection.getresponse()
            response.read()
            answers.append((response.status, response.getheader("Connection")))
        assert answers == [(200, "keep-alive"), (200, "keep-alive")]
        assert sockets[0] is not None and sockets[1] is sockets[0] and connection.sock is sockets[0]
        connection.close()
        dynamodb = dynamodb_client(port)
        dynamodb.create_table(
            TableName="t",
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        dynamodb.put_item(TableName="t", Item={"pk": {"S": "a"}, "n": {"N": "1"}})
        # one process: what one connection wrote, another reads
        fresh = dynamodb_client(port)
        assert fresh.get_item(TableName="t", Key={"pk": {"S": "a"}})["Item"]["n"] == {"N": "1"}
    finally:
        runner.stop_service(cfg, "aws")
    run.proc.wait(timeout=10)
