"""Celery tasks carry the request id in a message header and run with it bound."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from celery import Celery
from celery.app.task import Context
from kombu import Connection

from observability import celery_signals
from observability.trace import bound, current_request_id

celery_signals.connect()  # connecting twice changes nothing (the same receivers)


@pytest.fixture
def memory_app() -> Iterator[Celery]:
    """A Celery app on kombu's in-memory transport (the signals are global: they see its tasks)."""
    app = Celery("trace-test", broker="memory://", set_as_current=False)
    app.conf.task_default_queue = "trace-test"

    @app.task(name="trace_test.noop")
    def noop() -> None:
        return None

    yield app


def published_headers(app: Celery, **publish: Any) -> dict[str, Any]:
    """Publish the test task and read its message back off the in-memory queue."""
    app.tasks["trace_test.noop"].apply_async(**publish)
    with Connection("memory://") as conn:
        message = conn.SimpleQueue("trace-test").get(timeout=5)
        message.ack()
        return dict(message.headers)


def test_a_task_published_under_a_request_carries_its_id(memory_app: Celery) -> None:
    with bound("req-42"):
        headers = published_headers(memory_app)
    assert headers["request_id"] == "req-42"


def test_a_task_published_outside_a_request_carries_none(memory_app: Celery) -> None:
    assert "request_id" not in published_headers(memory_app)


def test_an_explicit_header_is_kept(memory_app: Celery) -> None:
    with bound("req-bound"):
        headers = published_headers(memory_app, headers={"request_id": "req-given"})
    assert headers["request_id"] == "req-given"


class FakeTask:
    def __init__(self, request: Context) -> None:
        self.request = request


def test_a_running_task_binds_the_id_of_its_message_then_gives_the_outer_one_back() -> None:
    # A worker turns the message's headers into the task request's attributes.
    task = FakeTask(Context({"id": "t-1", "request_id": "req-7"}))
    with bound("outer"):
        celery_signals.bind_request_id("t-1", task)
        assert current_request_id() == "req-7"
        celery_signals.unbind_request_id("t-1")
        assert current_request_id() == "outer"


def test_a_task_applied_in_process_binds_the_id_of_its_headers() -> None:
    task = FakeTask(Context({"id": "t-2", "headers": {"request_id": "req-8"}}))
    celery_signals.bind_request_id("t-2", task)
    assert current_request_id() == "req-8"
    celery_signals.unbind_request_id("t-2")
    assert current_request_id() is None


def test_a_task_without_a_valid_id_runs_with_none_bound() -> None:
    task = FakeTask(Context({"id": "t-3", "request_id": "not valid"}))
    with bound("outer"):
        celery_signals.bind_request_id("t-3", task)
        assert current_request_id() is None
        celery_signals.unbind_request_id("t-3")
    celery_signals.unbind_request_id("never-started")  # a postrun without a prerun changes nothing
