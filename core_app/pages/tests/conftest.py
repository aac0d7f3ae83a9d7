"""Helpers of the page tests (the owner/page fixtures live in the root conftest)."""

from __future__ import annotations

from typing import Any

from core_app.testing.events import event_types, payloads
from core_app.testing.events import stored_events as events

__all__ = ["URL", "detail", "error_code", "event_types", "events", "payloads"]

URL = "/api/v1/pages/"


def detail(page: Any, suffix: str = "") -> str:
    """The URL of one page, or of one of its sub-resources."""
    return f"{URL}{page.pk}/{suffix}"


def error_code(response: Any) -> str:
    return str(response.json()["error"]["code"])
