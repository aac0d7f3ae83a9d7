"""Likes stay exact when many transactions hit the same post at once (real connections)."""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest
from django.db import connection

from core_app.posts.models import Like, Post
from core_app.posts.services import post_delete, post_like
from core_app.testing.factories import PostFactory, UserFactory
from core_app.users.models import User
from events.models import StoredEvent

pytestmark = pytest.mark.django_db(transaction=True)

THREADS = 8


def run_at_once(calls: list[Callable[[], object]]) -> list[BaseException]:
    """Run each call in its own thread (own DB connection), released together; returns errors."""
    barrier = threading.Barrier(len(calls))
    errors: list[BaseException] = []

    def worker(call: Callable[[], object]) -> None:
        try:
            barrier.wait(timeout=30)
            call()
        except BaseException as exc:  # collected and asserted on by the test
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker, args=(call,)) for call in calls]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in threads)
    return errors


def _like(user: User, post_id: int) -> Callable[[], object]:
    return lambda: post_like(user=user, post_id=post_id)


def test_different_users_liking_at_once_count_exactly() -> None:
    post = PostFactory()
    users = UserFactory.create_batch(THREADS)

    assert run_at_once([_like(u, post.pk) for u in users]) == []

    post.refresh_from_db()
    assert post.likes_count == THREADS == Like.objects.filter(post=post).count()
    liked_by = StoredEvent.objects.filter(type="post.liked").values_list("payload__user_id", flat=True)
    assert sorted(liked_by) == sorted(u.pk for u in users)


def test_one_user_liking_at_once_counts_once() -> None:
    post = PostFactory()
    fan = UserFactory()

    assert run_at_once([_like(fan, post.pk) for _ in range(THREADS)]) == []

    post.refresh_from_db()
    assert post.likes_count == 1 == Like.objects.filter(post=post).count()
    assert StoredEvent.objects.filter(type="post.liked").count() == 1


def test_a_deletion_racing_likes_reports_the_likes_it_removed() -> None:
    post = PostFactory()
    users = UserFactory.create_batch(THREADS - 1)
    delete = lambda: post_delete(actor=post.page.owner, post_id=post.pk)  # noqa: E731

    errors = run_at_once([*(_like(u, post.pk) for u in users), delete])

    # A like that lost the race finds no post (NotFound); nothing else may fail.
    assert all(type(e).__name__ == "NotFound" for e in errors)
    assert not Post.objects.filter(pk=post.pk).exists()
    liked = StoredEvent.objects.filter(type="post.liked").count()
    deleted = StoredEvent.objects.get(type="post.deleted")
    assert deleted.payload["likes_count"] == liked == len(users) - len(errors)
