"""The hand-written forms of the visibility rules (Python, SQL) agree with the Q objects."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from core_app.feed.selectors import readable_feed_posts
from core_app.pages.models import FollowStatus, Page
from core_app.pages.selectors import page_with_owner
from core_app.pages.visibility import (
    blocked_page_q,
    blocked_page_sql,
    can_read_posts_of,
    can_see_page,
    feed_posts_q,
    readable_posts_q,
    visible_pages_q,
)
from core_app.posts.models import Post
from core_app.testing.factories import FollowFactory, ModeratorFactory, PageFactory, PostFactory, UserFactory
from core_app.users.models import User

pytestmark = pytest.mark.django_db


@pytest.fixture
def world() -> tuple[list[User], list[Page]]:
    """Pages in every state, each with a post, and viewers in every relation to them."""
    owner, follower, requester, stranger = UserFactory.create_batch(4)
    now = timezone.now()
    blocked_owner = UserFactory(is_blocked=True)
    pages = [
        PageFactory(owner=owner),
        PageFactory(owner=owner, is_private=True),
        PageFactory(owner=owner, blocked_permanently=True),
        PageFactory(owner=owner, blocked_until=now + timedelta(hours=1)),
        PageFactory(owner=owner, blocked_until=now - timedelta(hours=1)),
        PageFactory(owner=owner, is_private=True, blocked_until=now + timedelta(hours=1)),
        PageFactory(owner=blocked_owner),
        PageFactory(owner=blocked_owner, is_private=True),
    ]
    for page in pages:
        PostFactory(page=page)
        FollowFactory(page=page, follower=follower)
        FollowFactory(page=page, follower=requester, status=FollowStatus.PENDING, accepted_at=None)
    viewers = [owner, follower, requester, stranger, blocked_owner, ModeratorFactory()]
    return viewers, pages


def test_blocked_page_sql_is_blocked_page_q(world: tuple[list[User], list[Page]]) -> None:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT page.id FROM pages_page AS page JOIN users_user AS owner ON owner.id = page.owner_id"
            f" WHERE {blocked_page_sql('page', 'owner')}",
            {"now": timezone.now()},
        )
        by_sql = {row[0] for row in cursor.fetchall()}
    assert by_sql == set(Page.objects.filter(blocked_page_q()).values_list("pk", flat=True))
    assert len(by_sql) == 5


def test_page_rules_for_one_loaded_page_are_the_queries(world: tuple[list[User], list[Page]]) -> None:
    viewers, pages = world
    for viewer in viewers:
        visible = set(Page.objects.filter(visible_pages_q(viewer)).values_list("pk", flat=True))
        readable = set(Page.objects.filter(readable_posts_q(viewer, prefix="")).values_list("pk", flat=True))
        for page in pages:
            loaded = page_with_owner(page.pk)
            assert loaded is not None
            assert can_see_page(viewer, loaded) == (page.pk in visible), (viewer, page)
            assert can_read_posts_of(viewer, loaded) == (page.pk in readable), (viewer, page)


def test_feed_posts_sql_is_feed_posts_q(world: tuple[list[User], list[Page]]) -> None:
    viewers, _ = world
    ids = sorted(Post.objects.values_list("pk", flat=True), reverse=True)
    for viewer in viewers:
        in_feed = Post.objects.filter(feed_posts_q(viewer)).order_by("-id")
        expected = list(in_feed.values_list("pk", flat=True))
        found = readable_feed_posts(viewer=viewer, ids=ids, count=100)
        assert [post.pk for post in found] == expected, viewer
        assert all(post.page.pk == post.page_id for post in found)


def test_page_with_owner_loads_what_the_orm_loads(world: tuple[list[User], list[Page]]) -> None:
    _, pages = world
    page = Page.objects.select_related("owner").get(pk=pages[3].pk)
    loaded = page_with_owner(page.pk, lock=False)
    assert loaded is not None
    fields = [f.attname for f in Page._meta.concrete_fields]
    assert [getattr(loaded, f) for f in fields] == [getattr(page, f) for f in fields]
    assert loaded.owner == page.owner and loaded.owner.username == page.owner.username
    assert page_with_owner(10**12) is None
