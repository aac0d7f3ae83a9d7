"""Users and their refresh-token sessions."""

from __future__ import annotations

import uuid
from typing import ClassVar

from django.contrib.auth.models import AbstractUser, UserManager
from django.contrib.postgres.indexes import GinIndex
from django.db import models
from django.db.models.functions import Lower


class Role(models.TextChoices):
    USER = "user", "User"
    MODERATOR = "moderator", "Moderator"
    ADMIN = "admin", "Admin"


STAFF_ROLES = (Role.MODERATOR, Role.ADMIN)


class EmailFrequency(models.TextChoices):
    """How often new posts are e-mailed; `email_notifications=False` overrides it (off)."""

    INSTANT = "instant", "Instant"
    DAILY = "daily", "Daily digest"
    WEEKLY = "weekly", "Weekly digest"


class User(AbstractUser):
    """A person using Innotter; `role` drives permissions, `is_staff` only the admin panel."""

    email = models.EmailField(unique=True)
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.USER)
    is_blocked = models.BooleanField(default=False)
    blocked_reason = models.CharField(max_length=500, blank=True, default="")
    blocked_at = models.DateTimeField(null=True, blank=True)
    avatar_key = models.CharField(max_length=300, blank=True, default="")
    email_notifications = models.BooleanField(default=True)
    # Database defaults too: bulk loads in SQL (the benchmarks' datasets) need not name them.
    email_frequency = models.CharField(
        max_length=8,
        choices=EmailFrequency.choices,
        default=EmailFrequency.INSTANT,
        db_default=EmailFrequency.INSTANT,
    )
    digest_hour = models.PositiveSmallIntegerField(default=7, db_default=7)  # UTC, 0-23
    digest_weekday = models.PositiveSmallIntegerField(default=0, db_default=0)  # Monday = 0

    objects: ClassVar[UserManager[User]] = UserManager()  # type: ignore[assignment]

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=models.Q(role__in=[r.value for r in Role]), name="user_role_valid"
            ),
            models.UniqueConstraint(Lower("username"), name="user_username_ci_unique"),
            models.UniqueConstraint(Lower("email"), name="user_email_ci_unique"),
            models.CheckConstraint(
                condition=models.Q(email_frequency__in=[f.value for f in EmailFrequency]),
                name="user_email_frequency_valid",
            ),
            models.CheckConstraint(condition=models.Q(digest_hour__lte=23), name="user_digest_hour_valid"),
            models.CheckConstraint(
                condition=models.Q(digest_weekday__lte=6), name="user_digest_weekday_valid"
            ),
        ]
        indexes = [
            GinIndex(fields=["username"], name="user_username_trgm", opclasses=["gin_trgm_ops"]),
            GinIndex(fields=["first_name"], name="user_first_name_trgm", opclasses=["gin_trgm_ops"]),
            GinIndex(fields=["last_name"], name="user_last_name_trgm", opclasses=["gin_trgm_ops"]),
            # The hourly digest run finds the users whose hour has come.
            models.Index(
                fields=["email_frequency", "digest_hour"],
                name="user_digest_due_idx",
                condition=models.Q(email_notifications=True) & ~models.Q(email_frequency="instant"),
            ),
        ]

    @property
    def is_staff_role(self) -> bool:
        return self.role in STAFF_ROLES

    @property
    def is_admin_role(self) -> bool:
        return self.role == Role.ADMIN


class RefreshSession(models.Model):
    """One refresh token; rotation marks it used and links its successor.

    A used or revoked token presented again is a reuse: the whole family is revoked.
    """

    jti = models.UUIDField(primary_key=True, default=uuid.uuid4)
    family = models.UUIDField(db_index=True)
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="refresh_sessions")
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["user", "revoked_at"], name="refresh_user_idx")]
