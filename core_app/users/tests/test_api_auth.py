from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import override_settings
from django.utils import timezone

from core_app.common.auth.tokens import decode
from core_app.testing.events import stored_events
from core_app.testing.factories import UserFactory
from core_app.users.models import RefreshSession, Role, User
from events.models import StoredEvent

pytestmark = pytest.mark.django_db

PASSWORD = "Sup3r-secret-pass"
REGISTER = "/api/v1/auth/register"
LOGIN = "/api/v1/auth/login"
REFRESH = "/api/v1/auth/refresh"
LOGOUT = "/api/v1/auth/logout"


_events = stored_events


def _login(api_client, email: str, password: str = PASSWORD):
    return api_client.post(LOGIN, {"email": email, "password": password}, format="json")


# --- register ---------------------------------------------------------------------------------


def test_register_creates_a_plain_user_and_appends_the_event(api_client) -> None:
    body = {"username": "alice", "email": "Alice@Example.com", "password": PASSWORD, "role": "admin"}
    response = api_client.post(REGISTER, body, format="json")
    assert response.status_code == 201, response.json()
    data = response.json()
    assert set(data) == {
        "id",
        "username",
        "email",
        "first_name",
        "last_name",
        "role",
        "avatar_url",
        "is_blocked",
        "email_notifications",
    }
    assert (data["username"], data["role"], data["email_notifications"]) == ("alice", "user", True)
    user = User.objects.get(pk=data["id"])
    assert user.role == Role.USER and not user.is_staff and user.check_password(PASSWORD)
    [event] = _events("user.registered")
    assert event.payload == {"user_id": user.pk, "username": "alice"}


@pytest.mark.parametrize("password", ["short1!", "password123", "12345678901", "alice-user"])
def test_register_applies_password_validators(api_client, password: str) -> None:
    body = {"username": "alice-user", "email": "a@example.com", "password": password}
    response = api_client.post(REGISTER, body, format="json")
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "validation_error" and error["details"]["password"]
    assert not User.objects.exists()


@pytest.mark.parametrize(
    ("field", "value"), [("username", "USER0"), ("email", "USER0@EXAMPLE.COM")], ids=["username", "email"]
)
def test_register_conflict_is_case_insensitive(api_client, field: str, value: str) -> None:
    UserFactory(username="user0", email="user0@example.com")
    body = {"username": "other", "email": "other@example.com", "password": PASSWORD, field: value}
    response = api_client.post(REGISTER, body, format="json")
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "conflict"
    assert list(response.json()["error"]["details"]) == [field]
    assert not _events("user.registered")


@pytest.mark.parametrize(
    "body",
    [
        {"username": 5, "email": "a@example.com", "password": PASSWORD},
        {"username": "bob", "email": ["a@example.com"], "password": PASSWORD},
        {"username": "bob", "email": "not-an-email", "password": PASSWORD},
        {"username": "bob", "email": "a@example.com", "password": 12345678},
        {"username": "bob", "email": "a@example.com"},
        {"username": "bad name!", "email": "a@example.com", "password": PASSWORD},
        {"username": "x" * 151, "email": "a@example.com", "password": PASSWORD},
        {"username": "bob", "email": "a@example.com", "password": PASSWORD, "first_name": None},
    ],
)
def test_register_rejects_malformed_input(api_client, body) -> None:
    response = api_client.post(REGISTER, body, format="json")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "validation_error"


def test_register_rejects_a_json_array_and_broken_json(api_client) -> None:
    assert api_client.post(REGISTER, [1, 2], format="json").status_code == 400
    response = api_client.post(REGISTER, "{not json", content_type="application/json")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "validation_error"


def test_register_ignores_a_bearer_header(api_client) -> None:
    api_client.credentials(HTTP_AUTHORIZATION="Bearer garbage")
    body = {"username": "carol", "email": "carol@example.com", "password": PASSWORD}
    assert api_client.post(REGISTER, body, format="json").status_code == 201


# --- login ------------------------------------------------------------------------------------


def test_login_issues_a_token_pair_and_appends_the_event(api_client, user) -> None:
    response = _login(api_client, user.email.upper())
    assert response.status_code == 200, response.json()
    data = response.json()
    assert data["token_type"] == "Bearer" and data["expires_in"] == 300
    access = decode(data["access"], token_type="access")
    refresh = decode(data["refresh"], token_type="refresh")
    assert access["sub"] == refresh["sub"] == str(user.pk)
    session = RefreshSession.objects.get(jti=refresh["jti"])
    assert str(session.family) == refresh["family"]
    [event] = _events("user.logged_in")
    assert event.payload == {"user_id": user.pk, "session_id": refresh["family"]}
    me = api_client.get("/api/v1/users/me", HTTP_AUTHORIZATION=f"Bearer {data['access']}")
    assert me.status_code == 200 and me.json()["id"] == user.pk


def test_wrong_password_is_401_and_the_failure_is_recorded(api_client, user) -> None:
    response = _login(api_client, user.email, "wrong-password")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "invalid_credentials"
    [event] = _events("user.login_failed")
    assert event.aggregate_id == user.email.lower()
    assert event.payload == {"email": user.email.lower(), "user_id": user.pk}


def test_unknown_email_is_401_and_recorded_without_user(api_client) -> None:
    response = _login(api_client, "Nobody@Example.com")
    assert response.status_code == 401
    [event] = _events("user.login_failed")
    assert event.payload == {"email": "nobody@example.com", "user_id": None}


@override_settings(LOGIN_MAX_FAILURES=3)
def test_login_is_throttled_per_account_after_max_failures(api_client, user) -> None:
    other = UserFactory()
    for _ in range(3):
        assert _login(api_client, user.email, "wrong").status_code == 401
    response = _login(api_client, user.email)
    assert response.status_code == 429
    assert response.json()["error"]["code"] == "throttled"
    assert len(_events("user.login_failed")) == 3
    assert _login(api_client, other.email).status_code == 200


@override_settings(LOGIN_MAX_FAILURES=2)
def test_failures_outside_the_window_do_not_count(api_client, user) -> None:
    for _ in range(2):
        _login(api_client, user.email, "wrong")
    StoredEvent.objects.filter(type="user.login_failed").update(
        occurred_at=timezone.now() - timedelta(minutes=16)
    )
    assert _login(api_client, user.email).status_code == 200


def test_blocked_user_cannot_log_in(api_client) -> None:
    blocked = UserFactory(is_blocked=True)
    response = _login(api_client, blocked.email)
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "user_blocked"
    assert not _events("user.logged_in")


def test_blocked_user_with_wrong_password_gets_401(api_client) -> None:
    blocked = UserFactory(is_blocked=True)
    assert _login(api_client, blocked.email, "wrong").status_code == 401


@pytest.mark.parametrize("body", [{"email": 1, "password": "x"}, {"email": "a@b.c"}, {"password": "x"}])
def test_login_rejects_malformed_input(api_client, body) -> None:
    response = api_client.post(LOGIN, body, format="json")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "validation_error"


# --- refresh and logout -----------------------------------------------------------------------


def _pair(api_client, user) -> dict:
    response = _login(api_client, user.email)
    assert response.status_code == 200
    return response.json()


def test_refresh_rotates_and_the_old_token_stops_working(api_client, user) -> None:
    first = _pair(api_client, user)
    response = api_client.post(REFRESH, {"refresh": first["refresh"]}, format="json")
    assert response.status_code == 200
    second = response.json()
    assert second["refresh"] != first["refresh"] and second["token_type"] == "Bearer"
    family = decode(first["refresh"], token_type="refresh")["family"]
    assert decode(second["refresh"], token_type="refresh")["family"] == family
    [event] = _events("user.token_refreshed")
    assert event.payload == {"user_id": user.pk, "session_id": family}
    again = api_client.post(REFRESH, {"refresh": first["refresh"]}, format="json")
    assert again.status_code == 401
    assert again.json()["error"]["code"] == "token_invalid"


def test_reusing_a_spent_token_revokes_the_whole_family(api_client, user) -> None:
    first = _pair(api_client, user)
    second = api_client.post(REFRESH, {"refresh": first["refresh"]}, format="json").json()
    assert api_client.post(REFRESH, {"refresh": first["refresh"]}, format="json").status_code == 401
    # The reuse ended the session: the legitimate latest token is dead too.
    assert api_client.post(REFRESH, {"refresh": second["refresh"]}, format="json").status_code == 401
    family = decode(first["refresh"], token_type="refresh")["family"]
    assert not RefreshSession.objects.filter(family=family, revoked_at__isnull=True).exists()
    assert len(_events("user.token_refreshed")) == 1


def test_refresh_rejects_access_tokens_and_garbage(api_client, user) -> None:
    pair = _pair(api_client, user)
    for token in (pair["access"], "garbage", ""):
        response = api_client.post(REFRESH, {"refresh": token}, format="json")
        assert response.status_code in (400, 401)
    assert api_client.post(REFRESH, {"refresh": pair["access"]}, format="json").status_code == 401


def test_refresh_of_an_expired_session_is_401(api_client, user) -> None:
    pair = _pair(api_client, user)
    RefreshSession.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    response = api_client.post(REFRESH, {"refresh": pair["refresh"]}, format="json")
    assert response.status_code == 401


def test_refresh_for_a_blocked_user_is_refused(api_client, user) -> None:
    pair = _pair(api_client, user)
    User.objects.filter(pk=user.pk).update(is_blocked=True)
    response = api_client.post(REFRESH, {"refresh": pair["refresh"]}, format="json")
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "user_blocked"


def test_logout_revokes_the_session(api_client, user) -> None:
    pair = _pair(api_client, user)
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {pair['access']}")
    response = api_client.post(LOGOUT, {"refresh": pair["refresh"]}, format="json")
    assert response.status_code == 204
    family = decode(pair["refresh"], token_type="refresh")["family"]
    [event] = _events("user.logged_out")
    assert event.payload == {"user_id": user.pk, "session_id": family}
    assert api_client.post(REFRESH, {"refresh": pair["refresh"]}, format="json").status_code == 401


def test_logout_needs_an_access_token(api_client, user) -> None:
    pair = _pair(api_client, user)
    response = api_client.post(LOGOUT, {"refresh": pair["refresh"]}, format="json")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "not_authenticated"


def test_logout_with_someone_elses_refresh_token_is_refused(api_client, client_for, user) -> None:
    pair = _pair(api_client, user)
    response = client_for(UserFactory()).post(LOGOUT, {"refresh": pair["refresh"]}, format="json")
    assert response.status_code == 401
    assert not _events("user.logged_out")


@pytest.mark.parametrize("path", [LOGIN, LOGIN + "/"])
def test_auth_paths_answer_with_and_without_slash(api_client, user, path: str) -> None:
    response = api_client.post(path, {"email": user.email, "password": PASSWORD}, format="json")
    assert response.status_code == 200
