"""E-mail preferences: read, change (an event on the log) and the one-click unsubscribe token."""

from __future__ import annotations

from typing import Any, Literal

from django.conf import settings
from django.core import signing
from django.db import transaction

from core_app.common.exceptions import ApplicationError
from core_app.users.models import User
from events import contracts
from events.append import append_event

WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
EMAIL_CHOICES = ("instant", "daily", "weekly", "off")
UNSUBSCRIBE_SALT = "innotter.digests.unsubscribe"
UNSUBSCRIBE_PATH = "/api/v1/digests/unsubscribe/"


class InvalidUnsubscribeToken(ApplicationError):
    status_code, code, default_message = 400, "invalid_token", "This unsubscribe link is not valid."


def preferences_of(user: User) -> dict[str, Any]:
    """`{"email", "hour", "weekday"}`: `email` is "off" whenever the boolean opt-out is off."""
    email = user.email_frequency if user.email_notifications else "off"
    return {"email": email, "hour": user.digest_hour, "weekday": WEEKDAYS[user.digest_weekday]}


def _apply(user: User, preferences: dict[str, Any]) -> list[str]:
    """Set the model fields for `preferences`; returns the fields that changed."""
    values: dict[str, Any] = {
        "email_notifications": preferences["email"] != "off",
        "digest_hour": preferences["hour"],
        "digest_weekday": WEEKDAYS.index(preferences["weekday"]),
    }
    if preferences["email"] != "off":  # "off" keeps the frequency the user comes back to
        values["email_frequency"] = preferences["email"]
    changed = [field for field, value in values.items() if getattr(user, field) != value]
    for field in changed:
        setattr(user, field, values[field])
    return changed


@transaction.atomic
def notifications_update(
    *, user: User, data: dict[str, Any], via: Literal["api", "unsubscribe"] = "api"
) -> User:
    """Change the e-mail preference; appends `user.notifications_changed` when something changed."""
    user = User.objects.select_for_update().get(pk=user.pk)
    current = preferences_of(user)
    wanted = {**current, **{k: v for k, v in data.items() if k in current}}
    if wanted == current:
        return user
    user.save(update_fields=_apply(user, wanted))
    append_event(contracts.UserNotificationsChanged(user_id=user.pk, via=via, **wanted), actor_id=user.pk)
    return user


def unsubscribe_token(user_id: int) -> str:
    """A signed, user-specific token for the one-click unsubscribe link (no expiry)."""
    return signing.dumps(user_id, salt=UNSUBSCRIBE_SALT)


def unsubscribe_url(user_id: int) -> str:
    return f"{settings.APP_BASE_URL.rstrip('/')}{UNSUBSCRIBE_PATH}{unsubscribe_token(user_id)}"


def unsubscribe_user(*, token: str) -> User:
    """The user an unsubscribe token names; a changed token is refused."""
    try:
        user_id = signing.loads(token, salt=UNSUBSCRIBE_SALT)
    except signing.BadSignature:
        raise InvalidUnsubscribeToken() from None
    user = User.objects.filter(pk=user_id).first() if isinstance(user_id, int) else None
    if user is None:
        raise InvalidUnsubscribeToken()
    return user


def notifications_unsubscribe(*, token: str) -> User:
    """Switch the token's user to `off` (RFC 8058 one-click)."""
    return notifications_update(user=unsubscribe_user(token=token), data={"email": "off"}, via="unsubscribe")
