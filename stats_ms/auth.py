"""Validating the core's RS256 access tokens with its public key only (PyJWT).

The key id follows the core's rule: JWT_KID, or the first 16 hex digits of the SHA-256 of
the stripped public key PEM. The algorithm is pinned to RS256, so a token signed with the
public key as an HMAC secret is refused.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey
from cryptography.hazmat.primitives.serialization import load_pem_public_key

from stats_ms.errors import NotAuthenticated, ServiceUnavailable, TokenExpired, TokenInvalid
from stats_ms.settings import Settings

ALGORITHM = "RS256"


@dataclass(frozen=True)
class TokenUser:
    """Who the access token speaks for."""

    user_id: int
    role: str


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
        return TokenUser(user_id=int(sub), role=str(claims.get("role", "user")))
