"""followers_count under truly concurrent transactions (separate connections)."""

from functools import partial

import pytest

from core_app.common.exceptions import NotFound
from core_app.pages import services
from core_app.pages.models import Follow, FollowStatus, Page
from core_app.posts.services import post_like
from core_app.testing.concurrency import run_at_once
from core_app.testing.factories import PageFactory, PostFactory, UserFactory
from core_app.users.models import User
from events.models import StoredEvent

pytestmark = pytest.mark.django_db(transaction=True)


def _follow(page_id, user_id):
    services.follow_create(page=Page.objects.get(pk=page_id), user=User.objects.get(pk=user_id))


def _unfollow(page_id, user_id):
    services.follow_delete(page=Page.objects.get(pk=page_id), user=User.objects.get(pk=user_id))


def test_concurrent_follows_and_repeats_keep_the_count_exact():
    page = PageFactory()
    fans = UserFactory.create_batch(12)
    # Every fan follows twice at once: one follow, one no-op.
    assert run_at_once([partial(_follow, page.pk, fan.pk) for fan in fans for _ in range(2)]) == []
    assert Page.objects.get(pk=page.pk).followers_count == 12
    assert StoredEvent.objects.filter(type="follow.accepted").count() == 12
    assert run_at_once([partial(_unfollow, page.pk, fan.pk) for fan in fans[:5]]) == []
    assert Page.objects.get(pk=page.pk).followers_count == 7 == Follow.objects.filter(page=page).count()


def test_going_public_while_requests_arrive_leaves_no_pending_request():
    owner = UserFactory()
    page = PageFactory(owner=owner, is_private=True)
    fans = UserFactory.create_batch(10)

    def publish():
        services.page_update(page=Page.objects.get(pk=page.pk), actor=owner, is_private=False)

    calls = [partial(_follow, page.pk, fan.pk) for fan in fans]
    calls.insert(5, publish)
    assert run_at_once(calls) == []
    assert not Follow.objects.filter(page=page, status=FollowStatus.PENDING).exists()
    assert Page.objects.get(pk=page.pk).followers_count == 10
    accepted = StoredEvent.objects.filter(type="follow.accepted").count()
    requested = StoredEvent.objects.filter(type="follow.requested").count()
    assert accepted == 10 and requested == sum(
        1 for e in StoredEvent.objects.filter(type="follow.accepted") if e.payload["was_requested"]
    )


def test_page_deletion_reports_exact_like_counts_under_concurrent_likes():
    owner = UserFactory()
    page = PageFactory(owner=owner)
    posts = PostFactory.create_batch(3, page=page)
    fans = UserFactory.create_batch(12)

    def like(user_id, post_id):
        post_like(user=User.objects.get(pk=user_id), post_id=post_id)

    def delete():
        services.page_delete(page=Page.objects.get(pk=page.pk), actor=owner)

    calls = [partial(like, fan.pk, posts[i % 3].pk) for i, fan in enumerate(fans)]
    calls.insert(6, delete)
    errors = run_at_once(calls)
    # A like that lost the race finds no post; nothing else may fail.
    assert all(isinstance(error, NotFound) for error in errors)
    deleted = {e.payload["post_id"]: e for e in StoredEvent.objects.filter(type="post.deleted")}
    assert set(deleted) == {p.pk for p in posts}
    for post_id, event in deleted.items():
        likes_before = StoredEvent.objects.filter(
            type="post.liked", aggregate_id=str(post_id), position__lt=event.position
        ).count()
        assert event.payload["likes_count"] == likes_before
