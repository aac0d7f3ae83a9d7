"""One X-Request-ID followed through the whole stack by its log lines alone.

A post created with a chosen id; a follower who wants an e-mail per post. The id must come back
on the answer and then turn up, as JSON log lines, in the logs of the api (the appended event),
the relay (the published batch), the worker (the event applied and the e-mail sent, with SES's
message id) and the statistics consumer (the event folded): what `grep <id> var/log/*.log`
shows an operator.
"""

from __future__ import annotations

import json
import secrets
from typing import Any

import httpx
import pytest

from tests.e2e.conftest import Stack
from tests.e2e.test_scenario import PASSWORD, Client, eventually, register, sent_emails

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(600)]


def json_lines(stack: Stack, process: str) -> list[dict[str, Any]]:
    """The JSON lines of a process's log (var/log/<process>.log); other lines (a banner) skipped."""
    lines = []
    for raw in (stack.var_dir / "log" / f"{process}.log").read_text(errors="replace").splitlines():
        if raw.startswith("{"):
            lines.append(json.loads(raw))
    return lines


def lines_of(stack: Stack, process: str, request_id: str) -> list[dict[str, Any]]:
    return [
        line
        for line in json_lines(stack, process)
        if line.get("request_id") == request_id or request_id in line.get("request_ids", ())
    ]


def find_line(stack: Stack, process: str, request_id: str, **fields: Any) -> dict[str, Any]:
    """Await the line of `process` that carries `request_id` and has `fields`."""

    def probe() -> dict[str, Any] | None:
        for line in lines_of(stack, process, request_id):
            if all(line.get(key) == value for key, value in fields.items()):
                return line
        return None

    return eventually(probe, f"a line of {process} with request id {request_id} and {fields}")


def test_one_request_id_is_found_in_the_logs_of_every_process_it_went_through(stack: Stack) -> None:
    tag = secrets.token_hex(3)
    author = Client(stack, register(stack, f"tracer{tag}"), PASSWORD)
    follower = Client(stack, register(stack, f"reader{tag}"), PASSWORD)
    page = author.page(f"traced-{tag}")
    follower.expect("POST", f"/api/v1/pages/{page['id']}/follow/", 200)  # e-mail per post: the default

    request_id = f"e2e-trace-{tag}"
    response = author.http.post(
        "/api/v1/posts/",
        json={"page": page["id"], "content": f"traced-{tag}"},
        headers={"X-Request-ID": request_id},
    )
    assert response.status_code == 201, response.text
    assert response.headers["X-Request-ID"] == request_id
    post_id = response.json()["id"]

    appended = find_line(stack, "api", request_id, event_type="post.created")
    event_id = appended["event_id"]
    assert appended["process"] == "api" and appended["level"] == "INFO"
    relayed = find_line(stack, "relay", request_id)
    assert relayed["process"] == "relay" and relayed["last_position"] >= appended["position"]
    find_line(stack, "worker", request_id, event_id=event_id, message="event post.created applied")
    sent = find_line(stack, "worker", request_id, post_id=post_id, user_id=follower.me["id"])
    assert sent["message"] == f"e-mail of post {post_id} sent to user {follower.me['id']}"
    assert sent["ses_message_id"] in {message.get("id") for message in sent_emails(stack)}
    folded = find_line(stack, "stats-consumer", request_id, event_id=event_id)
    assert folded["message"] == "event post.created folded"

    for process in ("api", "relay", "worker", "stats-consumer"):
        for line in lines_of(stack, process, request_id):
            assert {"timestamp", "level", "process", "logger", "message"} <= set(line), line
            assert line["timestamp"].endswith("Z") and line["process"] == process


def test_an_answer_without_an_id_gets_a_fresh_one(stack: Stack) -> None:
    first, second = (httpx.get(f"{stack.api}/health", timeout=15) for _ in range(2))
    assert first.headers["X-Request-ID"] != second.headers["X-Request-ID"]
    error = httpx.get(f"{stack.api}/api/v1/no-such-thing/", headers={"X-Request-ID": "e2e-404"}, timeout=15)
    assert error.status_code == 404 and error.headers["X-Request-ID"] == "e2e-404"
