"""Where heavy feed work runs: inline (tests, rebuild) or as Celery tasks (live)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from projections.feed import store
from projections.feed.store import PostRef


class FeedWork(Protocol):
    def fanout(self, post: PostRef, user_ids: Sequence[int]) -> None: ...

    def backfill(self, page_id: int, user_ids: Sequence[int]) -> None: ...


class InlineFeedWork:
    """Runs each chunk at once, in the caller's transaction."""

    def __init__(self) -> None:
        self.rows = 0

    def fanout(self, post: PostRef, user_ids: Sequence[int]) -> None:
        self.rows += store.fanout_to(post, user_ids)

    def backfill(self, page_id: int, user_ids: Sequence[int]) -> None:
        self.rows += store.backfill(page_id, user_ids)
