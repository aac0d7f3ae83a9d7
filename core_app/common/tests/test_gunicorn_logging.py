"""gunicorn's logger for the API: its error log in JSON lines, its access log still off unless asked for."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest
from gunicorn.config import Config

from core_app import gunicorn_conf
from core_app.common.gunicorn_logging import Logger


@pytest.fixture
def restored_logging() -> Iterator[None]:
    """gunicorn configures the process's logging; the test process gets its own back."""
    names = ("", "gunicorn.error", "gunicorn.access")
    saved = {n: (logging.getLogger(n).handlers[:], logging.getLogger(n).propagate) for n in names}
    yield
    for name, (handlers, propagate) in saved.items():
        logging.getLogger(name).handlers[:] = handlers
        logging.getLogger(name).propagate = propagate


def gunicorn_logger(**settings: object) -> Logger:
    cfg = Config()
    for name, value in {
        "logconfig_dict": gunicorn_conf.logconfig_dict,
        "logger_class": gunicorn_conf.logger_class,
        **settings,
    }.items():
        cfg.set(name, value)
    assert cfg.logger_class is Logger
    return Logger(cfg)


def test_the_access_log_is_off_unless_asked_for(restored_logging: None) -> None:
    assert gunicorn_logger().access_log_enabled is False
    assert gunicorn_logger(accesslog="-").access_log_enabled is True


def test_the_error_log_is_json_lines(restored_logging: None, monkeypatch: pytest.MonkeyPatch) -> None:
    stream = io.StringIO()
    monkeypatch.setattr("sys.stderr", stream)
    gunicorn_logger().error("Worker (pid:%s) was sent SIGKILL!", 42)
    [line] = [json.loads(raw) for raw in stream.getvalue().splitlines()]
    assert (line["level"], line["logger"], line["message"]) == (
        "ERROR",
        "gunicorn.error",
        "Worker (pid:42) was sent SIGKILL!",
    )
