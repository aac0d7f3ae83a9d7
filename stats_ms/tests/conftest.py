"""Fixtures of the statistics service's tests: moto's DynamoDB server, settings, keys, tokens."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import logging
import socket
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import Any
from unittest import mock

import jwt
import pytest
from botocore.exceptions import ClientError
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from moto.server import ThreadedMotoServer

from events.contracts import EventEnvelope
from events.topology import Topology
from stats_ms.auth import key_id
from stats_ms.aws import dynamodb_resource
from stats_ms.repository import FoldedEvent, StatsRepository
from stats_ms.settings import Settings

logging.getLogger("werkzeug").setLevel(logging.WARNING)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def unique_topology(prefix: str, max_deliveries: int = 10) -> Topology:
    """Broker names of one's own (declaring and deleting them is up to the caller)."""
    return Topology.with_prefix(f"{prefix}-{uuid.uuid4().hex[:10]}", max_deliveries)


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


@dataclass(frozen=True)
class KeyPair:
    private_pem: bytes
    public_pem: bytes

    @property
    def kid(self) -> str:
        return key_id(self.public_pem)


def make_key_pair() -> KeyPair:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    public_pem = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return KeyPair(private_pem, public_pem)


@pytest.fixture(scope="session")
def keys() -> KeyPair:
    return make_key_pair()


@pytest.fixture
def settings(moto_endpoint: str, keys: KeyPair) -> Settings:
    return Settings(
        _env_file=None,  # type: ignore[call-arg]
        aws_endpoint_url=moto_endpoint,
        aws_region="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        stats_table_prefix=f"t{uuid.uuid4().hex[:10]}-",
        stats_meta_refresh_seconds=0.05,
        jwt_public_key=keys.public_pem.decode(),
        jwt_issuer="innotter",
        jwt_kid="",
    )


@pytest.fixture
async def repo(settings: Settings) -> AsyncIterator[StatsRepository]:
    async with dynamodb_resource(settings) as dynamodb:
        repository = StatsRepository(dynamodb, settings)
        await repository.ensure_tables()
        yield repository


def sign(keys: KeyPair, sub: str = "1", *, algorithm: str = "RS256", **overrides: Any) -> str:
    now = int(time.time())
    claims: dict[str, Any] = {
        "sub": sub,
        "type": "access",
        "iss": "innotter",
        "iat": now,
        "exp": now + 300,
        "jti": str(uuid.uuid4()),
        "role": "user",
    }
    headers = {"kid": overrides.pop("kid", keys.kid)}
    claims.update(overrides)
    claims = {k: v for k, v in claims.items() if v is not None}
    if algorithm == "HS256":
        return hs256_with_public_key(claims, headers, keys.public_pem)
    return jwt.encode(claims, keys.private_pem, algorithm=algorithm, headers=headers)


def hs256_with_public_key(claims: dict[str, Any], headers: dict[str, Any], public_pem: bytes) -> str:
    """The algorithm-confusion attack: HMAC-signed with the public key as the secret."""

    def b64(data: bytes) -> bytes:
        return base64.urlsafe_b64encode(data).rstrip(b"=")

    header = b64(json.dumps({"alg": "HS256", "typ": "JWT", **headers}).encode())
    body = b64(json.dumps(claims).encode())
    signature = b64(hmac.new(public_pem, header + b"." + body, hashlib.sha256).digest())
    return (header + b"." + body + b"." + signature).decode()


@pytest.fixture
def token_for(keys: KeyPair) -> Callable[..., str]:
    def make(sub: int | str, **overrides: Any) -> str:
        return sign(keys, str(sub), **overrides)

    return make


def message(body: bytes, message_id: str = "m") -> mock.MagicMock:
    """A broker message as the consumer sees it, with awaitable ack and reject."""
    msg = mock.MagicMock(body=body, message_id=message_id, type="t")
    msg.ack = mock.AsyncMock()
    msg.reject = mock.AsyncMock()
    return msg


def good(envelope: EventEnvelope) -> mock.MagicMock:
    return message(envelope.model_dump_json().encode(), str(envelope.event_id))


def folded(*envelopes: Any) -> list[FoldedEvent]:
    return [FoldedEvent.of(e) for e in envelopes]


def puts_returning_no_item(repo: StatsRepository) -> Any:
    """A patch of the repository's put_item whose failed conditions return no item (as an
    endpoint may), so that the repository has to read it."""
    original = repo._client.put_item

    async def without_item(**kwargs: Any) -> Any:
        try:
            return await original(**kwargs)
        except ClientError as exc:
            exc.response.pop("Item", None)
            raise

    return mock.patch.object(repo._client, "put_item", side_effect=without_item)


async def eventually(condition: Callable[[], Awaitable[bool]], seconds: float = 20.0) -> None:
    """Poll `condition` until it holds; fail after `seconds`."""
    deadline = time.monotonic() + seconds
    while not await condition():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.05)
