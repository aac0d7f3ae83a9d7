"""Validating the core's RS256 access tokens with its public key only (PyJWT).

The key id follows the core's rule: JWT_KID, or the first 16 hex digits of the SHA-256 of
the stripped public key PEM. The algorithm is pinned to RS256, so a token signed with the
public key as an HMAC secret is refused. A user blocked by an admin is refused at once (403
`user_blocked`, as on the core): the consumer folds `user.blocked` / `user.unblocked` into
revocation items that every authenticated request checks (`BlockedUsers`).
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey
from cryptography.hazmat.primitives.serialization import load_pem_public_key

from stats_ms.errors import (
    NotAuthenticated,
    ServiceUnavailable,
    TokenExpired,
    TokenInvalid,
    UserBlocked,
)
from stats_ms.repository import StatsRepository
from stats_ms.settings import Settings

ALGORITHM = "RS256"


@dataclass(frozen=True)
class TokenUser:
    """Who the access token speaks for."""

    user_id: int
    role: str
    issued_at: int  # the token's `iat`, epoch seconds


def key_id(public_pem: bytes) -> str:
    """The core's key id: the first 16 hex digits of the SHA-256 of the public key's PEM."""
    return hashlib.sha256(public_pem.strip()).hexdigest()[:16]


class TokenVerifier:
    """Verifies access tokens; the public key is read and parsed once (retried until it exists)."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._key: tuple[str, RSAPublicKey] | None = None

    def _public_key(self) -> tuple[str, RSAPublicKey]:
        if self._key is None:
            if self._settings.jwt_public_key:
                pem = self._settings.jwt_public_key.replace("\\n", "\n").encode()
            else:
                try:
                    pem = self._settings.jwt_public_key_file.read_bytes()
                except OSError:
                    raise ServiceUnavailable("The token verification key is not available.") from None
            try:
                key = load_pem_public_key(pem)
            except ValueError:
                key = None
            if not isinstance(key, RSAPublicKey):
                raise ServiceUnavailable("The token verification key is not an RSA public key.")
            self._key = (self._settings.jwt_kid or key_id(pem), key)
        return self._key

    def verify_header(self, header: str | None) -> TokenUser:
        """The user of an `Authorization: Bearer <token>` header, or an ApiError (401)."""
        if not header:
            raise NotAuthenticated()
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise TokenInvalid("Expected 'Authorization: Bearer <token>'.")
        return self.verify(token.strip())

    def verify(self, token: str) -> TokenUser:
        """Check key id, signature, algorithm, issuer, expiry and type."""
        kid, key = self._public_key()
        try:
            if jwt.get_unverified_header(token).get("kid") != kid:
                raise TokenInvalid("Unknown signing key.")
            claims: dict[str, Any] = jwt.decode(
                token,
                key,
                algorithms=[ALGORITHM],
                issuer=self._settings.jwt_issuer,
                options={"require": ["exp", "iat", "sub", "type", "iss"]},
            )
        except jwt.ExpiredSignatureError:
            raise TokenExpired() from None
        except jwt.PyJWTError:
            raise TokenInvalid() from None
        if claims.get("type") != "access":
            raise TokenInvalid("Wrong token type.")
        sub = claims.get("sub")
        if not isinstance(sub, str) or not sub.isascii() or not sub.isdigit():
            raise TokenInvalid("The token's subject is not a user id.")
        iat = claims["iat"]
        if not isinstance(iat, int | float):
            raise TokenInvalid("The token's issue time is not a number.")
        return TokenUser(user_id=int(sub), role=str(claims.get("role", "user")), issued_at=int(iat))


class BlockedUsers:
    """Refuses the tokens of users blocked since they were issued (see `StatsRepository.blocked_since`).

    Each user's state is read from DynamoDB at most once per `STATS_REVOCATION_CACHE_SECONDS`
    (1 s by default) per process, so a block folded by the consumer is honoured within that
    bound. The cache holds at most `MAX_CACHED` users; stale entries are dropped first.
    """

    MAX_CACHED = 10_000

    def __init__(self, settings: Settings) -> None:
        self._ttl = settings.stats_revocation_cache_seconds
        self._cache: dict[int, tuple[float, float | None]] = {}

    async def check(self, user: TokenUser, repo: StatsRepository) -> None:
        """Raise UserBlocked when the user is blocked and the token was issued before that."""
        blocked_at = await self._blocked_since(user.user_id, repo)
        if blocked_at is not None and user.issued_at <= blocked_at:
            raise UserBlocked()

    async def _blocked_since(self, user_id: int, repo: StatsRepository) -> float | None:
        now = time.monotonic()
        cached = self._cache.get(user_id)
        if cached is not None and now - cached[0] < self._ttl:
            return cached[1]
        blocked_at = await repo.blocked_since(user_id)
        if len(self._cache) >= self.MAX_CACHED:
            self._cache = {u: e for u, e in self._cache.items() if now - e[0] < self._ttl}
            if len(self._cache) >= self.MAX_CACHED:
                self._cache.clear()
        self._cache[user_id] = (now, blocked_at)
        return blocked_at
