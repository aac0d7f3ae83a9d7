"""Follow, unfollow, followers, follow requests and the owner's decisions over HTTP."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from core_app.pages.models import Follow, FollowStatus, Page
from core_app.pages.tests.conftest import detail, error_code, event_types, payloads
from core_app.testing.factories import FollowFactory, PageFactory, UserFactory

pytestmark = pytest.mark.django_db


def followers_count(page):
    return Page.objects.get(pk=page.pk).followers_count


def requests_for(page, n):
    return [FollowFactory(page=page, status=FollowStatus.PENDING, accepted_at=None) for _ in range(n)]


# --- follow / unfollow ---------------------------------------------------------------------


def test_follow_public_page(page, user_client):
    response = user_client.post(detail(page, "follow/"))
    assert (response.status_code, response.json()) == (200, {"status": "following"})
    assert user_client.get(detail(page)).json()["follow_status"] == "following"
    assert followers_count(page) == 1
    assert payloads("follow.accepted")[0]["was_requested"] is False


def test_follow_private_page_requests(private_page, user_client):
    response = user_client.post(detail(private_page, "follow"))
    assert (response.status_code, response.json()) == (200, {"status": "requested"})
    assert user_client.get(detail(private_page)).json()["follow_status"] == "requested"
    assert event_types() == ["follow.requested"]


def test_follow_twice_returns_current_status(private_page, user_client):
    user_client.post(detail(private_page, "follow/"))
    response = user_client.post(detail(private_page, "follow/"))
    assert response.json() == {"status": "requested"}
    assert event_types() == ["follow.requested"]


def test_owner_following_own_page_is_a_conflict(owner, page, client_for):
    response = client_for(owner).post(detail(page, "follow/"))
    assert response.status_code == 409
    assert error_code(response) == "conflict"


def test_follow_blocked_page_is_not_found(user_client):
    page = PageFactory(blocked_permanently=True)
    assert user_client.post(detail(page, "follow/")).status_code == 404
    assert not Follow.objects.exists()


def test_follow_without_auth(api_client, page):
    assert api_client.post(detail(page, "follow/")).status_code == 401


def test_unfollow(page, user, user_client):
    user_client.post(detail(page, "follow/"))
    response = user_client.delete(detail(page, "follow/"))
    assert response.status_code == 204
    assert followers_count(page) == 0
    assert payloads("follow.removed") == [
        {
            "page_id": page.pk,
            "page_owner_id": page.owner_id,
            "follower_id": user.pk,
            "previous_status": "accepted",
        }
    ]


def test_unfollow_when_not_following(page, user_client):
    response = user_client.delete(detail(page, "follow"))
    assert response.status_code == 404
    assert error_code(response) == "not_found"


# --- followers -----------------------------------------------------------------------------


def test_followers_for_owner_and_staff(owner, page, client_for, moderator):
    follows = [FollowFactory(page=page) for _ in range(3)]
    requests_for(page, 1)
    for viewer in (owner, moderator):
        response = client_for(viewer).get(detail(page, "followers/"))
        assert response.status_code == 200
        results = response.json()["results"]
        assert [u["id"] for u in results] == [f.follower_id for f in reversed(follows)]
        assert {"id", "username", "avatar_url"} <= set(results[0])


def test_followers_are_private_to_owner_and_staff(page, user_client):
    response = user_client.get(detail(page, "followers/"))
    assert response.status_code == 403


def test_followers_paginate(owner, page, client_for):
    FollowFactory.create_batch(5, page=page)
    client = client_for(owner)
    seen, url = [], detail(page, "followers/?limit=2")
    while url:
        body = client.get(url).json()
        seen += [u["id"] for u in body["results"]]
        url = body["next"]
    assert len(seen) == len(set(seen)) == 5


def _count_queries(client, url):
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(url)
    assert response.status_code == 200
    return len(ctx), len(response.json()["results"])


@pytest.mark.parametrize(
    ("suffix", "status"), [("followers/", FollowStatus.ACCEPTED), ("follow-requests/", FollowStatus.PENDING)]
)
def test_follow_lists_use_a_constant_number_of_queries(
    owner, client_for, suffix, status, django_assert_num_queries
):
    client = client_for(owner)
    small, big = PageFactory(owner=owner), PageFactory(owner=owner)
    extra = {"accepted_at": None} if status == FollowStatus.PENDING else {}
    for page, n in ((small, 2), (big, 20)):
        FollowFactory.create_batch(n, page=page, status=status, **extra)
    few = _count_queries(client, detail(small, suffix))
    many = _count_queries(client, detail(big, suffix))
    assert (few[1], many[1]) == (2, 20)
    assert few[0] == many[0]
    with django_assert_num_queries(few[0]):
        client.get(detail(big, suffix))


# --- follow requests -----------------------------------------------------------------------


def test_follow_requests_oldest_first(owner, private_page, client_for):
    requests = requests_for(private_page, 3)
    FollowFactory(page=private_page)
    response = client_for(owner).get(detail(private_page, "follow-requests/"))
    assert response.status_code == 200
    items = response.json()["results"]
    assert [i["user"]["id"] for i in items] == [r.follower_id for r in requests]
    assert set(items[0]) == {"user", "created_at"}


@pytest.mark.parametrize("who", ["user", "moderator"])
def test_follow_requests_are_for_the_owner(private_page, client_for, request, who):
    response = client_for(request.getfixturevalue(who)).get(detail(private_page, "follow-requests/"))
    assert response.status_code == 403


def test_accept_named_requests(owner, private_page, client_for):
    requests = requests_for(private_page, 3)
    ids = [requests[0].follower_id, requests[2].follower_id, 999_999]
    response = client_for(owner).post(
        detail(private_page, "follow-requests/accept/"), {"user_ids": ids}, format="json"
    )
    assert (response.status_code, response.json()) == (200, {"accepted": 2})
    assert followers_count(private_page) == 2
    assert len(payloads("follow.accepted")) == 2


def test_accept_all(owner, private_page, client_for):
    requests_for(private_page, 4)
    response = client_for(owner).post(
        detail(private_page, "follow-requests/accept"), {"all": True}, format="json"
    )
    assert response.json() == {"accepted": 4}
    assert followers_count(private_page) == 4


def test_reject_named_including_accepted_followers(owner, private_page, client_for):
    follower = FollowFactory(page=private_page)
    Page.objects.filter(pk=private_page.pk).update(followers_count=1)
    (request,) = requests_for(private_page, 1)
    body = {"user_ids": [follower.follower_id, request.follower_id]}
    response = client_for(owner).post(detail(private_page, "follow-requests/reject/"), body, format="json")
    assert response.json() == {"rejected": 2}
    assert followers_count(private_page) == 0
    assert sorted(p["previous_status"] for p in payloads("follow.rejected")) == ["accepted", "pending"]


def test_reject_all(owner, private_page, client_for):
    requests_for(private_page, 2)
    response = client_for(owner).post(
        detail(private_page, "follow-requests/reject/"), {"all": True}, format="json"
    )
    assert response.json() == {"rejected": 2}
    assert not Follow.objects.exists()


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"all": False},
        {"all": "true"},
        {"all": True, "user_ids": [1]},
        {"user_ids": "1"},
        {"user_ids": ["1"]},
        {"user_ids": [0]},
        {"user_ids": [2**64]},
        {"user_ids": [True]},
        {"user_ids": list(range(1, 10_002))},
    ],
)
@pytest.mark.parametrize("verb", ["accept", "reject"])
def test_decisions_reject_bad_bodies(owner, private_page, client_for, body, verb):
    response = client_for(owner).post(detail(private_page, f"follow-requests/{verb}/"), body, format="json")
    assert response.status_code == 400
    assert error_code(response) == "validation_error"


@pytest.mark.parametrize("verb", ["accept", "reject"])
def test_decisions_are_for_the_owner(private_page, user_client, verb):
    requests_for(private_page, 1)
    response = user_client.post(
        detail(private_page, f"follow-requests/{verb}/"), {"all": True}, format="json"
    )
    assert response.status_code == 403
    assert Follow.objects.filter(status=FollowStatus.PENDING).count() == 1


def test_followers_count_exact_over_the_api(owner, client_for):
    page = PageFactory(owner=owner, is_private=True)
    fans = UserFactory.create_batch(5)
    for fan in fans:
        client_for(fan).post(detail(page, "follow/"))
    owner_client = client_for(owner)
    owner_client.post(
        detail(page, "follow-requests/accept/"), {"user_ids": [f.pk for f in fans[:3]]}, format="json"
    )
    client_for(fans[0]).delete(detail(page, "follow/"))
    owner_client.post(detail(page, "follow-requests/reject/"), {"user_ids": [fans[1].pk]}, format="json")
    owner_client.post(detail(page, "follow-requests/accept/"), {"all": True}, format="json")
    data = owner_client.get(detail(page)).json()
    assert (
        data["followers_count"] == Follow.objects.filter(page=page, status=FollowStatus.ACCEPTED).count() == 3
    )
