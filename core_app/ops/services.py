"""Start-up services: the admin account from the environment, the AWS resources the core uses."""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings
from django.db import transaction

from core_app.common.uploads import ensure_bucket
from core_app.users.models import Role, User
from core_app.users.services import user_assign_role, user_register
from projections.notifications import ses_client


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


@transaction.atomic
def admin_ensure(*, email: str, password: str) -> AdminResult:
    """Create the admin account (registered like anyone, then promoted) unless it already exists."""
    existing = User.objects.select_for_update().filter(email__iexact=email.strip()).first()
    if existing is not None and existing.role == Role.ADMIN:
        return AdminResult(user=existing, created=False, promoted=False)
    user = existing or user_register(username=_free_username(email.strip()), email=email, password=password)
    admin = user_assign_role(user=user, role=Role.ADMIN, actor_id=None)  # the system acts, no user
    return AdminResult(user=admin, created=existing is None, promoted=True)


def ensure_ses_identity() -> None:
    """Verify the sender address so SES accepts mail from it (idempotent)."""
    ses_client().verify_email_identity(EmailAddress=settings.SES_SENDER)


def ensure_aws() -> None:
    """Create every AWS resource the core needs: the media bucket and the SES sender identity."""
    ensure_bucket()
    ensure_ses_identity()
