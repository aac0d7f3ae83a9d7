"""E-mail preferences, digest preview, digest run and the one-click unsubscribe, over HTTP."""

from __future__ import annotations

from unittest import mock

import pytest

from core_app.notifications.services import unsubscribe_token
from core_app.testing.factories import FollowFactory, PageFactory, PostFactory, UserFactory
from core_app.users.models import EmailFrequency
from events.models import StoredEvent

pytestmark = pytest.mark.django_db
URL = "/api/v1/users/me/notifications"


def events_of(type_: str) -> list[dict]:
    return list(StoredEvent.objects.filter(type=type_).order_by("position").values_list("payload", flat=True))


def test_default_is_instant_at_seven_on_monday(user_client) -> None:
    response = user_client.get(URL)
    assert response.status_code == 200
    assert response.json() == {"email": "instant", "hour": 7, "weekday": "monday"}


def test_patch_changes_the_preference_and_appends_one_event(user, user_client) -> None:
    response = user_client.patch(URL, {"email": "weekly", "hour": 18, "weekday": "friday"}, format="json")
    assert response.json() == {"email": "weekly", "hour": 18, "weekday": "friday"}
    user.refresh_from_db()
    assert (user.email_frequency, user.digest_hour, user.digest_weekday) == ("weekly", 18, 4)
    assert events_of("user.notifications_changed") == [
        {"user_id": user.pk, "email": "weekly", "hour": 18, "weekday": "friday", "via": "api"}
    ]
    user_client.patch(URL, {"hour": 18}, format="json")  # no change: no event
    assert len(events_of("user.notifications_changed")) == 1


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"email": "hourly"}, "email"),
        ({"email": 1}, "email"),
        ({"hour": 24}, "hour"),
        ({"hour": "7"}, "hour"),
        ({"weekday": "funday"}, "weekday"),
    ],
)
def test_a_wrong_value_is_a_validation_error_on_the_field(user_client, body, field) -> None:
    response = user_client.patch(URL, body, format="json")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "validation_error"
    assert field in response.json()["error"]["details"]


def test_the_boolean_opt_out_maps_to_off_and_back(user, user_client) -> None:
    user_client.patch(URL, {"email": "daily"}, format="json")
    user_client.patch("/api/v1/users/me", {"email_notifications": False}, format="json")
    assert user_client.get(URL).json()["email"] == "off"
    user_client.patch("/api/v1/users/me", {"email_notifications": True}, format="json")
    assert user_client.get(URL).json()["email"] == "daily"
    user_client.patch(URL, {"email": "off"}, format="json")
    assert user_client.get("/api/v1/users/me").json()["email_notifications"] is False


def test_preview_shows_the_next_digest(user, user_client) -> None:
    page = PageFactory(name="Daily Rust")
    FollowFactory(follower=user, page=page)
    posts = [PostFactory(page=page) for _ in range(22)]
    body = user_client.get("/api/v1/users/me/digest/preview").json()
    assert [p["id"] for p in body["posts"]] == [p.pk for p in reversed(posts)][:20]
    assert body["posts"][0]["page"]["name"] == "Daily Rust"
    assert body["more"] == 2
    assert (body["new_followers"], body["follow_requests"], body["likes_received"]) == (0, 0, 0)
    assert "period_start" in body


def test_run_is_for_admins_only(user_client) -> None:
    assert user_client.post("/api/v1/digests/run", {"period": "daily"}, format="json").status_code == 403


def test_run_queues_the_period_and_answers_202(admin_user, client_for) -> None:
    with mock.patch("projections.digests.tasks.digests_plan.apply_async") as queued:
        response = client_for(admin_user).post("/api/v1/digests/run", {"period": "weekly"}, format="json")
    assert response.status_code == 202
    assert response.json()["period"] == "weekly"
    period, _, every_user = queued.call_args.kwargs["args"]
    assert (period, every_user) == ("weekly", True)


def test_run_refuses_a_wrong_period(admin_user, client_for) -> None:
    response = client_for(admin_user).post("/api/v1/digests/run", {"period": "hourly"}, format="json")
    assert response.status_code == 400 and "period" in response.json()["error"]["details"]


def test_one_click_unsubscribe_without_login(api_client) -> None:
    user = UserFactory(email_frequency=EmailFrequency.DAILY)
    url = f"/api/v1/digests/unsubscribe/{unsubscribe_token(user.pk)}"
    response = api_client.post(
        url, "List-Unsubscribe=One-Click", content_type="application/x-www-form-urlencoded"
    )
    assert response.status_code == 200 and response.json() == {"email": "off"}
    user.refresh_from_db()
    assert user.email_notifications is False
    assert events_of("user.notifications_changed")[-1]["via"] == "unsubscribe"


def test_a_changed_token_does_nothing(api_client) -> None:
    user, other = UserFactory(), UserFactory()
    token = unsubscribe_token(user.pk)
    forged = unsubscribe_token(other.pk).split(":")[0] + ":" + token.split(":")[1]
    for bad in (token[:-1] + ("A" if token[-1] != "A" else "B"), forged, "garbage"):
        response = api_client.post(f"/api/v1/digests/unsubscribe/{bad}")
        assert 400 <= response.status_code < 500
    user.refresh_from_db()
    other.refresh_from_db()
    assert user.email_notifications and other.email_notifications
    assert events_of("user.notifications_changed") == []


def test_opening_the_link_shows_a_button_and_changes_nothing(api_client) -> None:
    user = UserFactory(email_frequency=EmailFrequency.DAILY)
    response = api_client.get(f"/api/v1/digests/unsubscribe/{unsubscribe_token(user.pk)}")
    assert response.status_code == 200 and response["Content-Type"].startswith("text/html")
    assert b'<form method="post">' in response.content
    user.refresh_from_db()
    assert user.email_notifications is True
    assert api_client.get("/api/v1/digests/unsubscribe/garbage").status_code == 400
