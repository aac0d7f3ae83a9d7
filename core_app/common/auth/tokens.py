"""Issuing and decoding access tokens (PyJWT, RS256, `kid` in the header)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import jwt
from django.conf import settings
from django.utils import timezone

from core_app.common.auth.keys import signing_key
from core_app.common.exceptions import TokenExpired, TokenInvalid

ALGORITHM = "RS256"


def encode(claims: dict[str, Any], *, token_type: str, expires_at: datetime) -> str:
    key = signing_key()
    now = timezone.now()
    payload = {
        **claims,
        "type": token_type,
        "iss": settings.JWT_ISSUER,
        "iat": int(now.timestamp()),
        "exp": int(expires_at.timestamp()),
        "jti": claims.get("jti", str(uuid.uuid4())),
    }
    return jwt.encode(payload, key.private_key, algorithm=ALGORITHM, headers={"kid": key.kid})


def decode(token: str, *, token_type: str) -> dict[str, Any]:
    """Verify signature, algorithm, issuer, expiry and type; raise TokenInvalid/TokenExpired."""
    key = signing_key()
    try:
        header = jwt.get_unverified_header(token)
        if header.get("kid") != key.kid:
            raise TokenInvalid("Unknown signing key.")
        claims: dict[str, Any] = jwt.decode(
            token,
            key.public_key,
            algorithms=[ALGORITHM],
            issuer=settings.JWT_ISSUER,
            options={"require": ["exp", "iat", "sub", "type", "jti"]},
        )
    except jwt.ExpiredSignatureError:
        raise TokenExpired() from None
    except jwt.PyJWTError:
        raise TokenInvalid() from None
    if claims.get("type") != token_type:
        raise TokenInvalid("Wrong token type.")
    return claims


def issue_access_token(*, user_id: int, role: str) -> tuple[str, int]:
    """An access token and its lifetime in seconds."""
    ttl = settings.JWT_ACCESS_TTL
    token = encode({"sub": str(user_id), "role": role}, token_type="access", expires_at=timezone.now() + ttl)
    return token, int(ttl.total_seconds())


def issue_refresh_token(*, user_id: int, jti: uuid.UUID, family: uuid.UUID, expires_at: datetime) -> str:
    """A refresh token for one RefreshSession (`jti`) of a login session (`family`)."""
    claims = {"sub": str(user_id), "jti": str(jti), "family": str(family)}
    return encode(claims, token_type="refresh", expires_at=expires_at)
