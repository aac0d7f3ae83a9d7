"""Projection tables: the news feed, the projection's own view of follows/pages/posts, e-mail claims.

The feed handlers never read the core's tables: they keep what they need (accepted follows,
page owners and block state, recent post ids) in `Feed*` tables built from the same events,
so replaying the log (`rebuild_feed`) produces exactly the live feed.
No foreign-key constraints: projections may lag behind or run ahead of the core's rows.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models


class AppliedEvent(models.Model):
    """An event a consumer has applied; written in the transaction of its effect."""

    consumer = models.CharField(max_length=32)
    event_id = models.UUIDField()
    position = models.BigIntegerField()
    applied_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["consumer", "event_id"], name="applied_event_unique")]


class FeedEntry(models.Model):
    """One post in one user's feed (capped at FEED_MAX_ENTRIES newest per user).

    The primary key (user, post) also serves the feed read: newest first is a backward scan.
    """

    pk = models.CompositePrimaryKey("user_id", "post_id")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.DO_NOTHING, db_constraint=False, related_name="+"
    )
    post = models.ForeignKey("posts.Post", on_delete=models.DO_NOTHING, db_constraint=False, related_name="+")
    page_id = models.BigIntegerField()
    created_at = models.DateTimeField()

    # No secondary index: fan-out inserts are the hot path, and removals go through the primary
    # key with the page's audience (its followers and owner), which the projection knows.


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
