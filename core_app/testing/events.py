"""Reading the event log in tests (service tests assert the events they appended)."""

from __future__ import annotations

from typing import Any

from events.models import StoredEvent


def stored_events(type_: str | None = None) -> list[StoredEvent]:
    """The appended events (of one type), in log order."""
    stored = StoredEvent.objects.order_by("position")
    return list(stored.filter(type=type_) if type_ else stored)


def payloads(type_: str) -> list[dict[str, Any]]:
    """Payloads of the appended events of one type, in log order."""
    return [event.payload for event in stored_events(type_)]


def event_types() -> list[str]:
    """Types of every appended event, in log order."""
    return [event.type for event in stored_events()]
