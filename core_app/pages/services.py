"""Services that change pages, their tags, images and blocks; each appends its event(s) last.

Follow services live in `core_app.pages.follows`; both are re-exported here.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from django.core.files.uploadedfile import UploadedFile
from django.db import IntegrityError, transaction
from django.db.models import Count, F, OuterRef, Q, Subquery
from django.utils import timezone

from core_app.common.exceptions import ValidationFailed
from core_app.common.uploads import image_replacement
from core_app.pages.errors import AdminOnly, PageUuidTaken, TagNotOnPage, ensure_owner, ensure_staff
from core_app.pages.follows import (
    accept_pending_follows,
    follow_create,
    follow_delete,
    follow_requests_accept,
    follow_requests_reject,
)
from core_app.pages.models import Page, Tag
from core_app.posts.models import Post
from core_app.users.models import User
from events.append import append_event, append_events
from events.contracts import (
    EventPayload,
    PageBlocked,
    PageCreated,
    PageDeleted,
    PageImageChanged,
    PageUnblocked,
    PageUpdated,
    PostDeleted,
)

__all__ = [
    "ensure_owner",
    "ensure_staff",
    "follow_create",
    "follow_delete",
    "follow_requests_accept",
    "follow_requests_reject",
    "normalize_tag",
    "normalize_tags",
    "page_block",
    "page_create",
    "page_delete",
    "page_image_set",
    "page_tag_add",
    "page_tag_remove",
    "page_unblock",
    "page_unblock_expired",
    "page_update",
]

# Used with fullmatch: a `$` anchor would let a trailing newline through.
UUID_RE = re.compile(r"[A-Za-z0-9_.-]{3,30}")
UUID_UNIQUE_CONSTRAINTS = ("page_uuid_ci_unique", "pages_page_uuid_key")
NAME_MAX_LENGTH = 80
DESCRIPTION_MAX_LENGTH = 2000
TAG_MAX_LENGTH = 50
MAX_TAGS = 20
REASON_MAX_LENGTH = 500
PAGE_DELETED_REASON = "page_deleted"


# --- validation ------------------------------------------------------------------------------


def normalize_tag(name: str) -> str:
    """A tag as stored: trimmed and lowercased, 1..50 characters."""
    tag = name.strip().lower()
    if not 1 <= len(tag) <= TAG_MAX_LENGTH:
        raise ValidationFailed.field("tags", f"Each tag must be 1..{TAG_MAX_LENGTH} characters.")
    return tag


def normalize_tags(names: Iterable[str]) -> list[str]:
    """Trimmed, lowercased, deduplicated (first occurrence kept); at most MAX_TAGS."""
    tags = list(dict.fromkeys(normalize_tag(name) for name in names))
    if len(tags) > MAX_TAGS:
        raise ValidationFailed.field("tags", f"A page has at most {MAX_TAGS} tags.")
    return tags


def _validate_uuid(uuid: str, *, page_id: int | None = None) -> None:
    if not UUID_RE.fullmatch(uuid):
        raise ValidationFailed.field("uuid", "3..30 characters: letters, digits, '_', '.' or '-'.")
    taken = Page.objects.filter(uuid__iexact=uuid)
    if page_id is not None:
        taken = taken.exclude(pk=page_id)
    if taken.exists():
        raise PageUuidTaken(details={"uuid": ["This page handle is already taken."]})


def _validate_text(field: str, value: str, *, min_length: int, max_length: int) -> str:
    if not min_length <= len(value) <= max_length:
        raise ValidationFailed.field(field, f"Must be {min_length}..{max_length} characters.")
    return value


# --- tags ------------------------------------------------------------------------------------


def _page_tag_names(page: Page) -> list[str]:
    return sorted(page.tags.values_list("name", flat=True))


def _set_tags(page: Page, names: list[str]) -> None:
    Tag.objects.bulk_create([Tag(name=name) for name in names], ignore_conflicts=True)
    page.tags.set(Tag.objects.filter(name__in=names))


# --- create / update / delete ----------------------------------------------------------------


@transaction.atomic
def page_create(
    *,
    owner: User,
    name: str,
    uuid: str,
    description: str = "",
    tags: Iterable[str] = (),
    is_private: bool = False,
) -> Page:
    """Create a page owned by `owner`; appends `page.created`."""
    _validate_uuid(uuid)
    tag_names = normalize_tags(tags)
    page = Page(
        owner=owner,
        name=_validate_text("name", name, min_length=1, max_length=NAME_MAX_LENGTH),
        uuid=uuid,
        description=_validate_text(
            "description", description, min_length=0, max_length=DESCRIPTION_MAX_LENGTH
        ),
        is_private=is_private,
    )
    _save_unique(page)
    _set_tags(page, tag_names)
    append_event(
        PageCreated(
            page_id=page.pk,
            owner_id=owner.pk,
            uuid=page.uuid,
            name=page.name,
            is_private=is_private,
            tags=sorted(tag_names),
        ),
        actor_id=owner.pk,
    )
    return page


def _save_unique(page: Page) -> None:
    """Save; a concurrent writer taking the same uuid first still ends in a 409."""
    try:
        with transaction.atomic():
            page.save()
    except IntegrityError as exc:
        constraint = getattr(getattr(exc.__cause__, "diag", None), "constraint_name", None)
        if constraint in UUID_UNIQUE_CONSTRAINTS:
            raise PageUuidTaken(details={"uuid": ["This page handle is already taken."]}) from None
        raise


_UPDATABLE = ("name", "uuid", "description", "is_private")


def _validated_changes(page: Page, fields: dict[str, Any]) -> dict[str, Any]:
    changes = {k: v for k, v in fields.items() if k in _UPDATABLE and getattr(page, k) != v}
    if "name" in changes:
        _validate_text("name", changes["name"], min_length=1, max_length=NAME_MAX_LENGTH)
    if "description" in changes:
        _validate_text("description", changes["description"], min_length=0, max_length=DESCRIPTION_MAX_LENGTH)
    if "uuid" in changes:
        _validate_uuid(changes["uuid"], page_id=page.pk)
    return changes


@transaction.atomic
def page_update(*, page: Page, actor: User, **fields: Any) -> Page:
    """Change name, uuid, description, is_private and/or tags (the full new set); owner only.

    Appends `page.updated` with the changes. When a private page becomes public, its pending
    follow requests are accepted (one `follow.accepted` each, `was_requested` true).
    """
    ensure_owner(page, actor)
    page = Page.objects.select_for_update().get(pk=page.pk)
    changes = _validated_changes(page, fields)
    if "tags" in fields:
        new_tags = normalize_tags(fields["tags"])
        if sorted(new_tags) != _page_tag_names(page):
            _set_tags(page, new_tags)
            changes["tags"] = sorted(new_tags)
    if not changes:
        return page
    for key, value in changes.items():
        if key != "tags":
            setattr(page, key, value)
    _save_unique(page)
    accepted = accept_pending_follows(page=page) if changes.get("is_private") is False else []
    append_event(PageUpdated(page_id=page.pk, owner_id=page.owner_id, changes=changes), actor_id=actor.pk)
    append_events(list(accepted), actor_id=actor.pk)
    return page


def _post_deleted_events(page: Page) -> list[EventPayload]:
    """`post.deleted` for each post, replies before their parents (descending id).

    Each event's `replies_count` leaves out the replies of this page already reported, so a
    consumer folding the events one by one ends where the database does.
    """
    rows = list(
        Post.objects.filter(page=page)
        .order_by("-id")
        .values("id", "reply_to_id", "reply_to__page_id", "likes_count", "replies_count")
    )
    own_ids = {row["id"] for row in rows}
    internal_replies = Counter(row["reply_to_id"] for row in rows if row["reply_to_id"] in own_ids)
    return [
        PostDeleted(
            post_id=row["id"],
            page_id=page.pk,
            page_owner_id=page.owner_id,
            reply_to_id=row["reply_to_id"],
            reply_to_page_id=row["reply_to__page_id"],
            likes_count=row["likes_count"],
            replies_count=row["replies_count"] - internal_replies[row["id"]],
            by_staff=False,
            reason=PAGE_DELETED_REASON,
        )
        for row in rows
    ]


def _decrement_foreign_parents(page: Page) -> None:
    """Other pages' posts lose the replies this page wrote under them."""
    replies_from_page = (
        Post.objects.filter(page=page, reply_to=OuterRef("pk"))
        .order_by()
        .values("reply_to")
        .annotate(n=Count("id"))
        .values("n")
    )
    parents = Post.objects.filter(replies__page=page).exclude(page=page).distinct()
    Post.objects.filter(pk__in=parents.values("pk")).update(
        replies_count=F("replies_count") - Subquery(replies_from_page)
    )


def _lock_involved_posts(page: Page) -> None:
    """Lock the page's posts, the posts they reply to and the replies under them, by id.

    A parent's id is below its replies', so ascending id order agrees with the posts'
    "parent before reply" lock order; the counts reported below are then exact (a like locks
    its post first).
    """
    own = Post.objects.filter(page=page).values("pk")
    involved = Q(page=page) | Q(pk__in=own.values("reply_to")) | Q(reply_to__in=own)
    list(Post.objects.select_for_update().filter(involved).order_by("id").values_list("id", flat=True))


@transaction.atomic
def page_delete(*, page: Page, actor: User) -> None:
    """Delete a page with its posts; appends `post.deleted` per post, then `page.deleted`."""
    ensure_owner(page, actor)
    page = Page.objects.select_for_update().get(pk=page.pk)
    _lock_involved_posts(page)
    events = [*_post_deleted_events(page), PageDeleted(page_id=page.pk, owner_id=page.owner_id)]
    _decrement_foreign_parents(page)
    page.delete()
    # Appended after the cascade so the event-log lock is held only until the commit.
    append_events(events, actor_id=actor.pk)


# --- tags and image --------------------------------------------------------------------------


def _tags_changed(page: Page, actor: User, tags: list[str]) -> Page:
    append_event(
        PageUpdated(page_id=page.pk, owner_id=page.owner_id, changes={"tags": tags}), actor_id=actor.pk
    )
    return page


@transaction.atomic
def page_tag_add(*, page: Page, actor: User, name: str) -> Page:
    """Add one tag (owner only); appends `page.updated` unless the page already has it."""
    ensure_owner(page, actor)
    page = Page.objects.select_for_update().get(pk=page.pk)
    tags = _page_tag_names(page)
    tag = normalize_tag(name)
    if tag in tags:
        return page
    new_tags = normalize_tags([*tags, tag])
    _set_tags(page, new_tags)
    return _tags_changed(page, actor, sorted(new_tags))


@transaction.atomic
def page_tag_remove(*, page: Page, actor: User, name: str) -> Page:
    """Remove one tag (owner only); appends `page.updated`; a tag the page lacks is a 404."""
    ensure_owner(page, actor)
    page = Page.objects.select_for_update().get(pk=page.pk)
    tags = _page_tag_names(page)
    tag = name.strip().lower()
    if tag not in tags:
        raise TagNotOnPage()
    page.tags.remove(*Tag.objects.filter(name=tag))
    return _tags_changed(page, actor, [t for t in tags if t != tag])


@transaction.atomic
def page_image_set(*, page: Page, actor: User, upload: UploadedFile) -> Page:
    """Store a new page image (owner only); appends `page.image_changed`."""
    ensure_owner(page, actor)
    page = Page.objects.select_for_update().get(pk=page.pk)
    with image_replacement(upload, prefix=f"pages/{page.pk}", old_key=page.image_key) as key:
        page.image_key = key
        page.save(update_fields=["image_key", "updated_at"])
        append_event(
            PageImageChanged(page_id=page.pk, owner_id=page.owner_id, image_key=key), actor_id=actor.pk
        )
    return page


# --- blocks ----------------------------------------------------------------------------------


def _validate_block(actor: User, until: datetime | None, reason: str) -> None:
    ensure_staff(actor)
    if until is None and not actor.is_admin_role:
        raise AdminOnly("Only admins may block a page permanently.")
    if until is not None and (timezone.is_naive(until) or until <= timezone.now()):
        raise ValidationFailed.field("until", "Must be a future date-time with a UTC offset.")
    _validate_text("reason", reason, min_length=0, max_length=REASON_MAX_LENGTH)


@transaction.atomic
def page_block(*, page: Page, actor: User, until: datetime | None, reason: str) -> Page:
    """Block a page until `until` (None: permanently, admins only); staff only; appends `page.blocked`."""
    _validate_block(actor, until, reason)
    page = Page.objects.select_for_update().get(pk=page.pk)
    _ensure_may_change_block(page, actor)
    page.blocked_until = until
    page.blocked_permanently = until is None
    page.blocked_reason = reason
    page.save(update_fields=["blocked_until", "blocked_permanently", "blocked_reason", "updated_at"])
    append_event(
        PageBlocked(page_id=page.pk, owner_id=page.owner_id, until=until, reason=reason), actor_id=actor.pk
    )
    return page


def _ensure_may_change_block(page: Page, actor: User) -> None:
    """A permanent block is an admin's decision: only an admin turns it into a timed one or lifts it."""
    if page.blocked_permanently and not actor.is_admin_role:
        raise AdminOnly("Only admins may change or lift a permanent block.")


def _clear_block(page: Page) -> None:
    page.blocked_until = None
    page.blocked_permanently = False
    page.blocked_reason = ""
    page.save(update_fields=["blocked_until", "blocked_permanently", "blocked_reason", "updated_at"])


@transaction.atomic
def page_unblock(*, page: Page, actor: User) -> Page:
    """Lift a page's own block (staff only); appends `page.unblocked` if a block was set.

    A block through the owner's user block stays until the user is unblocked.
    """
    ensure_staff(actor)
    page = Page.objects.select_for_update().get(pk=page.pk)
    if not page.blocked_permanently and page.blocked_until is None:
        return page
    _ensure_may_change_block(page, actor)
    _clear_block(page)
    append_event(PageUnblocked(page_id=page.pk, owner_id=page.owner_id, expired=False), actor_id=actor.pk)
    return page


@transaction.atomic
def page_unblock_expired(*, now: datetime | None = None) -> int:
    """Clear timed blocks that have ended; appends `page.unblocked` (expired, no actor) for each."""
    now = now or timezone.now()
    pages = list(
        Page.objects.select_for_update(skip_locked=True)
        .filter(blocked_until__isnull=False, blocked_until__lte=now)
        .order_by("id")
        .only("id", "owner_id")
    )
    Page.objects.filter(pk__in=[p.pk for p in pages]).update(
        blocked_until=None, blocked_reason="", updated_at=timezone.now()
    )
    append_events(
        [PageUnblocked(page_id=p.pk, owner_id=p.owner_id, expired=True) for p in pages], actor_id=None
    )
    return len(pages)
