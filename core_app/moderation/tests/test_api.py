from __future__ import annotations

import base64
from datetime import timedelta

import pytest
from django.db import transaction
from django.utils import timezone

from core_app.pages.services import page_block, page_unblock
from core_app.posts.services import post_delete, post_like
from core_app.testing.factories import PageFactory, PostFactory, UserFactory
from core_app.users.services import user_block, user_change_role
from events.append import append_event
from events.contracts import PageUnblocked, UserBlocked
from events.models import StoredEvent

pytestmark = pytest.mark.django_db

URL = "/api/v1/audit/"
ITEM_KEYS = {"id", "event_id", "type", "actor", "target_type", "target_id", "data", "occurred_at"}


def types(response) -> list[str]:
    return [item["type"] for item in response.json()["results"]]


@pytest.fixture
def staff_client(client_for, moderator):
    return client_for(moderator)


@pytest.fixture
def history(moderator, admin_user):
    """Moderation acts through the real services, plus ordinary events that must not show."""
    page = PageFactory()
    post = PostFactory(page=page)
    page_block(page=page, actor=moderator, until=timezone.now() + timedelta(days=1), reason="spam")
    page_unblock(page=page, actor=moderator)
    post_like(user=UserFactory(), post_id=post.pk)  # not moderation
    post_delete(actor=moderator, post_id=post.pk, reason="abuse")
    post_delete(actor=page.owner, post_id=PostFactory(page=page).pk)  # the owner's own: not moderation
    blocked = UserFactory()
    user_block(actor=admin_user, user=blocked, reason="troll")
    promoted = UserFactory()
    user_change_role(actor=admin_user, user=promoted, role="moderator")
    return {"page": page, "post": post, "blocked": blocked, "promoted": promoted}


def test_lists_moderation_events_newest_first(staff_client, history, moderator, admin_user) -> None:
    response = staff_client.get(URL)

    assert response.status_code == 200
    assert types(response) == [
        "user.role_changed",
        "user.blocked",
        "post.deleted",
        "page.unblocked",
        "page.blocked",
    ]
    items = response.json()["results"]
    assert all(set(item) == ITEM_KEYS for item in items)
    role_change, _, deletion, _, block = items
    assert role_change["actor"] == {"id": admin_user.pk, "username": admin_user.username}
    assert (role_change["target_type"], role_change["target_id"]) == ("user", history["promoted"].pk)
    assert role_change["data"] == {
        "user_id": history["promoted"].pk,
        "old_role": "user",
        "new_role": "moderator",
    }
    assert (deletion["target_type"], deletion["target_id"]) == ("post", history["post"].pk)
    assert (deletion["data"]["reason"], deletion["data"]["by_staff"]) == ("abuse", True)
    assert block["actor"]["id"] == moderator.pk
    assert block["data"]["reason"] == "spam"
    assert items[0]["id"] > items[1]["id"]
    assert response.json()["next"] is None


def test_filter_by_target(staff_client, history) -> None:
    page, blocked = history["page"], history["blocked"]

    by_page = staff_client.get(URL, {"target_type": "page", "target_id": str(page.pk)})
    by_user = staff_client.get(URL, {"target_type": "user", "target_id": str(blocked.pk)})
    all_posts = staff_client.get(URL, {"target_type": "post"})

    assert types(by_page) == ["page.unblocked", "page.blocked"]
    assert types(by_user) == ["user.blocked"]
    assert types(all_posts) == ["post.deleted"]


def test_a_user_block_shows_in_the_history_of_the_users_pages(staff_client, admin_user) -> None:
    page = PageFactory()
    user_block(actor=admin_user, user=page.owner, reason="troll")

    response = staff_client.get(URL, {"target_type": "page", "target_id": str(page.pk)})

    assert types(response) == ["user.blocked"]


def test_filter_by_actor(staff_client, history, admin_user, moderator) -> None:
    assert types(staff_client.get(URL, {"actor": str(admin_user.pk)})) == [
        "user.role_changed",
        "user.blocked",
    ]
    assert len(types(staff_client.get(URL, {"actor": str(moderator.pk)}))) == 3
    assert types(staff_client.get(URL, {"actor": "999999"})) == []


def test_events_without_an_actor(staff_client) -> None:
    with transaction.atomic():
        append_event(PageUnblocked(page_id=7, owner_id=8, expired=True), actor_id=None)

    [item] = staff_client.get(URL).json()["results"]

    assert (item["actor"], item["target_id"], item["data"]["expired"]) == (None, 7, True)


@pytest.mark.parametrize(
    "params",
    [
        {"target_type": "comment"},
        {"target_type": "1"},
        {"target_id": "5"},
        {"target_type": "page", "target_id": "x"},
        {"target_type": "page", "target_id": "0"},
        {"target_type": "page", "target_id": str(2**64)},
        {"target_type": "page", "target_id": "²"},
        {"actor": "-3"},
        {"actor": "abc"},
        {"limit": "0"},
        {"cursor": "!!"},
        {"cursor": base64.b64encode(b"p=abc").decode()},
    ],
)
def test_invalid_filters_are_400(staff_client, params) -> None:
    response = staff_client.get(URL, params)
    assert (response.status_code, response.json()["error"]["code"]) == (400, "validation_error")


def test_staff_only(client_for, user_client, api_client, admin_user) -> None:
    denied = user_client.get(URL)
    assert (denied.status_code, denied.json()["error"]["code"]) == (403, "permission_denied")
    assert api_client.get(URL).status_code == 401
    assert client_for(admin_user).get("/api/v1/audit").status_code == 200


def test_cursor_pagination_walks_every_event_once(staff_client) -> None:
    with transaction.atomic():
        for i in range(5):
            append_event(UserBlocked(user_id=i + 1, reason="r", page_ids=[]), actor_id=None)

    first = staff_client.get(URL, {"limit": "2"}).json()
    second = staff_client.get(first["next"]).json()
    third = staff_client.get(second["next"]).json()

    seen = [item["target_id"] for page in (first, second, third) for item in page["results"]]
    assert seen == [5, 4, 3, 2, 1]
    assert third["next"] is None


def test_query_count_is_constant(staff_client, django_assert_num_queries) -> None:
    def fill(n: int) -> None:
        actors = UserFactory.create_batch(n)
        with transaction.atomic():
            for actor in actors:
                append_event(UserBlocked(user_id=actor.pk, reason="r", page_ids=[]), actor_id=actor.pk)

    fill(2)
    with django_assert_num_queries(2):  # the caller, the events with their actors
        assert len(staff_client.get(URL, {"limit": "100"}).json()["results"]) == 2
    fill(18)
    with django_assert_num_queries(2):
        assert len(staff_client.get(URL, {"limit": "100"}).json()["results"]) == 20
    assert StoredEvent.objects.filter(is_moderation=True).count() == 20
