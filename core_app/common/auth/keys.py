"""The RS256 signing key: from the environment, or a development pair generated under var/keys.

The private key never leaves the core; the stats service is given the public key file only.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from django.conf import settings


@dataclass(frozen=True)
class SigningKey:
    """The parsed keys (parsed once per process) and the public PEM (for other services).

    Parsing an RSA private key validates it (~40 ms of CPU); signing with the parsed key takes
    about 1 ms, so tokens are signed and verified with the parsed objects, never the PEMs.
    """

    public_pem: bytes
    kid: str
    private_key: rsa.RSAPrivateKey
    public_key: rsa.RSAPublicKey


def key_id(public_pem: bytes) -> str:
    """A stable key id: the first 16 hex digits of the SHA-256 of the public key's PEM."""
    return hashlib.sha256(public_pem.strip()).hexdigest()[:16]


def generate_key_pair(private_path: Path, public_path: Path) -> None:
    """Write a new RSA pair (private key readable by its owner only)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    public_pem = _public_pem(key.public_key())
    private_path.parent.mkdir(parents=True, exist_ok=True)
    public_path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(private_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(private_pem)
    public_path.write_bytes(public_pem)


def _public_pem(key: rsa.RSAPublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def public_pem_of(private_pem: bytes) -> bytes:
    """The public half, as PEM, of a private key given as PEM."""
    return _public_pem(_load_private(private_pem).public_key())


def _load_private(private_pem: bytes) -> rsa.RSAPrivateKey:
    key = serialization.load_pem_private_key(private_pem, password=None)
    if not isinstance(key, rsa.RSAPrivateKey):
        raise RuntimeError("the JWT signing key must be an RSA private key")
    return key


@lru_cache(maxsize=1)
def signing_key() -> SigningKey:
    """The key the core signs with (cached for the process)."""
    if settings.JWT_PRIVATE_KEY:
        private_pem = settings.JWT_PRIVATE_KEY.replace("\\n", "\n").encode()
    else:
        private_path = Path(settings.JWT_PRIVATE_KEY_FILE)
        public_path = Path(settings.JWT_PUBLIC_KEY_FILE)
        if not private_path.exists():
            if not settings.DEBUG and not os.environ.get("JWT_GENERATE_DEV_KEYS"):
                raise RuntimeError("JWT_PRIVATE_KEY or JWT_PRIVATE_KEY_FILE must be set outside development")
            generate_key_pair(private_path, public_path)
        private_pem = private_path.read_bytes()
    private_key = _load_private(private_pem)
    public_pem = _public_pem(private_key.public_key())
    return SigningKey(
        public_pem=public_pem,
        kid=settings.JWT_KID or key_id(public_pem),
        private_key=private_key,
        public_key=private_key.public_key(),
    )
