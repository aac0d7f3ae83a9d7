"""Celery tasks: thin adapters that parse arguments and call plain, idempotent functions."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from celery import Task
from django.db import DatabaseError
from django.utils.module_loading import import_string

from projections.celery_app import app
from projections.feed import store
from projections.feed.store import PostRef

logger = logging.getLogger(__name__)

RETRYABLE = (DatabaseError, ConnectionError)
RETRY_OPTIONS: dict[str, Any] = {
    "acks_late": True,
    "autoretry_for": RETRYABLE,
    "retry_backoff": True,
    "retry_backoff_max": 60,
    "retry_jitter": True,
    "max_retries": 12,
}
PAGE_UNBLOCK_EXPIRED = "core_app.pages.services.page_unblock_expired"


@app.task(name="projections.feed_fanout", **RETRY_OPTIONS)
def feed_fanout(post_id: int, page_id: int, created_at: str, user_ids: list[int]) -> int:
    """Insert one post into one chunk of feeds (idempotent)."""
    post = PostRef(post_id=post_id, page_id=page_id, created_at=datetime.fromisoformat(created_at))
    return store.fanout_to(post, user_ids)


@app.task(name="projections.feed_backfill", **RETRY_OPTIONS)
def feed_backfill(page_id: int, user_ids: list[int]) -> int:
    """Back-fill a page's recent posts into one chunk of feeds (idempotent)."""
    return store.backfill(page_id, user_ids)


@app.task(name="projections.send_post_emails", bind=True, **RETRY_OPTIONS)
def send_post_emails(self: Task, post_id: int, user_ids: list[int]) -> int:
    """E-mail one batch of followers about a post, at most once each."""
    from projections.notifications import send_post_notifications

    retry = send_post_notifications(post_id, user_ids)
    if retry:
        raise self.retry(args=(post_id, retry), countdown=min(60, 2 ** (self.request.retries + 1)))
    return len(user_ids)


@app.task(name="projections.unblock_expired_pages", acks_late=True)
def unblock_expired_pages() -> int:
    """Lift page blocks whose time is up (the pages service appends `page.unblocked`)."""
    service = import_string(PAGE_UNBLOCK_EXPIRED)
    return int(service() or 0)


class CeleryFeedWork:
    """Sends each chunk of feed work as a Celery task (published with confirms)."""

    def fanout(self, post: PostRef, user_ids: Sequence[int]) -> None:
        created_at = post.created_at.isoformat()
        feed_fanout.apply_async(args=(post.post_id, post.page_id, created_at, list(user_ids)))

    def backfill(self, page_id: int, user_ids: Sequence[int]) -> None:
        feed_backfill.apply_async(args=(page_id, list(user_ids)))


def queue_post_emails(post_id: int, user_ids: Sequence[int]) -> None:
    send_post_emails.apply_async(args=(post_id, list(user_ids)))
