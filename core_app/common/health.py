"""GET /health: 200 when PostgreSQL and RabbitMQ answer, 503 (with Retry-After) otherwise."""

from __future__ import annotations

import socket
import time
from urllib.parse import urlparse

from django.conf import settings
from django.db import connection
from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt

from core_app.common.exceptions import RETRY_AFTER_SECONDS, json_405

ALLOWED_METHODS = ["GET", "HEAD"]


def _database_ok() -> bool:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        return True
    except Exception:
        return False


def _broker_ok() -> bool:
    url = urlparse(settings.RABBITMQ_URL)
    try:
        with socket.create_connection((url.hostname or "127.0.0.1", url.port or 5672), timeout=1.0):
            return True
    except OSError:
        return False


@csrf_exempt  # no state changes here; a POST gets its 405, not a CSRF refusal
def health(request: HttpRequest) -> JsonResponse:
    if request.method not in ALLOWED_METHODS:
        return json_405(ALLOWED_METHODS)
    started = time.monotonic()
    checks = {"database": _database_ok(), "broker": _broker_ok()}
    ok = all(checks.values())
    body = {
        "status": "ok" if ok else "unavailable",
        "checks": {k: "ok" if v else "down" for k, v in checks.items()},
        "elapsed_ms": round((time.monotonic() - started) * 1000, 1),
    }
    response = JsonResponse(body, status=200 if ok else 503)
    if not ok:
        response["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return response
