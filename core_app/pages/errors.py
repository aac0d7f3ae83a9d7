"""Domain errors of pages and follows, and the permission checks that raise them."""

from __future__ import annotations

from core_app.common.exceptions import Conflict, NotFound, PermissionDeniedError
from core_app.pages.models import Page
from core_app.users.models import User


class PageUuidTaken(Conflict):
    default_message = "This page handle is already taken."


class CannotFollowOwnPage(Conflict):
    """Following one's own page is refused with 409: the owner's relation already exists."""

    default_message = "You own this page; owners do not follow their own pages."


class NotFollowing(NotFound):
    default_message = "You do not follow this page and have no pending request."


class TagNotOnPage(NotFound):
    default_message = "This page has no such tag."


class NotPageOwner(PermissionDeniedError):
    default_message = "Only the page's owner may do this."


class StaffOnly(PermissionDeniedError):
    default_message = "Only moderators and admins may do this."


class AdminOnly(PermissionDeniedError):
    default_message = "Only admins may do this."


def ensure_owner(page: Page, actor: User) -> None:
    """Owner-only actions raise 403 for anyone else (who can see the page)."""
    if page.owner_id != actor.pk:
        raise NotPageOwner()


def ensure_staff(actor: User) -> None:
    if not actor.is_staff_role:
        raise StaffOnly()
