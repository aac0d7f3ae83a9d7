"""Applies raw events from the projections queue: the feed projection, then e-mail planning.

Runs inside the Celery worker (see `EventConsumerStep`), one message at a time, so events are
applied in log order. Each projection records the event in the transaction of its effect; the
message is acked only after both, so a crash means a redelivery, and a redelivery changes
nothing. Fan-out and e-mail tasks are published before that transaction commits: a crash in
between publishes them again, which is harmless because the tasks are idempotent.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from typing import Any

from django.db import close_old_connections

from events.consumer import PoisonMessageError, decode_event, delivery_count, redelivery_backoff
from events.contracts import PostCreated
from projections import notifications
from projections.feed.handlers import apply_feed_event
from projections.feed.work import FeedWork

logger = logging.getLogger(__name__)

EmailQueue = Callable[[int, Sequence[int]], None]


def process_event(body: bytes, work: FeedWork, queue_emails: EmailQueue) -> None:
    """Apply one event message to every projection (each at most once)."""
    envelope, payload = decode_event(body)
    apply_feed_event(envelope, payload, work)
    if isinstance(payload, PostCreated):
        notifications.on_post_created(payload, envelope, queue_emails)


def on_event_message(message: Any, work: FeedWork, queue_emails: EmailQueue) -> None:
    """Ack after success; dead-letter poison; hand back (bounded by the delivery limit) on failure."""
    close_old_connections()
    try:
        process_event(message.body, work, queue_emails)
    except PoisonMessageError as exc:
        logger.error("dead-lettering message %s: %s", message.properties.get("message_id"), exc)
        message.reject(requeue=False)
        return
    except Exception:
        previous = delivery_count(message.headers)
        logger.exception("event %s failed (delivery %d)", message.properties.get("message_id"), previous + 1)
        close_old_connections()
        time.sleep(redelivery_backoff(previous))
        message.requeue()
        return
    message.ack()
