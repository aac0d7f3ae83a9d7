"""The local runner's mechanics: configuration, process groups, pid files, health waits, stop."""

from __future__ import annotations

import os
import signal
import socket
import stat
import subprocess
import sys
from pathlib import Path
from types import ModuleType

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
