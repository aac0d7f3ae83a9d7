"""The local runner's mechanics: configuration, process groups, pid files, health waits, stop."""

from __future__ import annotations

import signal
import socket
import sys
from pathlib import Path
from types import ModuleType

import pytest


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
    assert api.argv(cfg)[1:] == ["core_app.wsgi:application", "--bind", "127.0.0.1:8000", "--workers", "2"]


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
