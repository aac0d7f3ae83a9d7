"""Blocking and unblocking pages over HTTP, and the command that ends timed blocks."""

from datetime import timedelta
from io import StringIO
from unittest import mock

import pytest
from django.core.management import call_command
from django.utils import timezone

from core_app.pages.models import Page
from core_app.pages.tests.conftest import URL, detail, error_code, events, payloads
from core_app.testing.factories import PageFactory

pytestmark = pytest.mark.django_db


def in_hours(hours):
    return (timezone.now() + timedelta(hours=hours)).isoformat()


def test_moderator_blocks_for_a_while(page, moderator, client_for, user_client):
    until = in_hours(2)
    response = client_for(moderator).post(
        detail(page, "block/"), {"until": until, "reason": "spam"}, format="json"
    )
    assert response.status_code == 200, response.content
    data = response.json()
    assert data["is_blocked"] is True
    assert timezone.datetime.fromisoformat(data["unblock_date"]) == timezone.datetime.fromisoformat(until)
    assert user_client.get(detail(page)).status_code == 404
    (event,) = events("page.blocked")
    assert (event.actor_id, event.payload["reason"]) == (moderator.pk, "spam")


def test_admin_blocks_permanently(page, admin_user, client_for):
    response = client_for(admin_user).post(
        detail(page, "block"), {"until": None, "reason": "abuse"}, format="json"
    )
    assert response.status_code == 200
    assert (response.json()["is_blocked"], response.json()["unblock_date"]) == (True, None)
    assert payloads("page.blocked")[0]["until"] is None


def test_moderator_may_not_block_permanently(page, moderator, client_for):
    response = client_for(moderator).post(
        detail(page, "block/"), {"until": None, "reason": "x"}, format="json"
    )
    assert response.status_code == 403
    assert error_code(response) == "permission_denied"
    assert events() == []


def test_user_may_not_block(page, user_client, owner, client_for):
    for client in (user_client, client_for(owner)):
        response = client.post(detail(page, "block/"), {"until": in_hours(1), "reason": "x"}, format="json")
        assert response.status_code == 403


def test_block_without_auth(api_client, page):
    assert (
        api_client.post(detail(page, "block/"), {"until": None, "reason": "x"}, format="json").status_code
        == 401
    )


@pytest.mark.parametrize(
    "body",
    [
        {"until": (timezone.now() - timedelta(minutes=1)).isoformat(), "reason": "x"},
        {"until": (timezone.now() + timedelta(days=1)).replace(tzinfo=None).isoformat(), "reason": "x"},
        {"until": "tomorrow", "reason": "x"},
        {"until": 1234567890, "reason": "x"},
        {"until": "99999-01-01T00:00:00+00:00", "reason": "x"},
        {"until": "9999-12-31T23:59:59-23:59", "reason": "x"},
        {"until": None, "reason": 5},
        {"until": None, "reason": "r" * 501},
        {"until": None},
        {"reason": "x"},
    ],
)
def test_block_rejects_bad_bodies(page, admin_user, client_for, body):
    response = client_for(admin_user).post(detail(page, "block/"), body, format="json")
    assert response.status_code == 400, response.content
    assert error_code(response) == "validation_error"


def test_block_of_missing_page(admin_user, client_for):
    response = client_for(admin_user).post(
        f"{URL}424242/block/", {"until": None, "reason": "x"}, format="json"
    )
    assert response.status_code == 404


def test_unblock(moderator, client_for, user_client):
    page = PageFactory(blocked_until=timezone.now() + timedelta(days=1), blocked_reason="x")
    response = client_for(moderator).post(detail(page, "unblock/"))
    assert response.status_code == 200
    assert response.json()["is_blocked"] is False
    assert user_client.get(detail(page)).status_code == 200
    (event,) = events("page.unblocked")
    assert (event.actor_id, event.payload["expired"]) == (moderator.pk, False)


def test_only_an_admin_lifts_a_permanent_block(moderator, admin_user, client_for):
    page = PageFactory(blocked_permanently=True, blocked_reason="x")
    assert client_for(moderator).post(detail(page, "unblock/")).status_code == 403
    assert events("page.unblocked") == []
    assert client_for(admin_user).post(detail(page, "unblock/")).json()["is_blocked"] is False


def test_unblock_keeps_a_block_through_the_owner(admin_user, client_for):
    page = PageFactory(blocked_permanently=True, owner__is_blocked=True)
    assert client_for(admin_user).post(detail(page, "unblock/")).json()["is_blocked"] is True


def test_user_may_not_unblock(owner, client_for):
    page = PageFactory(owner=owner, blocked_permanently=True)
    assert client_for(owner).post(detail(page, "unblock/")).status_code == 403
    assert Page.objects.get(pk=page.pk).blocked_permanently


def test_command_unblocks_expired_pages():
    ended = PageFactory(blocked_until=timezone.now() + timedelta(minutes=1))
    out = StringIO()
    later = timezone.now() + timedelta(minutes=2)
    with mock.patch("django.utils.timezone.now", return_value=later):
        call_command("unblock_expired_pages", stdout=out)
    assert "Unblocked 1 page(s)." in out.getvalue()
    assert Page.objects.get(pk=ended.pk).blocked_until is None
    assert payloads("page.unblocked") == [{"page_id": ended.pk, "owner_id": ended.owner_id, "expired": True}]
