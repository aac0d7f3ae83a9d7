"""Likes stay exact when many transactions hit the same post at once (real connections)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from core_app.posts.models import Like, Post
from core_app.posts.services import post_create, post_delete, post_like
from core_app.testing.concurrency import run_at_once
from core_app.testing.factories import PageFactory, PostFactory, UserFactory
from core_app.users.models import User
from events.models import StoredEvent

pytestmark = pytest.mark.django_db(transaction=True)

THREADS = 8


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


def test_likes_at_once_each_answer_the_count_they_made() -> None:
    post = PostFactory()
    counts: list[int] = []

    def like(user: User) -> Callable[[], object]:
        return lambda: counts.append(post_like(user=user, post_id=post.pk).likes_count)

    assert run_at_once([like(u) for u in UserFactory.create_batch(THREADS)]) == []

    assert sorted(counts) == list(range(1, THREADS + 1))


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


def test_replies_written_at_once_count_exactly() -> None:
    parent = PostFactory()
    pages = PageFactory.create_batch(THREADS)

    def reply(page_id: int, author: User) -> Callable[[], object]:
        return lambda: post_create(author=author, page_id=page_id, content="re", reply_to_id=parent.pk)

    assert run_at_once([reply(p.pk, p.owner) for p in pages]) == []

    parent.refresh_from_db()
    assert parent.replies_count == THREADS == Post.objects.filter(reply_to=parent).count()
    assert StoredEvent.objects.filter(type="post.created", payload__reply_to_id=parent.pk).count() == THREADS


def test_a_parent_and_its_replies_deleted_at_once_neither_deadlock_nor_drift() -> None:
    grandparent = PostFactory()
    parent = PostFactory(reply_to=grandparent)
    replies = PostFactory.create_batch(THREADS - 1, reply_to=parent)
    Post.objects.filter(pk=grandparent.pk).update(replies_count=1)
    Post.objects.filter(pk=parent.pk).update(replies_count=len(replies))

    owners = {p.pk: p.page.owner for p in [parent, *replies]}  # loaded here, not in the threads
    calls = [lambda p=p: post_delete(actor=owners[p.pk], post_id=p.pk) for p in [parent, *replies]]
    assert run_at_once(calls) == []

    grandparent.refresh_from_db()
    assert grandparent.replies_count == 0
    assert not Post.objects.exclude(pk=grandparent.pk).exists()
    deleted = StoredEvent.objects.filter(type="post.deleted")
    [parent_event] = [e.payload for e in deleted if e.payload["post_id"] == parent.pk]
    # Replies deleted before the parent name it; the parent reports the ones left under it.
    reply_events = [e.payload for e in deleted if e.payload["post_id"] != parent.pk]
    deleted_first = sum(1 for e in reply_events if e["reply_to_id"] == parent.pk)
    assert parent_event["replies_count"] == len(replies) - deleted_first
