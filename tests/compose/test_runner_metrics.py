"""The runner's metrics contract: PROCESS_NAME and METRICS_PORT per process, listed by status."""

from __future__ import annotations

import sys
from pathlib import Path
from types import ModuleType

import pytest

from observability.metrics_setup import DEFAULT_PORTS


def config(runner: ModuleType, tmp_path: Path, **env: str) -> object:
    return runner.Config.from_env({"INNOTTER_VAR_DIR": str(tmp_path), **env})


def test_the_default_ports_are_the_processes_own_defaults(runner: ModuleType, tmp_path: Path) -> None:
    cfg = config(runner, tmp_path)
    ports = {svc.name: runner.metrics_port(cfg, svc.name) for svc in runner.ALL_SERVICES}
    assert ports == {**DEFAULT_PORTS, "beat": None, "aws": None}


def test_the_base_moves_every_port_and_instances_are_ten_apart(runner: ModuleType, tmp_path: Path) -> None:
    cfg = config(runner, tmp_path, METRICS_PORT_BASE="41100")
    names = ("api", "relay", "worker", "stats-api", "stats-consumer")
    assert [runner.metrics_port(cfg, name) for name in names] == list(range(41101, 41106))
    assert runner.metrics_port(cfg, "relay-1") == 41102
    assert runner.metrics_port(cfg, "relay-2") == 41112
    assert runner.metrics_port(cfg, "stats-consumer-3") == 41125
    assert runner.metrics_port(cfg, "beat-2") is None


def test_each_process_gets_its_name_and_metrics_port(runner: ModuleType, tmp_path: Path) -> None:
    cfg = config(runner, tmp_path, METRICS_PORT_BASE="41100", METRICS_PORT="1")  # a stray one is replaced
    assert runner.process_env(cfg, "worker")["PROCESS_NAME"] == "worker"
    assert runner.process_env(cfg, "worker")["METRICS_PORT"] == "41103"
    assert runner.process_env(cfg, "relay-2")["METRICS_PORT"] == "41112"
    assert runner.process_env(cfg, "beat")["PROCESS_NAME"] == "beat"
    assert runner.process_env(cfg, "api")["METRICS_MULTIPROC_DIR"] == str(tmp_path / "run" / "metrics")


def test_a_started_process_sees_them(runner: ModuleType, tmp_path: Path) -> None:
    code = "import os; print('env', os.environ['PROCESS_NAME'], os.environ['METRICS_PORT'], flush=True)"
    svc = runner.Service("stats-api", lambda c: [sys.executable, "-c", code], runner.settled_check)
    cfg = config(runner, tmp_path, METRICS_PORT_BASE="41100")
    run = runner.spawn(svc, cfg)
    run.proc.wait(timeout=30)
    assert "env stats-api 41104" in cfg.log_path("stats-api").read_text()


def test_status_and_the_summary_list_the_metrics_urls(
    runner: ModuleType, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = config(runner, tmp_path, METRICS_PORT_BASE="41100")
    runner.cmd_status(cfg)
    status = [line.split() for line in capsys.readouterr().out.splitlines()]
    assert ["api", "stopped", "metrics", "http://127.0.0.1:41101/metrics"] in status
    assert ["stats-consumer", "stopped", "metrics", "http://127.0.0.1:41105/metrics"] in status
    assert ["beat", "stopped"] in status
    summary = runner.summary(cfg)
    for name, offset in runner.METRICS_OFFSETS.items():
        assert f"{name} http://127.0.0.1:{41100 + offset}/metrics" in summary
    assert "off (METRICS_ENABLED=0)" in runner.summary(config(runner, tmp_path, METRICS_ENABLED="0"))
    scaled = runner.summary(config(runner, tmp_path, METRICS_PORT_BASE="41100", SCALE="relay=2"))
    assert "relay-1 http://127.0.0.1:41102/metrics" in scaled
    assert "relay-2 http://127.0.0.1:41112/metrics" in scaled
