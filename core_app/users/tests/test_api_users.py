from __future__ import annotations

from unittest import mock

import pytest
from django.test import override_settings

from core_app.common.exceptions import ServiceUnavailable
from core_app.testing.events import stored_events
from core_app.testing.factories import PageFactory, UserFactory
from core_app.testing.images import emulated_s3, image_bytes, image_upload, stored_object
from core_app.users.models import RefreshSession, Role, User

pytestmark = pytest.mark.django_db

ME = "/api/v1/users/me"
AVATAR = "/api/v1/users/me/avatar"
PUBLIC_FIELDS = {"id", "username", "first_name", "last_name", "role", "avatar_url", "is_blocked"}


_events = stored_events


def _error(response) -> str:
    return response.json()["error"]["code"]


# --- me ---------------------------------------------------------------------------------------


def test_me_returns_own_user_with_private_fields(user_client, user) -> None:
    response = user_client.get(ME)
    assert response.status_code == 200
    assert response.json() == {
        "id": user.pk,
        "username": user.username,
        "email": user.email,
        "first_name": user.first_name,
        "last_name": user.last_name,
        "role": "user",
        "avatar_url": None,
        "is_blocked": False,
        "email_notifications": True,
    }


def test_me_needs_authentication(api_client) -> None:
    response = api_client.get(ME)
    assert response.status_code == 401
    assert _error(response) == "not_authenticated"


def test_patch_me_changes_profile_and_appends_changes(user_client, user) -> None:
    body = {"first_name": "Ann", "username": "ann_new", "email_notifications": False, "role": "admin"}
    response = user_client.patch(ME, body, format="json")
    assert response.status_code == 200, response.json()
    assert response.json()["username"] == "ann_new" and response.json()["role"] == "user"
    user.refresh_from_db()
    assert (user.first_name, user.username, user.email_notifications) == ("Ann", "ann_new", False)
    [event] = _events("user.updated")
    assert event.payload == {
        "user_id": user.pk,
        "changes": {"first_name": "Ann", "username": "ann_new", "email_notifications": False},
    }


def test_patch_me_without_changes_appends_nothing(user_client, user) -> None:
    response = user_client.patch(ME, {"first_name": user.first_name}, format="json")
    assert response.status_code == 200
    assert not _events("user.updated")


@pytest.mark.parametrize(
    "body",
    [
        {"email_notifications": "false"},
        {"email_notifications": 0},
        {"first_name": 12},
        {"username": None},
        {"username": ""},
        {"username": "has space"},
        {"last_name": "x" * 151},
    ],
)
def test_patch_me_is_strict(user_client, body) -> None:
    response = user_client.patch(ME, body, format="json")
    assert response.status_code == 400
    assert _error(response) == "validation_error"
    assert list(response.json()["error"]["details"]) == list(body)


def test_patch_me_username_taken_is_409(user_client) -> None:
    UserFactory(username="taken")
    response = user_client.patch(ME, {"username": "TAKEN"}, format="json")
    assert response.status_code == 409
    assert _error(response) == "conflict"


# --- avatar -----------------------------------------------------------------------------------


def test_put_avatar_stores_the_image_and_appends_the_event(user_client, user) -> None:
    with emulated_s3() as s3:
        response = user_client.put(
            AVATAR, {"file": image_upload("me.png", image_bytes("png"))}, format="multipart"
        )
        assert response.status_code == 200, response.json()
        user.refresh_from_db()
        assert user.avatar_key.startswith(f"avatars/users/{user.pk}/") and user.avatar_key.endswith(".png")
        body, content_type = stored_object(s3, user.avatar_key)
    assert body == image_bytes("png") and content_type == "image/png"
    assert user.avatar_key in response.json()["avatar_url"]
    [event] = _events("user.avatar_changed")
    assert event.payload == {"user_id": user.pk, "avatar_key": user.avatar_key}


@pytest.mark.parametrize(
    ("name", "content", "status", "code"),
    [
        ("a.bmp", image_bytes("png"), 415, "unsupported_media_type"),
        ("a.png", b"not an image at all", 400, "invalid_file"),
        ("a.png", image_bytes("jpg"), 400, "invalid_file"),
        ("a.gif", b"GIF89a" + b"\x00" * 40, 400, "invalid_file"),
    ],
)
def test_put_avatar_rejects_bad_files(user_client, user, name, content, status, code) -> None:
    with mock.patch("core_app.common.uploads.s3_client") as client:
        response = user_client.put(AVATAR, {"file": image_upload(name, content)}, format="multipart")
    assert response.status_code == status
    assert _error(response) == code
    client.return_value.put_object.assert_not_called()
    assert not _events("user.avatar_changed")


def test_put_avatar_of_six_mib_is_413(user_client) -> None:
    big = image_bytes("png") + b"\x00" * (6 * 1024 * 1024)
    with mock.patch("core_app.common.uploads.s3_client") as client:
        response = user_client.put(AVATAR, {"file": image_upload("big.png", big)}, format="multipart")
    assert response.status_code == 413
    assert _error(response) == "file_too_large"
    client.return_value.put_object.assert_not_called()


@override_settings(UPLOAD_MAX_BYTES=1000)
def test_put_avatar_just_over_the_limit_is_413(user_client) -> None:
    with mock.patch("core_app.common.uploads.s3_client"):
        response = user_client.put(
            AVATAR, {"file": image_upload("a.png", b"\x89PNG" + b"0" * 1000)}, format="multipart"
        )
    assert response.status_code == 413


@pytest.mark.parametrize("fmt", ["multipart", "json"])
def test_put_avatar_without_file_is_400(user_client, fmt) -> None:
    response = user_client.put(AVATAR, {"other": "x"}, format=fmt)
    assert response.status_code == 400
    assert _error(response) == "validation_error"
    assert "file" in response.json()["error"]["details"]


def test_put_avatar_when_s3_is_down_is_503_and_nothing_changes(user_client, user) -> None:
    with mock.patch("core_app.common.uploads.store_image", side_effect=ServiceUnavailable()):
        response = user_client.put(AVATAR, {"file": image_upload("a.png", image_bytes())}, format="multipart")
    assert response.status_code == 503
    user.refresh_from_db()
    assert user.avatar_key == "" and not _events("user.avatar_changed")


def test_put_avatar_needs_authentication(api_client) -> None:
    response = api_client.put(AVATAR, {"file": image_upload("a.png", image_bytes())}, format="multipart")
    assert response.status_code == 401


# --- other users ------------------------------------------------------------------------------


def test_get_user_hides_private_fields_from_others(user_client) -> None:
    other = UserFactory()
    response = user_client.get(f"/api/v1/users/{other.pk}")
    assert response.status_code == 200
    assert set(response.json()) == PUBLIC_FIELDS


def test_staff_see_private_fields(client_for, moderator) -> None:
    other = UserFactory()
    response = client_for(moderator).get(f"/api/v1/users/{other.pk}/")
    assert response.json()["email"] == other.email


def test_blocked_user_is_404_for_users_and_visible_for_staff(user_client, client_for, moderator) -> None:
    blocked = UserFactory(is_blocked=True)
    response = user_client.get(f"/api/v1/users/{blocked.pk}")
    assert response.status_code == 404 and _error(response) == "not_found"
    staff_view = client_for(moderator).get(f"/api/v1/users/{blocked.pk}")
    assert staff_view.status_code == 200 and staff_view.json()["is_blocked"] is True


@pytest.mark.parametrize("user_id", ["abc", "0", "-1", "99999999", "9" * 30, "1.5"])
def test_get_user_with_bad_or_unknown_id_is_404(user_client, user_id: str) -> None:
    response = user_client.get(f"/api/v1/users/{user_id}")
    assert response.status_code == 404
    assert _error(response) == "not_found"


# --- block / unblock / role -------------------------------------------------------------------


def test_admin_blocks_a_user(client_for, admin_user) -> None:
    target = UserFactory()
    pages = PageFactory.create_batch(2, owner=target)
    RefreshSession.objects.create(
        user=target, family="00000000-0000-0000-0000-000000000001", expires_at="2100-01-01T00:00Z"
    )
    response = client_for(admin_user).post(
        f"/api/v1/users/{target.pk}/block", {"reason": "spam"}, format="json"
    )
    assert response.status_code == 200, response.json()
    assert response.json()["is_blocked"] is True
    target.refresh_from_db()
    assert target.is_blocked and target.blocked_reason == "spam"
    assert not RefreshSession.objects.filter(user=target, revoked_at__isnull=True).exists()
    [event] = _events("user.blocked")
    assert event.actor_id == admin_user.pk and event.is_moderation
    assert event.payload == {"user_id": target.pk, "reason": "spam", "page_ids": sorted(p.pk for p in pages)}


def test_blocked_users_access_token_stops_working_at_once(client_for, admin_user) -> None:
    target = UserFactory()
    target_client = client_for(target)
    assert target_client.get(ME).status_code == 200
    client_for(admin_user).post(f"/api/v1/users/{target.pk}/block", {"reason": "spam"}, format="json")
    response = target_client.get(ME)
    assert response.status_code == 403
    assert _error(response) == "user_blocked"


@pytest.mark.parametrize("who", ["user", "moderator"])
def test_only_admins_block(client_for, who, request) -> None:
    actor = request.getfixturevalue(who)
    target = UserFactory()
    response = client_for(actor).post(f"/api/v1/users/{target.pk}/block", {"reason": "x"}, format="json")
    assert response.status_code == 403
    assert _error(response) == "permission_denied"
    assert not _events("user.blocked")


def test_block_needs_authentication(api_client) -> None:
    response = api_client.post(f"/api/v1/users/{UserFactory().pk}/block", {"reason": "x"}, format="json")
    assert response.status_code == 401


def test_block_errors(client_for, admin_user) -> None:
    admin = client_for(admin_user)
    target = UserFactory(is_blocked=True)
    assert (
        admin.post(f"/api/v1/users/{admin_user.pk}/block", {"reason": "x"}, format="json").status_code == 400
    )
    assert admin.post(f"/api/v1/users/{target.pk}/block", {"reason": "x"}, format="json").status_code == 409
    assert admin.post(f"/api/v1/users/{target.pk}/block", {"reason": 5}, format="json").status_code == 400
    assert admin.post(f"/api/v1/users/{target.pk}/block", {}, format="json").status_code == 400
    assert admin.post("/api/v1/users/999999/block", {"reason": "x"}, format="json").status_code == 404
    assert admin.post(f"/api/v1/users/{admin_user.pk}/unblock").status_code == 409


def test_admin_unblocks_a_user_and_lists_pages_that_come_back(client_for, admin_user) -> None:
    target = UserFactory(is_blocked=True, blocked_reason="spam")
    page = PageFactory(owner=target)
    PageFactory(owner=target, blocked_permanently=True)
    response = client_for(admin_user).post(f"/api/v1/users/{target.pk}/unblock/")
    assert response.status_code == 200 and response.json()["is_blocked"] is False
    [event] = _events("user.unblocked")
    assert event.payload == {"user_id": target.pk, "page_ids": [page.pk]}
    assert event.actor_id == admin_user.pk


def test_admin_changes_a_role_and_staff_flags_follow(client_for, admin_user) -> None:
    target = UserFactory()
    admin = client_for(admin_user)
    response = admin.patch(f"/api/v1/users/{target.pk}/role", {"role": "moderator"}, format="json")
    assert response.status_code == 200 and response.json()["role"] == "moderator"
    target.refresh_from_db()
    assert (target.role, target.is_staff, target.is_superuser) == (Role.MODERATOR, True, False)
    admin.patch(f"/api/v1/users/{target.pk}/role", {"role": "admin"}, format="json")
    target.refresh_from_db()
    assert (target.is_staff, target.is_superuser) == (True, True)
    admin.patch(f"/api/v1/users/{target.pk}/role", {"role": "user"}, format="json")
    target.refresh_from_db()
    assert (target.is_staff, target.is_superuser) == (False, False)
    payloads = [e.payload for e in _events("user.role_changed")]
    assert payloads == [
        {"user_id": target.pk, "old_role": "user", "new_role": "moderator"},
        {"user_id": target.pk, "old_role": "moderator", "new_role": "admin"},
        {"user_id": target.pk, "old_role": "admin", "new_role": "user"},
    ]


@pytest.mark.parametrize("body", [{"role": "root"}, {"role": 1}, {"role": ["admin"]}, {}])
def test_role_change_validates(client_for, admin_user, body) -> None:
    target = UserFactory()
    response = client_for(admin_user).patch(f"/api/v1/users/{target.pk}/role", body, format="json")
    assert response.status_code == 400
    assert _error(response) == "validation_error"


def test_moderator_cannot_change_roles(client_for, moderator) -> None:
    target = UserFactory()
    response = client_for(moderator).patch(
        f"/api/v1/users/{target.pk}/role", {"role": "admin"}, format="json"
    )
    assert response.status_code == 403
    assert User.objects.get(pk=target.pk).role == Role.USER
