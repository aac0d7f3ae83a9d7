"""Regressions of the outside probe's findings: one test per finding, each through HTTP."""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from unittest import mock

import pytest
import yaml
from django.utils import timezone
from rest_framework.test import APIClient

from core_app.pages.models import Follow, FollowStatus, Page
from core_app.pages.serializers import MAX_USER_IDS
from core_app.testing.factories import PageFactory, PostFactory, UserFactory
from core_app.users.models import User

pytestmark = pytest.mark.django_db

PASSWORD = "Sup3r-secret-pass"


def _schema_paths(client: APIClient) -> list[str]:
    return list(yaml.safe_load(client.get("/api/schema/").content)["paths"])


@pytest.mark.parametrize("path", ["/api/v1/users/me/avatar", "/api/v1/users/me/avatar/"])
def test_options_on_the_avatar_route_answers_its_metadata(user_client: APIClient, path: str) -> None:
    response = user_client.options(path)
    assert response.status_code == 200
    assert response.json()["name"]


def test_options_answers_on_every_path_of_the_schema(user: User, user_client: APIClient) -> None:
    page = PageFactory(owner=user, tags=["news"])
    post = PostFactory(page=page)
    ids = {"{id}": str(page.pk), "{page_id}": str(page.pk), "{tag_name}": "news"}
    paths = _schema_paths(user_client)
    assert len(paths) > 30
    for path in paths:
        url = path.replace("{id}", str(post.pk)) if path.startswith("/api/v1/posts/{id}") else path
        for name, value in ids.items():
            url = url.replace(name, value)
        response = user_client.options(url)
        assert response.status_code < 500, (url, response.status_code)
        if "/stats/" not in url:
            assert response.status_code in (200, 403, 404), (url, response.status_code)


@pytest.mark.parametrize("field", ["first_name", "last_name"])
@pytest.mark.parametrize("value", ["Ann\x1b[31m", "Ann\x04", "\x7fAnn", "An\x85n"])
def test_names_refuse_control_characters(user_client: APIClient, field: str, value: str) -> None:
    response = user_client.patch("/api/v1/users/me", {field: value}, format="json")
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "validation_error" and field in error["details"]


def test_names_keep_ordinary_text(user_client: APIClient) -> None:
    response = user_client.patch("/api/v1/users/me", {"first_name": "Zoë-Anne O'Neil"}, format="json")
    assert (response.status_code, response.json()["first_name"]) == (200, "Zoë-Anne O'Neil")


def test_registration_refuses_control_characters(api_client: APIClient) -> None:
    body = {"email": "c@example.com", "username": "ctrl", "password": PASSWORD, "first_name": "A\x1bB"}
    response = api_client.post("/api/v1/auth/register", body, format="json")
    assert response.status_code == 400
    assert "first_name" in response.json()["error"]["details"]


def _private_page_with_requests(owner: User, count: int) -> Page:
    page = PageFactory(owner=owner, is_private=True)
    followers = UserFactory.create_batch(count)
    Follow.objects.bulk_create(Follow(page=page, follower=f, status=FollowStatus.PENDING) for f in followers)
    return page


@pytest.mark.parametrize("decision", ["accept", "reject"])
def test_follow_decisions_by_id_are_capped(owner: User, client_for: Any, decision: str) -> None:
    page = _private_page_with_requests(owner, 2)
    url = f"/api/v1/pages/{page.pk}/follow-requests/{decision}/"
    too_many = list(range(1, MAX_USER_IDS + 2))
    response = client_for(owner).post(url, {"user_ids": too_many}, format="json")
    assert response.status_code == 400
    assert "user_ids" in response.json()["error"]["details"]
    assert Follow.objects.filter(page=page, status=FollowStatus.PENDING).count() == 2
    at_cap = [*Follow.objects.filter(page=page).values_list("follower_id", flat=True)]
    at_cap += list(range(10**9, 10**9 + MAX_USER_IDS - len(at_cap)))
    response = client_for(owner).post(url, {"user_ids": at_cap}, format="json")
    assert response.status_code == 200


def test_the_cap_is_documented_in_the_schema(api_client: APIClient) -> None:
    assert f"at most {MAX_USER_IDS:,} per call" in api_client.get("/api/schema/").content.decode()


def test_refresh_revoked_by_a_block_says_so(api_client: APIClient, admin_user: User, client_for: Any) -> None:
    user = UserFactory()
    pair = api_client.post("/api/v1/auth/login", {"email": user.email, "password": PASSWORD}, format="json")
    blocked = client_for(admin_user).post(
        f"/api/v1/users/{user.pk}/block/", {"reason": "spam"}, format="json"
    )
    assert blocked.status_code == 200
    response = api_client.post("/api/v1/auth/refresh", {"refresh": pair.json()["refresh"]}, format="json")
    assert response.status_code == 401
    assert "revoked" in response.json()["error"]["message"]


def test_refresh_after_logout_says_revoked_and_reuse_still_says_used(
    api_client: APIClient, user: User
) -> None:
    login = api_client.post("/api/v1/auth/login", {"email": user.email, "password": PASSWORD}, format="json")
    first = login.json()
    second = api_client.post("/api/v1/auth/refresh", {"refresh": first["refresh"]}, format="json").json()
    reused = api_client.post("/api/v1/auth/refresh", {"refresh": first["refresh"]}, format="json")
    assert "already been used" in reused.json()["error"]["message"]
    # The reuse ended the whole session: the newer token is now revoked, not "used".
    after = api_client.post("/api/v1/auth/refresh", {"refresh": second["refresh"]}, format="json")
    assert after.status_code == 401 and "revoked" in after.json()["error"]["message"]


def _permanently_blocked(admin_client: APIClient) -> Page:
    page = PageFactory()
    body = {"until": None, "reason": "abuse"}
    assert admin_client.post(f"/api/v1/pages/{page.pk}/block/", body, format="json").status_code == 200
    page.refresh_from_db()
    assert page.blocked_permanently
    return page


def test_a_moderator_can_neither_shorten_nor_lift_a_permanent_block(client_for: Any, admin_user, moderator):
    page = _permanently_blocked(client_for(admin_user))
    mod = client_for(moderator)
    until = (timezone.now() + timedelta(hours=1)).isoformat()
    shorten = mod.post(f"/api/v1/pages/{page.pk}/block/", {"until": until, "reason": "x"}, format="json")
    lift = mod.post(f"/api/v1/pages/{page.pk}/unblock/")
    for response in (shorten, lift):
        assert response.status_code == 403
        assert response.json()["error"]["code"] == "permission_denied"
    page.refresh_from_db()
    assert page.blocked_permanently and page.blocked_until is None


def test_an_admin_may_change_a_permanent_block_and_a_moderator_a_timed_one(client_for, admin_user, moderator):
    page = _permanently_blocked(client_for(admin_user))
    until = (timezone.now() + timedelta(hours=1)).isoformat()
    body = {"until": until, "reason": "shorter"}
    assert (
        client_for(admin_user).post(f"/api/v1/pages/{page.pk}/block/", body, format="json").status_code == 200
    )
    assert client_for(moderator).post(f"/api/v1/pages/{page.pk}/unblock/").status_code == 200
    page.refresh_from_db()
    assert not page.blocked_permanently and page.blocked_until is None


@pytest.mark.parametrize(
    "path", ["/api/v1/auth/login", "/api/v1/auth/refresh", "/api/v1/auth/register", "/api/v1/pages/"]
)
def test_an_oversized_json_body_is_413_before_it_is_parsed(
    settings, user_client: APIClient, path: str
) -> None:
    settings.REQUEST_BODY_MAX_BYTES = 64 * 1024
    body = b'{"name": "n", "uuid": "big-page", "junk": "' + b"x" * (80 * 1024) + b'"}'
    with mock.patch("core_app.common.parsers.StrictJSONParser.parse") as parse:
        response = user_client.generic("POST", path, body, content_type="application/json")
    assert response.status_code == 413
    assert response.json()["error"] == {
        "code": "request_too_large",
        "message": "The request body is too large.",
        "details": {"max_bytes": 64 * 1024},
    }
    parse.assert_not_called()
    assert not Page.objects.filter(uuid="big-page").exists()


def test_the_default_body_limit_refuses_20_mib(user_client: APIClient) -> None:
    body = b'{"name": "n", "uuid": "huge", "junk": "' + b"x" * (20 * 1024 * 1024) + b'"}'
    response = user_client.generic("POST", "/api/v1/pages/", body, content_type="application/json")
    assert response.status_code == 413
    assert not Page.objects.filter(uuid="huge").exists()


def test_an_oversized_upload_is_413_file_too_large(settings, user_client: APIClient) -> None:
    size = settings.UPLOAD_MAX_BYTES + 128 * 1024
    body = b"--zz\r\n" + b"x" * size
    response = user_client.generic(
        "PUT", "/api/v1/users/me/avatar", body, content_type="multipart/form-data; boundary=zz"
    )
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "file_too_large"


def test_authenticated_answers_are_not_stored_by_caches(
    user_client: APIClient, api_client: APIClient
) -> None:
    mine = user_client.get("/api/v1/users/me")
    assert mine.status_code == 200 and mine["Cache-Control"] == "no-store"
    assert mine["X-Content-Type-Options"] == "nosniff"
    refused = user_client.get("/api/v1/users/999999999")
    assert refused["Cache-Control"] == "no-store"
    anonymous = api_client.get("/health")
    assert "no-store" not in anonymous.get("Cache-Control", "")
