"""JSON-lines logs for every process: one object per line on stderr, which the runner and the
containers collect (`var/log/<process>.log` under the runner).

Fields: `timestamp` (ISO 8601, UTC, milliseconds), `level`, `process` (PROCESS_NAME, set per
instance by the runner and the compose file), `logger`, `request_id` (when one is bound, see
observability/trace.py, or given with `extra=`), `event_id` and `event_type` (while an event is
handled, or given with `extra=`), `message`, then any other `extra=` fields, and `exc_info` with
the traceback when there is one. `LOG_FORMAT=text` gives a human format instead (development);
`LOG_LEVEL` (default INFO) is the level of every process.

Every process applies `logging_config()`: Django through LOGGING, gunicorn through
logconfig_dict, Celery from its `setup_logging` signal, the statistics API and consumer at
start. Free of Django.
"""

from __future__ import annotations

import logging
import logging.config
import os
import sys
import time
from typing import Any

from pythonjsonlogger.core import RESERVED_ATTRS
from pythonjsonlogger.orjson import OrjsonFormatter

from observability.trace import EVENT, REQUEST_ID

# Record attributes never copied as extra fields: ours (written first, in a fixed order), and
# objects other libraries attach (Django's `request`, uvicorn's `color_message`).
_NOT_EXTRA = {*RESERVED_ATTRS, "request_id", "event_id", "event_type", "request", "color_message"}
# Loggers that keep handlers of their own unless told otherwise: everything goes to the root's.
_PROPAGATED = ("django", "gunicorn.error", "uvicorn", "uvicorn.error", "uvicorn.access")
# The runner's health check of the Celery worker waits for this logger's "<name> ready." line.
_ALWAYS_INFO = ("celery.apps.worker",)
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"


def process_name() -> str:
    """PROCESS_NAME, else the program's name."""
    return os.environ.get("PROCESS_NAME") or os.path.basename(sys.argv[0] or "python")


def iso_utc(created: float) -> str:
    """A record's time as ISO 8601 in UTC, to the millisecond: 2026-01-31T12:00:00.123Z."""
    whole = int(created)
    return f"{time.strftime('%Y-%m-%dT%H:%M:%S', time.gmtime(whole))}.{int((created - whole) * 1000):03d}Z"


def trace_of(record: logging.LogRecord) -> tuple[str | None, str | None, str | None]:
    """The record's request id, event id and event type: its own (`extra=`), else the bound ones."""
    request_id = getattr(record, "request_id", None) or REQUEST_ID.get()
    if request_id is None:  # Django logs 4xx/5xx answers after the middleware has unbound the id
        request_id = getattr(getattr(record, "request", None), "request_id", None)
    event_id, event_type = getattr(record, "event_id", None), getattr(record, "event_type", None)
    if event_id is None and (event := EVENT.get()) is not None:
        event_id, event_type = event
    return request_id, event_id, event_type


class JsonFormatter(OrjsonFormatter):
    """python-json-logger's formatter with Innotter's fields, in a fixed order. orjson encodes:
    a line costs about what a plain-text one does (the standard json module adds half again)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("reserved_attrs", _NOT_EXTRA)
        super().__init__(*args, **kwargs)
        self.process_name = process_name()

    def add_fields(
        self, log_record: dict[str, Any], record: logging.LogRecord, message_dict: dict[str, Any]
    ) -> None:
        log_record["timestamp"] = iso_utc(record.created)
        log_record["level"] = record.levelname
        log_record["process"] = self.process_name
        log_record["logger"] = record.name
        request_id, event_id, event_type = trace_of(record)
        if request_id:
            log_record["request_id"] = request_id
        if event_id:
            log_record["event_id"] = str(event_id)
            log_record["event_type"] = event_type
        log_record["message"] = record.message
        super().add_fields(log_record, record, message_dict)  # the other extras, exc_info


class TextFormatter(logging.Formatter):
    """The human format (LOG_FORMAT=text): the usual line, then the request and event it is about."""

    def __init__(self, fmt: str | None = TEXT_FORMAT, *args: Any, **kwargs: Any) -> None:
        super().__init__(fmt, *args, **kwargs)

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        request_id, event_id, event_type = trace_of(record)
        context = [f"request_id={request_id}"] if request_id else []
        if event_id:
            context.append(f"event={event_type}:{event_id}")
        if not context:
            return line
        first, newline, rest = line.partition("\n")  # after the message, before a traceback
        return f"{first} [{' '.join(context)}]{newline}{rest}"


def log_level(level: str | int | None = None) -> int:
    """`level` (a name or a number), else LOG_LEVEL, else INFO."""
    value = level if level is not None else os.environ.get("LOG_LEVEL") or "INFO"
    if isinstance(value, int):
        return value
    number = logging.getLevelName(value.strip().upper())
    if not isinstance(number, int):
        raise ValueError(f"unknown log level {value!r}")
    return number


def log_format() -> str:
    """LOG_FORMAT: `json` (the default) or `text`."""
    value = (os.environ.get("LOG_FORMAT") or "json").strip().lower()
    if value not in ("json", "text"):
        raise ValueError(f"LOG_FORMAT must be json or text, not {value!r}")
    return value


def logging_config(level: str | int | None = None) -> dict[str, Any]:
    """The `logging.config.dictConfig` of every process: one stderr handler on the root logger."""
    number = log_level(level)
    formatter = JsonFormatter if log_format() == "json" else TextFormatter
    loggers: dict[str, dict[str, Any]] = {name: {"handlers": [], "propagate": True} for name in _PROPAGATED}
    if number > logging.INFO:
        loggers.update({name: {"level": "INFO"} for name in _ALWAYS_INFO})
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"innotter": {"()": formatter}},
        "handlers": {
            "stderr": {
                "class": "logging.StreamHandler",
                "formatter": "innotter",
                "stream": "ext://sys.stderr",
            }
        },
        "root": {"handlers": ["stderr"], "level": logging.getLevelName(number)},
        "loggers": loggers,
    }


def apply_config(config: dict[str, Any]) -> None:
    """dictConfig, and Python's warnings logged too (as lines of the `py.warnings` logger).

    Django's LOGGING_CONFIG: Django calls it with LOGGING."""
    logging.config.dictConfig(config)
    logging.captureWarnings(True)


def configure_logging(level: str | int | None = None) -> None:
    """Apply `logging_config` to this process."""
    apply_config(logging_config(level))
