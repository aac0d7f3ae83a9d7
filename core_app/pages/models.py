"""Pages, their tags, and follows (accepted or requested)."""

from __future__ import annotations

from django.conf import settings
from django.contrib.postgres.indexes import GinIndex
from django.db import models
from django.db.models.functions import Lower


class Tag(models.Model):
    name = models.CharField(max_length=50, unique=True)

    class Meta:
        indexes = [GinIndex(fields=["name"], name="tag_name_trgm", opclasses=["gin_trgm_ops"])]
        constraints = [models.CheckConstraint(condition=~models.Q(name=""), name="tag_name_not_empty")]

    def __str__(self) -> str:
        return self.name


class Page(models.Model):
    """A page owned by a user. Blocked while `blocked_permanently`, `blocked_until` is in
    the future, or its owner is blocked (`owner.is_blocked`)."""

    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="pages")
    name = models.CharField(max_length=80)
    uuid = models.CharField(max_length=30, unique=True)
    description = models.TextField(max_length=2000, blank=True, default="")
    tags = models.ManyToManyField(Tag, related_name="pages", blank=True)
    is_private = models.BooleanField(default=False)
    image_key = models.CharField(max_length=300, blank=True, default="")
    blocked_until = models.DateTimeField(null=True, blank=True)
    blocked_permanently = models.BooleanField(default=False)
    blocked_reason = models.CharField(max_length=500, blank=True, default="")
    followers_count = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(Lower("uuid"), name="page_uuid_ci_unique"),
            models.CheckConstraint(
                condition=models.Q(uuid__regex=r"^[A-Za-z0-9_.-]{3,30}$"), name="page_uuid_format"
            ),
            models.CheckConstraint(condition=~models.Q(name=""), name="page_name_not_empty"),
            models.CheckConstraint(
                condition=~models.Q(blocked_permanently=True, blocked_until__isnull=False),
                name="page_block_permanent_xor_until",
            ),
        ]
        indexes = [
            models.Index(fields=["owner", "-id"], name="page_owner_idx"),
            models.Index(
                fields=["blocked_until"],
                name="page_blocked_until_idx",
                condition=models.Q(blocked_until__isnull=False),
            ),
            GinIndex(fields=["name"], name="page_name_trgm", opclasses=["gin_trgm_ops"]),
            GinIndex(fields=["uuid"], name="page_uuid_trgm", opclasses=["gin_trgm_ops"]),
        ]

    def __str__(self) -> str:
        return f"{self.name} (@{self.uuid})"


class FollowStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    ACCEPTED = "accepted", "Accepted"


class Follow(models.Model):
    """A user's follow of a page: pending (a request to a private page) or accepted."""

    page = models.ForeignKey(Page, on_delete=models.CASCADE, related_name="follows")
    follower = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="follows")
    status = models.CharField(max_length=16, choices=FollowStatus.choices)
    created_at = models.DateTimeField(auto_now_add=True)
    accepted_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["page", "follower"], name="follow_unique"),
            models.CheckConstraint(
                condition=models.Q(status__in=[s.value for s in FollowStatus]), name="follow_status_valid"
            ),
            models.CheckConstraint(
                condition=models.Q(status="pending", accepted_at__isnull=True)
                | models.Q(status="accepted", accepted_at__isnull=False),
                name="follow_accepted_at_matches_status",
            ),
        ]
        indexes = [
            models.Index(fields=["page", "status", "-id"], name="follow_page_status_idx"),
            models.Index(fields=["follower", "status"], name="follow_follower_status_idx"),
        ]
