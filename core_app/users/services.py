"""User services: registration, sessions (login/refresh/logout), profile, avatar, moderation, roles."""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from typing import Any, TypeGuard

from django.conf import settings
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.files.uploadedfile import UploadedFile
from django.db import IntegrityError, connection, transaction
from django.db.models import Q
from django.utils import timezone

from core_app.common.auth.tokens import decode, issue_access_token, issue_refresh_token
from core_app.common.exceptions import (
    ApplicationError,
    Conflict,
    PermissionDeniedError,
    Throttled,
    TokenInvalid,
    UserBlocked,
    ValidationFailed,
)
from core_app.common.uploads import image_replacement
from core_app.users.models import STAFF_ROLES, RefreshSession, Role, User
from events import contracts
from events.append import append_event
from events.models import StoredEvent

logger = logging.getLogger(__name__)

PROFILE_FIELDS = ("first_name", "last_name", "username", "email_notifications")


class InvalidCredentials(ApplicationError):
    status_code, code, default_message = 401, "invalid_credentials", "E-mail or password is wrong."


@dataclass(frozen=True)
class TokenPair:
    access: str
    refresh: str
    expires_in: int
    session_id: uuid.UUID

    def as_response(self) -> dict[str, Any]:
        return {
            "access": self.access,
            "refresh": self.refresh,
            "token_type": "Bearer",
            "expires_in": self.expires_in,
        }


# --- registration and profile -------------------------------------------------------------


def _ensure_unique(
    *, username: str | None = None, email: str | None = None, exclude_id: int | None = None
) -> None:
    others = User.objects.exclude(pk=exclude_id) if exclude_id else User.objects.all()
    if username is not None and others.filter(username__iexact=username).exists():
        raise Conflict("This username is taken.", details={"username": ["This username is taken."]})
    if email is not None and others.filter(email__iexact=email).exists():
        raise Conflict("This e-mail is already registered.", details={"email": ["This e-mail is taken."]})


def _check_password(password: str, user: User) -> None:
    try:
        validate_password(password, user=user)
    except DjangoValidationError as exc:
        raise ValidationFailed(details={"password": list(exc.messages)}) from None


@transaction.atomic
def user_register(
    *, username: str, email: str, password: str, first_name: str = "", last_name: str = ""
) -> User:
    """Create a user with the default role; Django's password validators apply."""
    email = User.objects.normalize_email(email.strip())
    user = User(username=username, email=email, first_name=first_name, last_name=last_name, role=Role.USER)
    _check_password(password, user)
    _ensure_unique(username=username, email=email)
    user.set_password(password)
    try:
        with transaction.atomic():
            user.save()
    except IntegrityError:
        # A concurrent registration won the race for the same username or e-mail.
        raise Conflict("This username or e-mail is taken.") from None
    append_event(contracts.UserRegistered(user_id=user.pk, username=user.username), actor_id=user.pk)
    return user


@transaction.atomic
def user_update(*, user: User, data: dict[str, Any]) -> User:
    """Change profile fields (`PROFILE_FIELDS`); appends `user.updated` when something changed."""
    user = User.objects.select_for_update().get(pk=user.pk)
    changes = {f: data[f] for f in PROFILE_FIELDS if f in data and getattr(user, f) != data[f]}
    if not changes:
        return user
    if "username" in changes:
        _ensure_unique(username=changes["username"], exclude_id=user.pk)
    for field, value in changes.items():
        setattr(user, field, value)
    try:
        with transaction.atomic():
            user.save(update_fields=list(changes))
    except IntegrityError:
        raise Conflict("This username is taken.", details={"username": ["This username is taken."]}) from None
    append_event(contracts.UserUpdated(user_id=user.pk, changes=changes), actor_id=user.pk)
    return user


@transaction.atomic
def user_set_avatar(*, user: User, upload: UploadedFile) -> User:
    """Validate and store an avatar image, then point the user at it."""
    user = User.objects.select_for_update().get(pk=user.pk)
    with image_replacement(upload, prefix=f"avatars/users/{user.pk}", old_key=user.avatar_key) as key:
        user.avatar_key = key
        user.save(update_fields=["avatar_key"])
        append_event(contracts.UserAvatarChanged(user_id=user.pk, avatar_key=key), actor_id=user.pk)
    return user


# --- sessions -----------------------------------------------------------------------------


def _login_aggregate(email: str) -> str:
    return email.strip().lower()


def _recent_login_failures(email: str) -> int:
    since = timezone.now() - settings.LOGIN_FAILURE_WINDOW
    return StoredEvent.objects.filter(
        type=contracts.UserLoginFailed.type, aggregate_id=_login_aggregate(email), occurred_at__gte=since
    ).count()


def _password_matches(account: User | None, password: str) -> TypeGuard[User]:
    """Whether `account` is active and `password` is theirs."""
    if account is None or not account.is_active:
        # Hash anyway so that response time does not tell which e-mails exist.
        User().set_password(password)
        return False
    return account.check_password(password)


def _record_login_failure(*, email: str, user_id: int | None) -> None:
    append_event(contracts.UserLoginFailed(email=_login_aggregate(email), user_id=user_id), actor_id=user_id)


# Attempts on one account are taken one at a time (a transaction-scoped advisory lock keyed by
# the account's e-mail), so a burst of wrong passwords sent at the same instant cannot all pass
# the failure count before any of them is recorded. Different accounts never wait on each other.
LOGIN_LOCK_CLASS = 0x1A6  # the first key of pg_advisory_xact_lock(int, int): logins


def _issue_pair(user: User, *, family: uuid.UUID) -> TokenPair:
    session = RefreshSession.objects.create(
        user=user, family=family, expires_at=timezone.now() + settings.JWT_REFRESH_TTL
    )
    refresh = issue_refresh_token(
        user_id=user.pk, jti=session.jti, family=family, expires_at=session.expires_at
    )
    access, expires_in = issue_access_token(user_id=user.pk, role=user.role)
    return TokenPair(access=access, refresh=refresh, expires_in=expires_in, session_id=family)


@transaction.atomic
def _start_session(*, user: User) -> TokenPair:
    pair = _issue_pair(user, family=uuid.uuid4())
    User.objects.filter(pk=user.pk).update(last_login=timezone.now())
    append_event(contracts.UserLoggedIn(user_id=user.pk, session_id=pair.session_id), actor_id=user.pk)
    return pair


def user_authenticate(*, email: str, password: str) -> User:
    """The account these credentials open, at most LOGIN_MAX_FAILURES wrong tries per window.

    Every way in checks credentials here (the API login and the admin panel's login form), so
    one account's throttle holds whichever door is tried.
    """
    outcome = _check_credentials(email, password)
    if isinstance(outcome, ApplicationError):
        raise outcome  # after the commit: a failed attempt is recorded although the request fails
    return outcome


def user_login(*, email: str, password: str) -> TokenPair:
    """Check credentials (`user_authenticate`) and open a session."""
    return _start_session(user=user_authenticate(email=email, password=password))


@transaction.atomic
def _check_credentials(email: str, password: str) -> User | ApplicationError:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_advisory_xact_lock(%s, hashtext(%s))", [LOGIN_LOCK_CLASS, _login_aggregate(email)]
        )
    if _recent_login_failures(email) >= settings.LOGIN_MAX_FAILURES:
        return Throttled("Too many failed logins for this account; try again later.")
    account = User.objects.filter(email__iexact=email.strip()).first()
    if not _password_matches(account, password):
        _record_login_failure(email=email, user_id=account.pk if account else None)
        return InvalidCredentials()
    if account.is_blocked:
        return UserBlocked()
    return account


def _refresh_claims(token: str) -> tuple[uuid.UUID, int]:
    claims = decode(token, token_type="refresh")
    try:
        return uuid.UUID(str(claims["jti"])), int(claims["sub"])
    except (KeyError, ValueError):
        raise TokenInvalid() from None


def _revoke_family(family: uuid.UUID) -> int:
    return RefreshSession.objects.filter(family=family, revoked_at__isnull=True).update(
        revoked_at=timezone.now()
    )


def _end_session(session: RefreshSession, reason: contracts.SessionRevokedReason) -> None:
    """Revoke the session's whole family (once) and record why, for the audit trail."""
    if _revoke_family(session.family):
        logger.warning("session family %s revoked: %s", session.family, reason)
        append_event(
            contracts.UserSessionRevoked(user_id=session.user_id, session_id=session.family, reason=reason),
            actor_id=None,
        )


@transaction.atomic
def _rotate(*, jti: uuid.UUID, user_id: int) -> TokenPair | ApplicationError:
    """Rotate one session, or commit the family's revocation and return the error to raise."""
    session = RefreshSession.objects.select_for_update().select_related("user").filter(jti=jti).first()
    if session is None or session.user_id != user_id:
        return TokenInvalid()
    if session.used_at is not None:
        # A spent token presented again: someone holds a copy, so end the whole session.
        _end_session(session, "token_reused")
        return TokenInvalid("This refresh token has already been used.")
    if session.revoked_at is not None:
        # Ended by a logout, a block or an earlier reuse: nothing more to revoke.
        return TokenInvalid("This refresh token has been revoked; log in again.")
    if session.expires_at <= timezone.now():
        return TokenInvalid("This refresh token has expired.")
    if not session.user.is_active:
        _end_session(session, "user_deactivated")
        return TokenInvalid()
    if session.user.is_blocked:
        _end_session(session, "user_blocked")
        return UserBlocked()
    session.used_at = timezone.now()
    session.save(update_fields=["used_at"])
    pair = _issue_pair(session.user, family=session.family)
    append_event(contracts.UserTokenRefreshed(user_id=user_id, session_id=session.family), actor_id=user_id)
    return pair


def user_refresh(*, refresh: str) -> TokenPair:
    """Exchange a refresh token for a new pair; the old one stops working (reuse revokes the session)."""
    jti, user_id = _refresh_claims(refresh)
    outcome = _rotate(jti=jti, user_id=user_id)
    if isinstance(outcome, ApplicationError):
        raise outcome
    return outcome


@transaction.atomic
def user_logout(*, user: User, refresh: str) -> None:
    """End the session the refresh token belongs to (every token of its family stops working)."""
    jti, user_id = _refresh_claims(refresh)
    session = RefreshSession.objects.filter(jti=jti, user_id=user.pk).first()
    if session is None or user_id != user.pk:
        raise TokenInvalid()
    if _revoke_family(session.family):
        append_event(contracts.UserLoggedOut(user_id=user.pk, session_id=session.family), actor_id=user.pk)


# --- moderation and roles -------------------------------------------------------------------


def _require_admin(actor: User) -> None:
    if not actor.is_admin_role or actor.is_blocked:
        raise PermissionDeniedError("Only admins may do this.")


def _owned_page_ids(user: User, *, only_unblocked: bool = False) -> list[int]:
    pages = user.pages.all()
    if only_unblocked:
        pages = pages.exclude(Q(blocked_permanently=True) | Q(blocked_until__gt=timezone.now()))
    return list(pages.order_by("id").values_list("id", flat=True))


@transaction.atomic
def user_block(*, actor: User, user: User, reason: str) -> User:
    """Block a user: their tokens stop working, their sessions end, their pages are hidden."""
    _require_admin(actor)
    if actor.pk == user.pk:
        raise ValidationFailed.field("user", "You cannot block yourself.")
    user = User.objects.select_for_update().get(pk=user.pk)
    if user.is_blocked:
        raise Conflict("This user is already blocked.")
    user.is_blocked, user.blocked_reason, user.blocked_at = True, reason, timezone.now()
    user.save(update_fields=["is_blocked", "blocked_reason", "blocked_at"])
    RefreshSession.objects.filter(user=user, revoked_at__isnull=True).update(revoked_at=timezone.now())
    page_ids = _owned_page_ids(user)
    append_event(contracts.UserBlocked(user_id=user.pk, reason=reason, page_ids=page_ids), actor_id=actor.pk)
    return user


@transaction.atomic
def user_unblock(*, actor: User, user: User) -> User:
    """Lift a user block; `page_ids` are the pages that become visible again (not blocked on their own)."""
    _require_admin(actor)
    user = User.objects.select_for_update().get(pk=user.pk)
    if not user.is_blocked:
        raise Conflict("This user is not blocked.")
    user.is_blocked, user.blocked_reason, user.blocked_at = False, "", None
    user.save(update_fields=["is_blocked", "blocked_reason", "blocked_at"])
    page_ids = _owned_page_ids(user, only_unblocked=True)
    append_event(contracts.UserUnblocked(user_id=user.pk, page_ids=page_ids), actor_id=actor.pk)
    return user


@transaction.atomic
def user_change_role(*, actor: User, user: User, role: str) -> User:
    """Give a user a role; staff roles get admin-panel access, admins full admin-panel rights."""
    _require_admin(actor)
    if role not in Role.values:
        raise ValidationFailed.field("role", f"Must be one of: {', '.join(Role.values)}.")
    if actor.pk == user.pk:
        raise ValidationFailed.field("role", "You cannot change your own role.")
    user = User.objects.select_for_update().get(pk=user.pk)
    if user.role == role:
        return user
    return user_assign_role(user=user, role=role, actor_id=actor.pk)


def user_assign_role(*, user: User, role: str, actor_id: int | None) -> User:
    """Set the role and the admin-panel flags it implies, and record the change (no permission check).

    Runs inside the caller's transaction, on a row the caller has locked; `actor_id` None is the system.
    """
    old_role = user.role
    user.role = role
    user.is_staff = role in STAFF_ROLES
    user.is_superuser = role == Role.ADMIN
    user.save(update_fields=["role", "is_staff", "is_superuser"])
    append_event(
        contracts.UserRoleChanged(user_id=user.pk, old_role=old_role, new_role=role), actor_id=actor_id
    )
    return user
