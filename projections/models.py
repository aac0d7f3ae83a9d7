"""Projection tables: the feed projection's own view of follows/pages/posts, e-mail claims.

The home feeds themselves are Redis sorted sets (`projections.feed.store`). The feed handlers
never read the core's tables: they keep what they need (accepted follows, page owners and
block state, recent post ids) in `Feed*` tables built from the same events, so replaying the
log (`rebuild_feed`) produces exactly the live feed.
No foreign-key constraints: projections may lag behind or run ahead of the core's rows.
"""

from __future__ import annotations

from django.db import models


class AppliedEvent(models.Model):
    """An event a consumer has applied; written in the transaction of its effect."""

    consumer = models.CharField(max_length=32)
    event_id = models.UUIDField()
    position = models.BigIntegerField()
    applied_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["consumer", "event_id"], name="applied_event_unique")]


class FeedFollow(models.Model):
    """An accepted follow, as the feed projection knows it."""

    pk = models.CompositePrimaryKey("page_id", "user_id")
    page_id = models.BigIntegerField()
    user_id = models.BigIntegerField()


class FeedPage(models.Model):
    """A page as the feed projection knows it; `read_time_merge` pages are not fanned out."""

    page_id = models.BigIntegerField(primary_key=True)
    owner_id = models.BigIntegerField()
    blocked = models.BooleanField(default=False)
    owner_blocked = models.BooleanField(default=False)
    read_time_merge = models.BooleanField(default=False)
    deleted = models.BooleanField(default=False)

    class Meta:
        indexes = [
            models.Index(
                fields=["page_id"], name="feed_page_merge_idx", condition=models.Q(read_time_merge=True)
            )
        ]

    @property
    def visible(self) -> bool:
        return not (self.blocked or self.owner_blocked or self.deleted)

    @property
    def fanned_out(self) -> bool:
        """Posts are copied into the followers' feeds (handlers.POST_CREATED_SQL says the same)."""
        return self.visible and not self.read_time_merge


class FeedPost(models.Model):
    """A post for back-fill (a page's most recent posts); deleted ones stay as tombstones."""

    post_id = models.BigIntegerField(primary_key=True)
    page_id = models.BigIntegerField()
    created_at = models.DateTimeField()
    deleted = models.BooleanField(default=False)

    class Meta:
        indexes = [models.Index(fields=["page_id", "-post_id"], name="feed_post_page_idx")]


class EmailDelivery(models.Model):
    """A claim to send one post's notification to one follower: the row exists => never resent."""

    class Status(models.TextChoices):
        CLAIMED = "claimed"
        SENT = "sent"
        FAILED = "failed"

    pk = models.CompositePrimaryKey("post_id", "user_id")
    post_id = models.BigIntegerField()
    user_id = models.BigIntegerField()
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.CLAIMED)
    message_id = models.CharField(max_length=200, blank=True, default="")
    claimed_at = models.DateTimeField(auto_now_add=True)
    sent_at = models.DateTimeField(null=True, blank=True)
