"""Start-up services: the admin account from the environment, the AWS resources the core uses."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import boto3
from django.conf import settings
from django.db import transaction

from core_app.common.uploads import ensure_bucket
from core_app.users.models import Role, User
from core_app.users.services import user_register
from events import contracts
from events.append import append_event


@dataclass(frozen=True)
class AdminResult:
    user: User
    created: bool
    promoted: bool


def _free_username(email: str) -> str:
    """The e-mail's local part, made unique with a numeric suffix if someone already has it."""
    base = (email.split("@", 1)[0] or "admin")[:140]
    candidate, n = base, 1
    while User.objects.filter(username__iexact=candidate).exists():
        n += 1
        candidate = f"{base}{n}"
    return candidate


def _promote_to_admin(user: User) -> User:
    """Make `user` an admin and record it; the actor is the system (no user acted)."""
    old_role = user.role
    user.role, user.is_staff, user.is_superuser = Role.ADMIN, True, True
    user.save(update_fields=["role", "is_staff", "is_superuser"])
    append_event(
        contracts.UserRoleChanged(user_id=user.pk, old_role=old_role, new_role=Role.ADMIN), actor_id=None
    )
    return user


@transaction.atomic
def admin_ensure(*, email: str, password: str) -> AdminResult:
    """Create the admin account (registered like anyone, then promoted) unless it already exists."""
    existing = User.objects.select_for_update().filter(email__iexact=email.strip()).first()
    if existing is not None:
        if existing.role == Role.ADMIN:
            return AdminResult(user=existing, created=False, promoted=False)
        return AdminResult(user=_promote_to_admin(existing), created=False, promoted=True)
    user = user_register(username=_free_username(email.strip()), email=email, password=password)
    return AdminResult(user=_promote_to_admin(user), created=True, promoted=True)


def ses_client() -> Any:
    """A boto3 SES client on the configured endpoint (moto's server locally)."""
    return boto3.client("ses", endpoint_url=settings.AWS_ENDPOINT_URL, region_name=settings.AWS_REGION)


def ensure_ses_identity() -> None:
    """Verify the sender address so SES accepts mail from it (idempotent)."""
    ses_client().verify_email_identity(EmailAddress=settings.SES_SENDER)


def ensure_aws() -> None:
    """Create every AWS resource the core needs: the media bucket and the SES sender identity."""
    ensure_bucket()
    ensure_ses_identity()
