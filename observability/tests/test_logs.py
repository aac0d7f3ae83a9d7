"""JSON-lines logs: the fields every process writes, the text opt-in, and the configuration."""

from __future__ import annotations

import io
import json
import logging
import re
import sys
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import pytest

from observability.logs import JsonFormatter, TextFormatter, configure_logging, iso_utc, logging_config
from observability.trace import bound

ISO_UTC = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")


def record(
    message: str = "hello %s", *args: Any, level: int = logging.INFO, **extra: Any
) -> logging.LogRecord:
    made = logging.LogRecord("innotter.test", level, __file__, 1, message, args or ("world",), None)
    made.__dict__.update(extra)
    return made


@pytest.fixture
def as_json(monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("PROCESS_NAME", "relay-2")
    formatter = JsonFormatter()
    return lambda rec: json.loads(formatter.format(rec))


def test_the_fields_in_order(as_json: Any) -> None:
    line = as_json(record())
    assert list(line) == ["timestamp", "level", "process", "logger", "message"]
    assert ISO_UTC.fullmatch(line["timestamp"])
    assert (line["level"], line["process"], line["logger"], line["message"]) == (
        "INFO",
        "relay-2",
        "innotter.test",
        "hello world",
    )


def test_the_timestamp_is_utc_to_the_millisecond() -> None:
    assert iso_utc(1_767_225_600.1239) == "2026-01-01T00:00:00.123Z"


def test_the_bound_request_id_and_event_are_written(as_json: Any) -> None:
    with bound("req-1", event_id="ev-1", event_type="post.created"):
        line = as_json(record())
    assert (line["request_id"], line["event_id"], line["event_type"]) == ("req-1", "ev-1", "post.created")
    assert list(line)[:7] == [
        "timestamp",
        "level",
        "process",
        "logger",
        "request_id",
        "event_id",
        "event_type",
    ]


def test_extra_fields_win_over_the_bound_ones_and_others_follow_the_message(as_json: Any) -> None:
    with bound("req-bound"):
        line = as_json(
            record(request_id="req-given", event_id="ev-2", event_type="post.liked", ses_message_id="m-1")
        )
    assert (line["request_id"], line["event_id"], line["event_type"]) == ("req-given", "ev-2", "post.liked")
    assert list(line)[-2:] == ["message", "ses_message_id"] and line["ses_message_id"] == "m-1"


def test_a_line_without_request_or_event_has_neither_field(as_json: Any) -> None:
    line = as_json(record(request_id=None, event_id=None))
    assert "request_id" not in line and "event_id" not in line and "event_type" not in line


def test_djangos_answer_lines_take_the_id_of_their_request(as_json: Any) -> None:
    """django.request logs 4xx/5xx answers after the middleware has unbound the id."""
    line = as_json(record(request=SimpleNamespace(request_id="req-9"), status_code=404))
    assert line["request_id"] == "req-9" and line["status_code"] == 404 and "request" not in line


def test_an_exception_is_written_with_its_traceback(as_json: Any) -> None:
    try:
        raise ValueError("boom")
    except ValueError:
        failed = record("failed: %s", "boom", level=logging.ERROR)
        failed.exc_info = sys.exc_info()
    line = as_json(failed)
    assert line["level"] == "ERROR" and "ValueError: boom" in line["exc_info"]
    assert "Traceback" in line["exc_info"]


def test_the_process_defaults_to_the_program(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PROCESS_NAME", raising=False)
    monkeypatch.setattr("sys.argv", ["/usr/bin/celery", "worker"])
    assert json.loads(JsonFormatter().format(record()))["process"] == "celery"


def test_the_text_format_names_the_request_and_event_after_the_message() -> None:
    with bound("req-1", event_id="ev-1", event_type="post.created"):
        line = TextFormatter().format(record())
    assert line.endswith(" INFO innotter.test hello world [request_id=req-1 event=post.created:ev-1]")
    assert TextFormatter().format(record()).endswith("hello world")


@pytest.fixture
def root_logging() -> Iterator[None]:
    """Whatever a test configures, the root logger gets its handlers and level back."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def test_configure_logging_writes_json_lines_at_log_level(
    monkeypatch: pytest.MonkeyPatch, root_logging: None
) -> None:
    monkeypatch.setenv("LOG_LEVEL", "warning")
    monkeypatch.delenv("LOG_FORMAT", raising=False)
    stream = io.StringIO()
    monkeypatch.setattr("sys.stderr", stream)
    configure_logging()
    logging.getLogger("innotter.test").info("not at WARNING")
    logging.getLogger("innotter.test").warning("at WARNING")
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert [line["message"] for line in lines] == ["at WARNING"]


def test_log_format_text_is_the_opt_in(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LOG_FORMAT", "text")
    assert logging_config()["formatters"]["innotter"]["()"] is TextFormatter
    monkeypatch.setenv("LOG_FORMAT", "json")
    assert logging_config()["formatters"]["innotter"]["()"] is JsonFormatter
    monkeypatch.setenv("LOG_FORMAT", "xml")
    with pytest.raises(ValueError, match="LOG_FORMAT"):
        logging_config()


def test_libraries_log_through_the_root_handler_only() -> None:
    loggers = logging_config("INFO")["loggers"]
    for name in ("django", "gunicorn.error", "uvicorn", "uvicorn.error", "uvicorn.access"):
        assert loggers[name] == {"handlers": [], "propagate": True}


def test_the_workers_ready_line_survives_a_quieter_level() -> None:
    """The runner's health check of the Celery worker waits for its INFO "<name> ready." line."""
    assert logging_config("WARNING")["loggers"]["celery.apps.worker"] == {"level": "INFO"}
    assert "celery.apps.worker" not in logging_config("DEBUG")["loggers"]


def test_an_unknown_level_is_refused() -> None:
    with pytest.raises(ValueError, match="log level"):
        logging_config("LOUD")
