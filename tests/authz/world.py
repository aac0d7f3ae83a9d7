"""The fixture world of the authorization matrix: one owner's public, private and blocked pages
with a post each, and one user per kind of caller."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.utils import timezone

from core_app.pages.models import FollowStatus, Page
from core_app.posts.models import Post
from core_app.testing.factories import (
    AdminFactory,
    FollowFactory,
    ModeratorFactory,
    PageFactory,
    PostFactory,
    TagFactory,
    UserFactory,
)
from core_app.users.models import User
from core_app.users.services import user_login

PASSWORD = "Sup3r-secret-pass"  # the factories' password
# What the statistics service answers for a page (the core passes it through).
STATS = {
    "page_id": 1,
    "posts": 1,
    "followers": 1,
    "follow_requests": 1,
    "likes": 0,
    "replies": 0,
    "updated_at": "2026-12-01T10:00:00Z",
    "daily": [{"date": "2026-12-01", "posts": 1, "likes": 0, "followers": 1}],
}
CALLERS = ("anonymous", "stranger", "owner", "follower", "pending", "moderator", "admin", "blocked")


@dataclass
class World:
    users: dict[str, User]
    pages: dict[str, Page]
    posts: dict[str, Post]

    def caller(self, name: str) -> User | None:
        return None if name == "anonymous" else self.users[name]

    def refresh_token(self, name: str) -> str:
        """A live refresh token of that user's own session."""
        return user_login(email=self.users[name].email, password=PASSWORD).refresh


def build_world() -> World:
    """owner: public, private and blocked (by an admin, for a day) pages, each with a post and the
    tag `t1`; follower: an accepted follower of all three; pending: a pending request to the
    private page; blocked: a user blocked by an admin; stranger, moderator, admin: no relation."""
    users: dict[str, Any] = {
        "stranger": UserFactory(),
        "owner": UserFactory(),
        "follower": UserFactory(),
        "pending": UserFactory(),
        "moderator": ModeratorFactory(),
        "admin": AdminFactory(),
        "blocked": UserFactory(is_blocked=True, blocked_reason="spam", blocked_at=timezone.now()),
    }
    owner = users["owner"]
    pages = {
        "public": PageFactory(owner=owner),
        "private": PageFactory(owner=owner, is_private=True),
        "blocked": PageFactory(
            owner=owner, blocked_until=timezone.now() + timedelta(days=1), blocked_reason="spam"
        ),
    }
    tag = TagFactory(name="t1")
    for page in pages.values():
        page.tags.add(tag)
        FollowFactory(page=page, follower=users["follower"])
        page.followers_count = 1  # kept by the services; the factories write rows directly
        page.save(update_fields=["followers_count"])
    FollowFactory(
        page=pages["private"], follower=users["pending"], status=FollowStatus.PENDING, accepted_at=None
    )
    posts = {name: PostFactory(page=page) for name, page in pages.items()}
    return World(users=users, pages=pages, posts=posts)
