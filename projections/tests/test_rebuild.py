"""Rebuilding the feed from the log gives exactly the live feed, and sends no e-mail."""

from __future__ import annotations

import contextlib
import random
from unittest import mock

import pytest
from django.core.management import call_command

from core_app.common.exceptions import ApplicationError
from core_app.pages import follows as follow_services
from core_app.pages import services as page_services
from core_app.pages.models import Follow, Page
from core_app.posts import services as post_services
from core_app.posts.models import Post
from core_app.testing.factories import AdminFactory, UserFactory
from core_app.users import services as user_services
from core_app.users.models import User
from events.append import to_envelope
from events.models import StoredEvent
from projections import consumer
from projections.feed import store
from projections.feed.work import InlineFeedWork
from projections.models import AppliedEvent, EmailDelivery, FeedFollow, FeedPage, FeedPost
from projections.tests.conftest import BASE_TIME

pytestmark = pytest.mark.django_db


def applied_feed_events() -> int:
    from projections.feed.handlers import HANDLERS

    return StoredEvent.objects.filter(type__in=HANDLERS).count()


def feed_state() -> dict[str, list[tuple]]:
    return {
        "feeds": store.all_feeds(),
        "follows": sorted(FeedFollow.objects.values_list("page_id", "user_id")),
        "pages": sorted(
            FeedPage.objects.values_list(
                "page_id", "owner_id", "blocked", "owner_blocked", "read_time_merge", "deleted"
            )
        ),
        "posts": sorted(FeedPost.objects.values_list("post_id", "page_id", "deleted")),
    }


class LiveProjection:
    """Applies each newly appended event as the live consumer would (e-mail planning included)."""

    def __init__(self) -> None:
        self.position = 0
        self.queue_emails = mock.Mock()

    def catch_up(self) -> None:
        for stored in StoredEvent.objects.filter(position__gt=self.position).order_by("position"):
            consumer.process_event(
                to_envelope(stored).model_dump_json().encode(), InlineFeedWork(), self.queue_emails
            )
            self.position = stored.position


class History:
    """A random but reproducible history written through the real services."""

    def __init__(self, seed: int, live: LiveProjection) -> None:
        self.rng = random.Random(seed)
        self.live = live
        self.admin = AdminFactory()
        self.users = UserFactory.create_batch(8)
        self.pages = [
            page_services.page_create(
                owner=u, name=f"Page {i}", uuid=f"hist-{seed}-{i}", is_private=i % 4 == 0
            )
            for i, u in enumerate(self.users)
        ]
        live.catch_up()

    def step(self) -> None:
        action = self.rng.choice(
            ["follow"] * 5
            + ["post"] * 6
            + [
                "unfollow",
                "reject",
                "delete_post",
                "block",
                "unblock",
                "unblock",
                "block_user",
                "unblock_user",
                "unblock_user",
                "accept",
            ]
        )
        # Refused actions (e.g. posting to a blocked page) append nothing; the history goes on.
        with contextlib.suppress(ApplicationError):
            getattr(self, action)()
        self.live.catch_up()

    def _pick(self, queryset):
        items = list(queryset.order_by("pk"))
        return self.rng.choice(items) if items else None

    def _page(self) -> Page:
        return Page.objects.get(pk=self.rng.choice(self.pages).pk)

    def follow(self) -> None:
        follow_services.follow_create(page=self._page(), user=self.rng.choice(self.users))

    def accept(self) -> None:
        page = self._page()
        follow_services.follow_requests_accept(page=page, actor=page.owner, all_requests=True)

    def unfollow(self) -> None:
        follow = self._pick(Follow.objects)
        if follow:
            follow_services.follow_delete(page=follow.page, user=follow.follower)

    def reject(self) -> None:
        follow = self._pick(Follow.objects)
        if follow:
            follow_services.follow_requests_reject(
                page=follow.page, actor=follow.page.owner, user_ids=[follow.follower_id]
            )

    def post(self) -> None:
        page = self._page()
        parent = self._pick(Post.objects) if self.rng.random() < 0.2 else None
        post_services.post_create(
            author=page.owner, page_id=page.pk, content="hello", reply_to_id=parent.pk if parent else None
        )

    def delete_post(self) -> None:
        post = self._pick(Post.objects)
        if post:
            post_services.post_delete(actor=post.page.owner, post_id=post.pk)

    def block(self) -> None:
        page_services.page_block(page=self._page(), actor=self.admin, until=None, reason="spam")

    def unblock(self) -> None:
        page = self._pick(Page.objects.filter(blocked_permanently=True))
        if page:
            page_services.page_unblock(page=page, actor=self.admin)

    def block_user(self) -> None:
        user_services.user_block(actor=self.admin, user=self.rng.choice(self.users), reason="spam")

    def unblock_user(self) -> None:
        user = self._pick(User.objects.filter(is_blocked=True))
        if user:
            user_services.user_unblock(actor=self.admin, user=user)

    def delete_a_page(self) -> None:
        page = self.pages.pop()
        page = Page.objects.get(pk=page.pk)
        page_services.page_delete(page=page, actor=page.owner)
        self.live.catch_up()


@pytest.mark.parametrize("seed", [1, 2])
def test_rebuild_from_the_log_equals_the_live_feed(seed, settings) -> None:
    settings.FEED_BACKFILL_POSTS = 3
    settings.FEED_MAX_ENTRIES = 6
    settings.FEED_FANOUT_MAX_FOLLOWERS = 5
    live = LiveProjection()
    history = History(seed, live)
    for _ in range(250):
        history.step()
    history.delete_a_page()
    for _ in range(50):
        history.step()

    types = set(StoredEvent.objects.values_list("type", flat=True))
    assert {
        "follow.accepted",
        "follow.removed",
        "follow.rejected",
        "post.deleted",
        "page.blocked",
        "page.unblocked",
        "user.blocked",
        "user.unblocked",
        "page.deleted",
    } <= types
    live_state = feed_state()
    assert sum(len(feed) for feed in live_state["feeds"].values()) > 20
    assert max(len(feed) for feed in live_state["feeds"].values()) == 6  # each write trims to the cap
    emails_before = EmailDelivery.objects.count()
    email_applied = AppliedEvent.objects.filter(consumer="email").count()

    with mock.patch("projections.notifications.send_post_notifications") as send:
        call_command("rebuild_feed", "--no-progress")

    assert feed_state() == live_state
    send.assert_not_called()
    assert EmailDelivery.objects.count() == emails_before
    assert AppliedEvent.objects.filter(consumer="email").count() == email_applied
    assert (
        AppliedEvent.objects.filter(consumer="feed").count()
        == AppliedEvent.objects.filter(consumer="feed").count()
    )


def test_rebuild_repairs_a_damaged_projection() -> None:
    live = LiveProjection()
    history = History(7, live)
    for _ in range(80):
        history.step()
    expected = feed_state()
    assert expected["feeds"]
    store.clear()
    store.fanout_to(store.PostRef(10**9, 1, BASE_TIME), [10**6])  # a feed no event made
    FeedFollow.objects.filter(pk__in=FeedFollow.objects.values("pk")[:3]).delete()
    call_command("rebuild_feed", "--no-progress")
    assert feed_state() == expected
