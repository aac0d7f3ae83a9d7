"""Consumer-side helpers shared by both consumers (Celery projections, statistics service).

Free of Django. Messages are at-least-once: every consumer records the event ids it applied
in the same transaction (or conditional write) as the effect and skips what it has seen.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, TypeVar

from pydantic import ValidationError

from events.contracts import EventEnvelope, EventPayload, UnknownEventError

T = TypeVar("T")
Handler = Callable[[EventEnvelope, Any], None]


class PoisonMessageError(ValueError):
    """A message that can never be applied (malformed, or an unknown contract): dead-letter it."""


def decode_event(body: bytes) -> tuple[EventEnvelope, EventPayload]:
    """Parse a broker message body into its envelope and typed payload."""
    try:
        envelope = EventEnvelope.model_validate_json(body)
        return envelope, envelope.parse_payload()
    except (ValidationError, UnknownEventError, ValueError) as exc:
        raise PoisonMessageError(str(exc)) from exc


def delivery_count(headers: Mapping[str, Any] | None) -> int:
    """Previous deliveries of this message (quorum queues set `x-delivery-count`)."""
    if not headers:
        return 0
    try:
        return int(headers.get("x-delivery-count", 0))
    except (TypeError, ValueError):
        return 0


def redelivery_backoff(previous_deliveries: int, base: float = 0.2, cap: float = 5.0) -> float:
    """Seconds to wait before handing a failed message back: exponential, capped."""
    return float(min(cap, base * (2**previous_deliveries)))


def chunked(items: Sequence[T], size: int) -> Iterator[list[T]]:
    """Consecutive slices of at most `size` items."""
    for start in range(0, len(items), size):
        yield list(items[start : start + size])
