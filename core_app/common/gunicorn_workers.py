"""gunicorn workers whose own error answers (a request line or headers over the limits, a
malformed request, a crash outside the application) have the API's JSON error body instead of
gunicorn's HTML page. Named by core_app.gunicorn_conf; imports no Django."""

from __future__ import annotations

import json
import socket
from http import HTTPStatus
from typing import Any

from gunicorn import util
from gunicorn.workers.gthread import ThreadWorker
from gunicorn.workers.sync import SyncWorker

# gunicorn's status -> the contract's code and message
ERRORS = {
    400: ("bad_request", "The request is malformed."),
    403: ("permission_denied", "The request is forbidden."),
    414: ("request_line_too_large", "The request line is too long."),
    417: ("expectation_failed", "The expectation cannot be met."),
    431: ("request_headers_too_large", "The request has too many header fields or one too long."),
    501: ("not_implemented", "The transfer coding is not supported."),
}
SERVER_ERROR = ("server_error", "Internal error.")


class _CapturedSocket:
    """Stands in for the client socket while gunicorn writes its HTML error, to learn its status."""

    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock
        self.written = b""

    def sendall(self, data: bytes) -> None:
        self.written += bytes(data)

    def send(self, data: bytes) -> int:
        self.written += bytes(data)
        return len(data)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sock, name)


def status_of(raw_response: bytes) -> int:
    """The status of an HTTP/1.x answer ("HTTP/1.1 431 Request Header ..."); 500 if unreadable."""
    try:
        return int(raw_response.split(b" ", 2)[1])
    except (IndexError, ValueError):
        return 500


def json_error_response(status: int) -> bytes:
    code, message = ERRORS.get(status, SERVER_ERROR)
    body = json.dumps({"error": {"code": code, "message": message, "details": {}}}).encode()
    head = (
        f"HTTP/1.1 {status} {HTTPStatus(status).phrase}\r\n"
        "Connection: close\r\n"
        "Content-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    return head.encode("latin-1") + body


class JSONErrorsMixin:
    def handle_error(self, req: Any, client: socket.socket, addr: Any, exc: BaseException) -> None:
        # gunicorn decides the status and logs (access log included); only the body is ours.
        captured = _CapturedSocket(client)
        super().handle_error(req, captured, addr, exc)  # type: ignore[misc]
        try:
            util.write_nonblock(client, json_error_response(status_of(captured.written)))
        except Exception:
            self.log.debug("Failed to send error message.")  # type: ignore[attr-defined]


class JSONErrorsSyncWorker(JSONErrorsMixin, SyncWorker):
    pass


class JSONErrorsThreadWorker(JSONErrorsMixin, ThreadWorker):
    pass
