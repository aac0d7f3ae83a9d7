"""What a process settles before prometheus-client is imported: on/off, port, multiprocess directory."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from observability import metrics_setup
from observability.metrics_setup import (
    DEFAULT_PORTS,
    free_metrics_port_base,
    metrics_enabled,
    metrics_port,
    multiprocess_dir,
    prepare_multiprocess,
)

ROOT = Path(__file__).resolve().parents[2]


def test_the_default_ports_are_the_documented_ones() -> None:
    assert DEFAULT_PORTS == {
        "api": 9101,
        "relay": 9102,
        "worker": 9103,
        "stats-api": 9104,
        "stats-consumer": 9105,
    }
    assert metrics_port("relay", {}) == 9102
    assert metrics_port("relay", {"METRICS_PORT": ""}) == 9102
    assert metrics_port("relay", {"METRICS_PORT": "41112"}) == 41112


@pytest.mark.parametrize(
    ("raw", "enabled"), [("", True), ("1", True), ("0", False), ("off", False), ("False", False)]
)
def test_metrics_are_on_unless_turned_off(raw: str, enabled: bool) -> None:
    assert metrics_enabled({"METRICS_ENABLED": raw}) is enabled


def test_each_instance_has_its_own_directory(tmp_path: Path) -> None:
    env = {"METRICS_MULTIPROC_DIR": str(tmp_path)}
    first = multiprocess_dir("worker", {**env, "METRICS_PORT": "41103"})
    other_stack = multiprocess_dir("worker", {**env, "METRICS_PORT": "42103"})
    second_instance = multiprocess_dir("worker", {**env, "PROCESS_NAME": "worker-2", "METRICS_PORT": "41113"})
    assert len({first, other_stack, second_instance}) == 3
    assert first == tmp_path / f"innotter-metrics-{os.getuid()}" / "worker-41103"
    assert second_instance.name == "worker-2-41113"


def test_preparing_empties_the_directory_and_points_the_client_at_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("METRICS_MULTIPROC_DIR", str(tmp_path))
    monkeypatch.setenv("METRICS_PORT", "41103")
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", "")  # restored by monkeypatch afterwards
    directory = multiprocess_dir("worker")
    directory.mkdir(parents=True)
    (directory / "counter_123.db").write_bytes(b"a previous run")
    assert prepare_multiprocess("worker") == directory
    assert os.environ["PROMETHEUS_MULTIPROC_DIR"] == str(directory)
    assert list(directory.iterdir()) == []


def test_nothing_is_prepared_with_metrics_off(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("METRICS_ENABLED", "0")
    monkeypatch.setenv("METRICS_MULTIPROC_DIR", str(tmp_path))
    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR", raising=False)
    assert prepare_multiprocess("api") is None
    assert "PROMETHEUS_MULTIPROC_DIR" not in os.environ
    assert list(tmp_path.iterdir()) == []


def test_a_free_base_has_every_metrics_port_free() -> None:
    base = free_metrics_port_base(instances=2)
    for port in [*range(base + 1, base + 6), *range(base + 11, base + 16)]:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", port))


def test_a_taken_port_in_the_block_moves_the_base(monkeypatch: pytest.MonkeyPatch) -> None:
    taken = {40004}
    bases = iter([40000, 50000])

    class FakeSocket:
        def __enter__(self) -> FakeSocket:
            return self

        def __exit__(self, *args: object) -> None: ...

        def bind(self, address: tuple[str, int]) -> None:
            self.port = address[1] or next(bases)

        def getsockname(self) -> tuple[str, int]:
            return ("127.0.0.1", self.port)

    monkeypatch.setattr(metrics_setup.socket, "socket", FakeSocket)
    monkeypatch.setattr(metrics_setup, "_port_free", lambda port: port not in taken)
    assert free_metrics_port_base(instances=1) == 50000


@pytest.mark.parametrize(
    ("argv", "worker"),
    [
        (["/venv/bin/celery", "-A", "projections.celery_app", "worker", "--loglevel=INFO"], True),
        (["/venv/lib/python3.11/site-packages/celery/__main__.py", "-A", "x", "worker"], True),
        (["/venv/bin/celery", "-A", "projections.celery_app", "beat"], False),
        (["/venv/bin/pytest", "-k", "worker"], False),
        ([], False),
    ],
)
def test_only_a_celery_worker_takes_the_multiprocess_directory(argv: list[str], worker: bool) -> None:
    from projections.celery_app import started_as_worker

    assert started_as_worker(argv) is worker


def test_the_worker_sets_the_directory_before_prometheus_client_is_imported(tmp_path: Path) -> None:
    code = (
        "import sys; sys.argv = ['celery', '-A', 'projections.celery_app', 'worker']\n"
        "import projections.celery_app, django, os; django.setup(); import projections.tasks\n"
        "from prometheus_client import values\n"
        "print(os.environ['PROMETHEUS_MULTIPROC_DIR'], values.ValueClass.__name__)\n"
    )
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "core_app.settings_test",
        "METRICS_MULTIPROC_DIR": str(tmp_path),
        "METRICS_PORT": "41103",
    }
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    directory, value_class = result.stdout.split()
    assert directory == str(tmp_path / f"innotter-metrics-{os.getuid()}" / "worker-41103")
    assert value_class == "MmapedValue"  # shared files, not this process's memory
