"""A random but reproducible history written through the core's services."""

from __future__ import annotations

import contextlib
import random
from typing import Any

from django.db.models import QuerySet

from core_app.common.exceptions import ApplicationError
from core_app.pages.follows import (
    follow_create,
    follow_delete,
    follow_requests_accept,
    follow_requests_reject,
)
from core_app.pages.models import Follow, FollowStatus, Page
from core_app.pages.services import page_create, page_delete
from core_app.posts.models import Like, Post
from core_app.posts.services import post_create, post_delete, post_like, post_unlike
from core_app.testing.factories import UserFactory
from core_app.users.models import User


def core_figures(page: Page) -> dict[str, int]:
    """What the core's database says about a page: the figures the statistics must equal."""
    return {
        "posts": Post.objects.filter(page=page).count(),
        "followers": Follow.objects.filter(page=page, status=FollowStatus.ACCEPTED).count(),
        "follow_requests": Follow.objects.filter(page=page, status=FollowStatus.PENDING).count(),
        "likes": Like.objects.filter(post__page=page).count(),
        "replies": Post.objects.filter(reply_to__page=page).count(),
    }


class History:
    """Users, pages and a seeded sequence of posts, replies, likes, follows and deletions."""

    def __init__(self, seed: int, *, users: int = 6) -> None:
        self.rng = random.Random(seed)
        self.users: list[User] = [UserFactory() for _ in range(users)]
        self.pages: list[Page] = []
        for i, owner in enumerate(self.users):
            self.pages.append(
                page_create(owner=owner, name=f"Page {i}", uuid=f"h{seed}-{i}", is_private=i % 3 == 0)
            )

    def run(self, steps: int) -> None:
        actions = [self.post, self.post, self.reply, self.like, self.like, self.unlike, self.follow]
        actions += [self.unfollow, self.accept, self.reject, self.delete_post]
        for _ in range(steps):
            # A move the rules refuse (e.g. following one's own page) writes nothing: no event.
            with contextlib.suppress(ApplicationError):
                self.rng.choice(actions)()

    def _page(self) -> Page:
        return self.rng.choice(self.pages)

    def _user(self) -> User:
        return self.rng.choice(self.users)

    def _pick(self, queryset: QuerySet[Any]) -> Any:
        rows = list(queryset.order_by("id"))
        return self.rng.choice(rows) if rows else None

    def _public_post(self) -> Post | None:
        post: Post | None = self._pick(Post.objects.filter(page__in=self.pages, page__is_private=False))
        return post

    def post(self) -> None:
        page = self._page()
        post_create(author=page.owner, page_id=page.pk, content="hello")

    def reply(self) -> None:
        parent, page = self._public_post(), self._page()
        if parent is not None:
            post_create(author=page.owner, page_id=page.pk, content="reply", reply_to_id=parent.pk)

    def like(self) -> None:
        post = self._public_post()
        if post is not None:
            post_like(user=self._user(), post_id=post.pk)

    def unlike(self) -> None:
        like = self._pick(Like.objects.filter(post__page__in=self.pages))
        if like is not None:
            post_unlike(user=like.user, post_id=like.post_id)

    def follow(self) -> None:
        follow_create(page=self._page(), user=self._user())

    def unfollow(self) -> None:
        follow = self._pick(Follow.objects.filter(page__in=self.pages))
        if follow is not None:
            follow_delete(page=follow.page, user=follow.follower)

    def accept(self) -> None:
        self._decide(follow_requests_accept)

    def reject(self) -> None:
        self._decide(follow_requests_reject, include_accepted=True)

    def _decide(self, service: Any, *, include_accepted: bool = False) -> None:
        follows = Follow.objects.filter(page__in=self.pages)
        if not include_accepted:
            follows = follows.filter(status=FollowStatus.PENDING)
        follow = self._pick(follows)
        if follow is not None:
            service(page=follow.page, actor=follow.page.owner, user_ids=[follow.follower_id])

    def delete_post(self) -> None:
        post = self._pick(Post.objects.filter(page__in=self.pages))
        if post is not None:
            post_delete(actor=post.page.owner, post_id=post.pk)

    def delete_page(self, page: Page) -> None:
        page_delete(page=page, actor=page.owner)
        self.pages.remove(page)
