"""Celery's part of the logs and the request id (connected by projections/celery_app.py).

- Logs: the worker and beat log JSON lines like every process (observability/logs.py) instead
  of Celery's plain format on the root logger (answering `setup_logging` stops Celery from
  configuring logging at all, hence from redirecting stdout too).
- Request id: a task published while one is bound (in an API request, or while the worker
  handles an event or runs a task caused by one) carries it in its `request_id` message header;
  the task runs with it bound, so its log lines (Celery's "succeeded" line included), the tasks
  it publishes and the events it appends carry it too.
"""

from __future__ import annotations

import os
from contextvars import Token
from typing import Any

from celery import signals

from observability.logs import configure_logging
from observability.trace import MESSAGE_HEADER, REQUEST_ID, current_request_id, valid_request_id

# The binding of each running task, undone when it ends (a task run eagerly inside a request
# must give the request its own id back).
_bindings: dict[str, Token[str | None]] = {}


def setup_logging(loglevel: Any = None, **kwargs: Any) -> None:
    """LOG_LEVEL if set, else the command line's --loglevel."""
    configure_logging(os.environ.get("LOG_LEVEL") or loglevel)


def pass_request_id(headers: dict[str, Any] | None = None, **kwargs: Any) -> None:
    """before_task_publish: the bound request id goes into the task message's headers."""
    request_id = current_request_id()
    if request_id is not None and headers is not None:
        headers.setdefault(MESSAGE_HEADER, request_id)


def bind_request_id(task_id: str, task: Any, **kwargs: Any) -> None:
    """task_prerun: bind the id the task's message carries (a worker makes each custom header an
    attribute of the task's request; a task applied in-process keeps them in `headers`)."""
    request = task.request
    headers = getattr(request, "headers", None) or {}
    carried = getattr(request, MESSAGE_HEADER, None) or headers.get(MESSAGE_HEADER)
    _bindings[task_id] = REQUEST_ID.set(valid_request_id(carried))


def unbind_request_id(task_id: str, **kwargs: Any) -> None:
    """task_postrun."""
    token = _bindings.pop(task_id, None)
    if token is not None:
        REQUEST_ID.reset(token)


def connect() -> None:
    signals.setup_logging.connect(setup_logging, weak=False)
    signals.before_task_publish.connect(pass_request_id, weak=False)
    signals.task_prerun.connect(bind_request_id, weak=False)
    signals.task_postrun.connect(unbind_request_id, weak=False)
