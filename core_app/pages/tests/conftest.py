"""Helpers of the page tests (the owner/page fixtures live in the root conftest)."""

from __future__ import annotations

from core_app.testing.events import event_types, payloads
from core_app.testing.events import stored_events as events

__all__ = ["event_types", "events", "payloads"]
