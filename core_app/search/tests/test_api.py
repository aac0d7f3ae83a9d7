from __future__ import annotations

from unittest import mock

import pytest

from core_app.pages.models import Page
from core_app.testing.factories import FollowFactory, PageFactory, UserFactory
from core_app.users.models import User

pytestmark = pytest.mark.django_db

URL = "/api/v1/search/"


def search(client, q: str, **params):
    return client.get(URL, {"q": q, **params})


def page_ids(response) -> list[int]:
    return [p["id"] for p in response.json()["pages"]]


def user_ids(response) -> list[int]:
    return [u["id"] for u in response.json()["users"]]


def test_pages_match_by_name_handle_or_tag_case_insensitively(user_client) -> None:
    by_name = PageFactory(name="Jazz Club", uuid="club-one")
    by_uuid = PageFactory(name="Club two", uuid="the-JAZZ-corner")
    by_tag = PageFactory(name="Blue notes", uuid="blue-notes", tags=["smoothjazz"])
    PageFactory(name="Rock", uuid="rock", tags=["guitar"])

    response = search(user_client, "jAzZ")

    assert response.status_code == 200
    assert set(page_ids(response)) == {by_name.pk, by_uuid.pk, by_tag.pk}
    assert set(response.json()) == {"pages", "users"}


def test_page_results_are_full_page_objects(user, user_client) -> None:
    page = PageFactory(name="Findme", tags=["b", "a"], is_private=True)
    FollowFactory(page=page, follower=user, status="pending", accepted_at=None)

    [item] = search(user_client, "findme").json()["pages"]

    assert (item["id"], item["tags"], item["follow_status"], item["is_private"]) == (
        page.pk,
        ["a", "b"],
        "requested",
        True,
    )


def test_exact_then_prefix_then_similar(user_client) -> None:
    partial = PageFactory(name="The cat house", uuid="p-house")
    prefix = PageFactory(name="Catalogue", uuid="p-catalogue")
    exact = PageFactory(name="Cat", uuid="p-cat-page")
    handle = PageFactory(name="Meow", uuid="CAT")

    ranked = page_ids(search(user_client, "cat"))

    assert set(ranked[:2]) == {exact.pk, handle.pk}
    assert ranked[2:] == [prefix.pk, partial.pk]


def test_users_match_by_username_first_or_last_name(user_client) -> None:
    a = UserFactory(username="marigold", first_name="X", last_name="Y")
    b = UserFactory(username="zz1", first_name="Gold", last_name="Y")
    c = UserFactory(username="zz2", first_name="X", last_name="Goldberg")
    UserFactory(username="silver", first_name="X", last_name="Y")

    response = search(user_client, "GOLD")

    assert set(user_ids(response)) == {a.pk, b.pk, c.pk}
    assert user_ids(response)[0] == b.pk  # exact first name
    assert "email" not in response.json()["users"][0]


def test_like_wildcards_are_taken_literally(user_client) -> None:
    literal = UserFactory(username="a_b", first_name="X", last_name="Y")
    UserFactory(username="axb", first_name="X", last_name="Y")
    PageFactory(name="100 percent", uuid="hundred")

    assert user_ids(search(user_client, "a_b")) == [literal.pk]
    assert page_ids(search(user_client, "%")) == []
    assert page_ids(search(user_client, "\\")) == []


def test_blocked_pages_and_users_are_for_staff_only(client_for, user_client, moderator) -> None:
    timed = PageFactory(name="hidden timed", blocked_until="2999-01-01T00:00:00Z")
    permanent = PageFactory(name="hidden permanent", blocked_permanently=True)
    blocked_owner = UserFactory(username="hiddenowner", is_blocked=True)
    owners_page = PageFactory(name="hidden owner's", owner=blocked_owner)
    visible = PageFactory(name="hidden in plain sight", is_private=True)

    as_user = search(user_client, "hidden")
    as_staff = search(client_for(moderator), "hidden")

    assert page_ids(as_user) == [visible.pk]
    assert user_ids(as_user) == []
    assert set(page_ids(as_staff)) == {timed.pk, permanent.pk, owners_page.pk, visible.pk}
    assert user_ids(as_staff) == [blocked_owner.pk]


def test_an_owner_does_not_find_their_own_blocked_page(client_for) -> None:
    page = PageFactory(name="mine", blocked_permanently=True)
    assert page_ids(search(client_for(page.owner), "mine")) == []


def test_limit_applies_to_each_list(user_client) -> None:
    PageFactory.create_batch(5, name="many pages")
    UserFactory.create_batch(5, first_name="many")

    response = search(user_client, "many", limit="3")

    assert (len(response.json()["pages"]), len(response.json()["users"])) == (3, 3)


@pytest.mark.parametrize(
    "params",
    [
        {},
        {"q": ""},
        {"q": "   "},
        {"q": "x" * 101},
        {"q": "a\x00b"},
        {"q": "x", "limit": "0"},
        {"q": "x", "limit": "-1"},
        {"q": "x", "limit": "²"},
    ],
)
def test_bad_queries_are_400(user_client, params) -> None:
    response = user_client.get(URL, params)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "validation_error"


def test_q_is_trimmed_and_100_characters_are_fine(user_client) -> None:
    page = PageFactory(name="trim")
    assert page_ids(search(user_client, "  trim  ")) == [page.pk]
    assert search(user_client, "y" * 100 + "   ").status_code == 200


def test_anonymous_is_401(api_client) -> None:
    response = api_client.get(URL, {"q": "x"})
    assert (response.status_code, response.json()["error"]["code"]) == (401, "not_authenticated")


def test_without_trailing_slash(user_client) -> None:
    assert user_client.get("/api/v1/search", {"q": "x"}).status_code == 200


def test_query_count_is_constant(user_client, django_assert_num_queries) -> None:
    def fill(n: int) -> None:
        for i in range(n):
            PageFactory(name=f"bulk page {i}", tags=[f"bulk{i}"])
            UserFactory(first_name="bulk")

    fill(2)
    # the caller, the pages, their tags, the users
    with django_assert_num_queries(4):
        response = search(user_client, "bulk", limit="100")
    assert (len(page_ids(response)), len(user_ids(response))) == (2, 2)
    fill(18)
    with django_assert_num_queries(4):
        response = search(user_client, "bulk", limit="100")
    assert (len(page_ids(response)), len(user_ids(response))) == (20, 20)


def test_the_view_passes_the_trimmed_query_and_limit_to_both_selectors(user, user_client) -> None:
    with (
        mock.patch("core_app.search.views.page_search", return_value=Page.objects.none()) as pages,
        mock.patch("core_app.search.views.user_search", return_value=User.objects.none()) as users,
    ):
        response = search(user_client, "  a b  ", limit="500")

    assert response.json() == {"pages": [], "users": []}
    for selector in (pages, users):
        selector.assert_called_once_with(viewer=user, q="a b", limit=100)
