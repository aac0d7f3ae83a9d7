"""Digest claims: one row per (user, slot) digest, written and committed before the send."""

from __future__ import annotations

from django.db import models


class DigestDelivery(models.Model):
    """A claim to send one user the digest of one run slot: the row exists => never resent.

    `slot` is the hour of the run (two beats or a retry of the same hour find the claim);
    `period_end` is where the next digest of this user starts.
    """

    class Status(models.TextChoices):
        CLAIMED = "claimed"
        SENT = "sent"
        FAILED = "failed"

    pk = models.CompositePrimaryKey("user_id", "slot")
    user_id = models.BigIntegerField()
    slot = models.DateTimeField()
    period = models.CharField(max_length=8)
    period_start = models.DateTimeField()
    period_end = models.DateTimeField()
    posts = models.PositiveIntegerField(default=0)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.CLAIMED)
    message_id = models.CharField(max_length=200, blank=True, default="")
    claimed_at = models.DateTimeField()
    sent_at = models.DateTimeField(null=True, blank=True)
