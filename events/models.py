"""The event log (outbox) and the relay's cursor."""

from __future__ import annotations

from django.core.serializers.json import DjangoJSONEncoder
from django.db import models


class StoredEvent(models.Model):
    """One row of the append-only event log; `position` is log order, see events.append."""

    position = models.BigAutoField(primary_key=True)
    event_id = models.UUIDField(unique=True)
    type = models.CharField(max_length=64)
    version = models.PositiveSmallIntegerField()
    aggregate_type = models.CharField(max_length=32)
    aggregate_id = models.CharField(max_length=254)
    # The log outlives everything it mentions, so no foreign-key constraint.
    actor = models.ForeignKey(
        "users.User",
        null=True,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        related_name="+",
    )
    payload = models.JSONField(encoder=DjangoJSONEncoder)
    occurred_at = models.DateTimeField()
    is_moderation = models.BooleanField(default=False)
    # The X-Request-ID of the request that appended it (or of the task it caused); null outside one.
    request_id = models.CharField(max_length=128, null=True, blank=True)

    class Meta:
        db_table = "event_log"
        indexes = [
            models.Index(fields=["aggregate_type", "aggregate_id", "-position"], name="event_aggregate_idx"),
            models.Index(fields=["type", "aggregate_id", "occurred_at"], name="event_type_aggregate_idx"),
            models.Index(
                fields=["-position"],
                name="event_moderation_idx",
                condition=models.Q(is_moderation=True),
            ),
        ]

    def __str__(self) -> str:
        return f"#{self.position} {self.type} {self.aggregate_type}:{self.aggregate_id}"


class RelayCursor(models.Model):
    """The last log position a relay has had confirmed by the broker."""

    name = models.CharField(max_length=64, primary_key=True)
    position = models.BigIntegerField(default=0)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        db_table = "event_relay_cursor"
