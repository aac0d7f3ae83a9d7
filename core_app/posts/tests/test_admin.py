"""The post admin: read-only records; deletion through the service, with a reason."""

from __future__ import annotations

import pytest
from django.test import Client

from core_app.posts.models import Post
from core_app.posts.tests.conftest import events_of
from core_app.testing.factories import AdminFactory, ModeratorFactory, PostFactory, UserFactory
from events.models import StoredEvent

pytestmark = pytest.mark.django_db

CHANGELIST = "/admin/posts/post/"


def logged_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def delete_action(client: Client, posts, **extra):
    data = {"action": "delete_posts", "_selected_action": [str(p.pk) for p in posts], **extra}
    return client.post(CHANGELIST, data)


def test_staff_lists_and_searches_posts() -> None:
    PostFactory(content="needle in a haystack")
    PostFactory(content="just hay")
    client = logged_in(ModeratorFactory())

    response = client.get(CHANGELIST, {"q": "needle"})

    assert response.status_code == 200
    assert b"needle in a haystack" in response.content
    assert b"just hay" not in response.content


def test_users_cannot_open_the_post_admin() -> None:
    response = logged_in(UserFactory()).get(CHANGELIST)
    assert response.status_code == 302  # to the admin login


def test_posts_cannot_be_edited_or_deleted_directly() -> None:
    post = PostFactory(content="original")
    client = logged_in(AdminFactory())

    client.post(f"{CHANGELIST}{post.pk}/change/", {"content": "edited"})
    assert client.post(f"{CHANGELIST}{post.pk}/delete/", {"post": "yes"}).status_code == 403

    post.refresh_from_db()
    assert post.content == "original"
    assert client.get(f"{CHANGELIST}add/").status_code == 403


def test_delete_action_asks_for_a_reason_then_deletes_through_the_service() -> None:
    moderator = ModeratorFactory()
    posts = PostFactory.create_batch(2)
    client = logged_in(moderator)

    form = delete_action(client, posts)
    assert form.status_code == 200
    assert b'name="reason"' in form.content
    assert Post.objects.count() == 2

    done = delete_action(client, posts, apply="1", reason="spam")

    assert done.status_code == 302
    assert not Post.objects.exists()
    deleted = events_of("post.deleted")
    assert {e["post_id"] for e in deleted} == {p.pk for p in posts}
    assert {(e["by_staff"], e["reason"]) for e in deleted} == {(True, "spam")}
    actors = StoredEvent.objects.filter(type="post.deleted").values_list("actor_id", flat=True)
    assert set(actors) == {moderator.pk}


def test_delete_action_requires_a_reason() -> None:
    post = PostFactory()
    response = delete_action(logged_in(ModeratorFactory()), [post], apply="1", reason="")

    assert response.status_code == 200  # the form again, with its error
    assert Post.objects.filter(pk=post.pk).exists()
    assert events_of("post.deleted") == []
