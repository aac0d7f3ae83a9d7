from __future__ import annotations

import base64
import hashlib
import hmac
import json
import uuid
from datetime import timedelta

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from django.conf import settings
from django.utils import timezone

from core_app.common.auth.keys import signing_key
from core_app.common.auth.tokens import encode, issue_access_token, issue_refresh_token
from core_app.testing.factories import UserFactory
from core_app.users.models import User

pytestmark = pytest.mark.django_db

ME = "/api/v1/users/me"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _claims(user: User, **extra) -> dict:
    now = timezone.now()
    return {
        "sub": str(user.pk),
        "type": "access",
        "role": user.role,
        "iss": settings.JWT_ISSUER,
        "iat": int(now.timestamp()),
        "exp": int((now + timedelta(minutes=5)).timestamp()),
        "jti": str(uuid.uuid4()),
        **extra,
    }


def _hs256_forged(claims: dict) -> str:
    """An HS256 token keyed with the public key: the classic algorithm-confusion forgery."""
    header = {"alg": "HS256", "typ": "JWT", "kid": signing_key().kid}
    signing_input = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(claims).encode())}"
    signature = hmac.new(signing_key().public_pem, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{_b64(signature)}"


def _unsigned(claims: dict) -> str:
    header = {"alg": "none", "typ": "JWT", "kid": signing_key().kid}
    return f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(claims).encode())}."


def _other_key_pem() -> bytes:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _get(api_client, header: str | None):
    if header is not None:
        api_client.credentials(HTTP_AUTHORIZATION=header)
    return api_client.get(ME)


def _assert_error(response, status: int, code: str) -> None:
    assert response.status_code == status, response.content
    assert response.json()["error"]["code"] == code


def test_a_valid_access_token_authenticates(api_client, user) -> None:
    token, _ = issue_access_token(user_id=user.pk, role=user.role)
    response = _get(api_client, f"Bearer {token}")
    assert response.status_code == 200 and response.json()["id"] == user.pk


def test_scheme_is_case_insensitive(api_client, user) -> None:
    token, _ = issue_access_token(user_id=user.pk, role=user.role)
    assert _get(api_client, f"bearer {token}").status_code == 200


def test_missing_header_is_not_authenticated(api_client) -> None:
    response = _get(api_client, None)
    _assert_error(response, 401, "not_authenticated")
    assert response["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.parametrize("header", ["Bearer", "Bearer ", "Basic dXNlcjpwYXNz", "Token abc", "Bearer a.b.c"])
def test_malformed_headers_are_token_invalid(api_client, header: str) -> None:
    _assert_error(_get(api_client, header), 401, "token_invalid")


def test_expired_token(api_client, user) -> None:
    token = encode(
        {"sub": str(user.pk), "role": user.role},
        token_type="access",
        expires_at=timezone.now() - timedelta(seconds=5),
    )
    _assert_error(_get(api_client, f"Bearer {token}"), 401, "token_expired")


def test_hs256_forgery_with_the_public_key_is_rejected(api_client, user) -> None:
    _assert_error(_get(api_client, f"Bearer {_hs256_forged(_claims(user))}"), 401, "token_invalid")


def test_unsigned_token_is_rejected(api_client, user) -> None:
    _assert_error(_get(api_client, f"Bearer {_unsigned(_claims(user))}"), 401, "token_invalid")


def test_token_signed_by_another_key_with_our_kid_is_rejected(api_client, user) -> None:
    token = jwt.encode(_claims(user), _other_key_pem(), algorithm="RS256", headers={"kid": signing_key().kid})
    _assert_error(_get(api_client, f"Bearer {token}"), 401, "token_invalid")


def test_wrong_kid_is_rejected(api_client, user) -> None:
    token = jwt.encode(_claims(user), signing_key().private_key, algorithm="RS256", headers={"kid": "other"})
    _assert_error(_get(api_client, f"Bearer {token}"), 401, "token_invalid")


def test_missing_kid_is_rejected(api_client, user) -> None:
    token = jwt.encode(_claims(user), signing_key().private_key, algorithm="RS256")
    _assert_error(_get(api_client, f"Bearer {token}"), 401, "token_invalid")


@pytest.mark.parametrize(
    "change", [{"iss": "someone-else"}, {"type": "refresh"}, {"sub": "not-a-number"}, {"sub": "999999999"}]
)
def test_wrong_claims_are_rejected(api_client, user, change: dict) -> None:
    token = jwt.encode(
        _claims(user, **change),
        signing_key().private_key,
        algorithm="RS256",
        headers={"kid": signing_key().kid},
    )
    _assert_error(_get(api_client, f"Bearer {token}"), 401, "token_invalid")


def test_a_refresh_token_is_not_an_access_token(api_client, user) -> None:
    token = issue_refresh_token(
        user_id=user.pk, jti=uuid.uuid4(), family=uuid.uuid4(), expires_at=timezone.now() + timedelta(days=1)
    )
    _assert_error(_get(api_client, f"Bearer {token}"), 401, "token_invalid")


def test_blocked_users_token_stops_working_at_once(api_client) -> None:
    user = UserFactory()
    token, _ = issue_access_token(user_id=user.pk, role=user.role)
    assert _get(api_client, f"Bearer {token}").status_code == 200
    User.objects.filter(pk=user.pk).update(is_blocked=True)
    _assert_error(api_client.get(ME), 403, "user_blocked")


def test_deactivated_users_token_is_invalid(api_client) -> None:
    user = UserFactory(is_active=False)
    token, _ = issue_access_token(user_id=user.pk, role=user.role)
    _assert_error(_get(api_client, f"Bearer {token}"), 401, "token_invalid")


def test_role_comes_from_the_database_not_the_token(api_client, admin_user) -> None:
    target = UserFactory()
    stale_role, _ = issue_access_token(user_id=target.pk, role="admin")
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {stale_role}")
    response = api_client.post(f"/api/v1/users/{admin_user.pk}/block", {"reason": "x"}, format="json")
    assert response.status_code == 403


def test_token_errors_name_the_bearer_scheme(api_client) -> None:
    response = _get(api_client, "Bearer nope")
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == 'Bearer realm="api"'


def test_tokens_are_signed_and_verified_without_parsing_a_pem_again(api_client, user, monkeypatch) -> None:
    """Parsing the RSA private key costs ~40 ms: it happens once per process, not per token."""
    signing_key()  # parsed (and cached) here

    def no_parsing(*args, **kwargs):
        raise AssertionError("a PEM was parsed while signing or verifying")

    monkeypatch.setattr(jwt.algorithms, "load_pem_private_key", no_parsing)
    monkeypatch.setattr(jwt.algorithms, "load_pem_public_key", no_parsing)
    monkeypatch.setattr(serialization, "load_pem_private_key", no_parsing)
    token = issue_access_token(user_id=user.pk, role=user.role)[0]
    response = api_client.get("/api/v1/users/me/", HTTP_AUTHORIZATION=f"Bearer {token}")
    assert response.status_code == 200
