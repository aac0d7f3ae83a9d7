"""The HTTP API: owner-only figures, token checks, the error body everywhere, health."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from unittest import mock

import httpx
import pytest

from stats_ms.consumer import StatsConsumer
from stats_ms.main import create_app
from stats_ms.tests import builders as b
from stats_ms.tests.conftest import eventually, folded, good, make_key_pair, sign


@pytest.fixture
async def client(settings) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://stats") as http:
            http.app = app  # type: ignore[attr-defined]
            yield http


@pytest.fixture
async def page(client):
    """Page 1 owned by user 7, with a little activity."""
    repo = client.app.state.repo
    await repo.apply(
        folded(
            b.page_created(1, 7),
            b.post_created(10, 1, 7),
            b.post_liked(10, 1, 7, user_id=3),
            b.follow_requested(1, 7, 4),
            b.follow_accepted(1, 7, 5, was_requested=False),
        )
    )
    return 1


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def assert_error(response: httpx.Response, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"}
    assert body["error"]["code"] == code
    assert isinstance(body["error"]["message"], str) and isinstance(body["error"]["details"], dict)


@pytest.mark.parametrize("path", ["/stats/pages/1", "/stats/pages/1/"])
async def test_owner_gets_the_figures_with_or_without_slash(client, page, token_for, path):
    response = await client.get(path, headers=auth(token_for(7)))
    assert response.status_code == 200, response.text
    assert response.json() == {
        "page_id": 1,
        "posts": 1,
        "followers": 1,
        "follow_requests": 1,
        "likes": 1,
        "replies": 0,
        "updated_at": "2026-11-27T10:00:00Z",
        "daily": [{"date": "2026-11-27", "posts": 1, "likes": 1, "followers": 1}],
    }


async def test_another_user_is_forbidden(client, page, token_for):
    assert_error(await client.get("/stats/pages/1", headers=auth(token_for(8))), 403, "permission_denied")


async def test_no_token(client, page):
    response = await client.get("/stats/pages/1")
    assert_error(response, 401, "not_authenticated")
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.parametrize(
    "header",
    ["Bearer not-a-token", "Basic dXNlcjpwYXNz", "Bearer ", "Token abc"],
)
async def test_bad_tokens(client, page, header):
    assert_error(await client.get("/stats/pages/1", headers={"Authorization": header}), 401, "token_invalid")


async def test_expired_token(client, page, token_for):
    token = token_for(7, exp=int(time.time()) - 10, iat=int(time.time()) - 400)
    assert_error(await client.get("/stats/pages/1", headers=auth(token)), 401, "token_expired")


async def test_hs256_signed_with_the_public_key_is_refused(client, page, keys):
    token = sign(keys, "7", algorithm="HS256")
    assert_error(await client.get("/stats/pages/1", headers=auth(token)), 401, "token_invalid")


async def test_unsigned_token_is_refused(client, page, keys):
    import jwt

    token = jwt.encode({"sub": "7", "type": "access", "iss": "innotter"}, None, algorithm="none")
    assert_error(await client.get("/stats/pages/1", headers=auth(token)), 401, "token_invalid")


async def test_unknown_kid_is_refused(client, page, token_for):
    assert_error(
        await client.get("/stats/pages/1", headers=auth(token_for(7, kid="0" * 16))), 401, "token_invalid"
    )


async def test_a_token_of_another_key_with_our_kid_is_refused(client, page, keys):
    other = make_key_pair()
    token = sign(other, "7", kid=keys.kid)
    assert_error(await client.get("/stats/pages/1", headers=auth(token)), 401, "token_invalid")


@pytest.mark.parametrize(
    "claims",
    [{"type": "refresh"}, {"iss": "someone-else"}, {"exp": None}, {"type": None}, {"iss": None}],
)
async def test_wrong_claims_are_refused(client, page, token_for, claims):
    assert_error(
        await client.get("/stats/pages/1", headers=auth(token_for(7, **claims))), 401, "token_invalid"
    )


@pytest.mark.parametrize("sub", ["abc", "", "7.0"])
async def test_a_subject_that_is_not_a_user_id_is_refused(client, page, token_for, sub):
    assert_error(await client.get("/stats/pages/1", headers=auth(token_for(sub))), 401, "token_invalid")


async def test_configured_kid_is_required(settings, keys, page, client):
    client.app.state.verifier._settings = settings.model_copy(update={"jwt_kid": "core-key-2"})
    client.app.state.verifier._key = None
    assert_error(await client.get("/stats/pages/1", headers=auth(sign(keys, "7"))), 401, "token_invalid")
    ok = await client.get("/stats/pages/1", headers=auth(sign(keys, "7", kid="core-key-2")))
    assert ok.status_code == 200


@pytest.mark.parametrize(
    "page_id", ["2", "abc", "0", "-1", "99999999999999999999999", "1.5", "9" * 5000, "٣"]
)
async def test_unknown_or_malformed_page_is_not_found(client, page, token_for, page_id):
    assert_error(await client.get(f"/stats/pages/{page_id}", headers=auth(token_for(7))), 404, "not_found")


async def test_a_deleted_page_is_not_found(client, page, token_for):
    await client.app.state.repo.apply(folded(b.post_deleted(10, 1, 7, likes=1), b.page_deleted(1, 7)))
    assert_error(await client.get("/stats/pages/1", headers=auth(token_for(7))), 404, "not_found")


async def test_unknown_route_and_method_use_the_error_body(client, token_for):
    assert_error(await client.get("/nope"), 404, "not_found")
    assert_error(await client.post("/stats/pages/1", headers=auth(token_for(7))), 405, "method_not_allowed")


async def test_dynamodb_down_is_503_not_500(client, page, token_for):
    from botocore.exceptions import EndpointConnectionError

    failing = mock.AsyncMock(side_effect=EndpointConnectionError(endpoint_url="http://x"))
    with mock.patch.object(client.app.state.repo, "page_stats", failing):
        response = await client.get("/stats/pages/1", headers=auth(token_for(7)))
    assert_error(response, 503, "service_unavailable")
    assert response.headers["Retry-After"] == "5"


async def test_missing_public_key_file_is_503(client, settings, tmp_path, token_for):
    client.app.state.verifier._settings = settings.model_copy(
        update={"jwt_public_key": "", "jwt_public_key_file": tmp_path / "missing.pem"}
    )
    client.app.state.verifier._key = None
    assert_error(await client.get("/stats/pages/1", headers=auth(token_for(7))), 503, "service_unavailable")


@pytest.mark.parametrize("pem", ["not a key", "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----"])
async def test_an_unusable_public_key_is_503(client, settings, token_for, pem):
    client.app.state.verifier._settings = settings.model_copy(update={"jwt_public_key": pem})
    client.app.state.verifier._key = None
    assert_error(await client.get("/stats/pages/1", headers=auth(token_for(7))), 503, "service_unavailable")


async def test_health_ok(client):
    with mock.patch("stats_ms.api.broker_answers", mock.AsyncMock(return_value=True)):
        response = await client.get("/health")
    assert response.status_code == 200
    assert response.json()["status"] == "ok"
    assert response.json()["checks"] == {"dynamodb": "ok", "broker": "ok"}


async def test_health_with_the_real_broker(client):
    response = await client.get("/health/")
    assert response.status_code == 200, response.text


async def test_health_broker_down(client, settings):
    client.app.state.settings = settings.model_copy(
        update={"rabbitmq_url": "amqp://guest:guest@127.0.0.1:1/"}
    )
    response = await client.get("/health")
    assert response.status_code == 503
    assert response.json()["checks"]["broker"] == "down"


async def test_health_dynamodb_down(client):
    with (
        mock.patch.object(client.app.state.repo, "ping", mock.AsyncMock(return_value=False)),
        mock.patch("stats_ms.api.broker_answers", mock.AsyncMock(return_value=True)),
    ):
        response = await client.get("/health")
    assert response.status_code == 503
    assert response.json()["checks"] == {"dynamodb": "down", "broker": "ok"}
    assert response.headers["Retry-After"] == "5"


async def test_no_retry_after_outside_503(client, page, token_for):
    assert "Retry-After" not in (await client.get("/nope")).headers


# --- the docs pages: local assets only ----------------------------------------------------------

ASSET = re.compile(r'(?:src|href)="([^"]+)"')


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/docs", {"swagger-ui-bundle.js", "swagger-ui.css", "favicon-32x32.png"}),
        ("/docs/", {"swagger-ui-bundle.js", "swagger-ui.css", "favicon-32x32.png"}),
        ("/redoc", {"redoc.standalone.js", "favicon-32x32.png"}),
    ],
)
async def test_docs_pages_use_local_assets_that_answer(client, path, expected):
    response = await client.get(path)
    assert response.status_code == 200
    html = response.text
    assert "http://" not in html and "https://" not in html, "no outside host, no CDN"
    assets = ASSET.findall(html)
    assert expected <= {a.rsplit("/", 1)[-1] for a in assets}
    for asset in assets:
        assert asset.startswith("/docs-assets/"), asset
        served = await client.get(asset)
        assert served.status_code == 200, asset
        assert served.content
    if path.startswith("/docs"):
        assert '"validatorUrl": null' in html
    assert (await client.get("/openapi.json")).status_code == 200


async def test_a_missing_docs_asset_is_a_json_404(client):
    assert_error(await client.get("/docs-assets/nope.js"), 404, "not_found")


async def test_every_answer_is_nosniff_and_an_authenticated_one_no_store(client, page, token_for):
    owner = await client.get("/stats/pages/1", headers=auth(token_for(7)))
    stranger = await client.get("/stats/pages/1", headers=auth(token_for(8)))
    anonymous = await client.get("/stats/pages/1")
    health = await client.get("/health")
    for response in (owner, stranger, anonymous, health):
        assert response.headers["x-content-type-options"] == "nosniff"
    assert (owner.status_code, stranger.status_code, anonymous.status_code) == (200, 403, 401)
    assert owner.headers["cache-control"] == "no-store"
    assert stranger.headers["cache-control"] == "no-store"
    assert "cache-control" not in anonymous.headers
    assert "cache-control" not in health.headers


async def test_the_schema_documents_the_error_answers_and_no_422(client):
    schema = (await client.get("/openapi.json")).json()
    operation = schema["paths"]["/stats/pages/{page_id}"]["get"]
    assert set(operation["responses"]) == {"200", "401", "403", "404", "503"}
    for code in ("401", "403", "404", "503"):
        ref = operation["responses"][code]["content"]["application/json"]["schema"]["$ref"]
        assert ref == "#/components/schemas/ErrorOut"
    assert operation["security"] == [{"BearerAuth": []}]
    error = schema["components"]["schemas"]["ErrorBody"]
    assert set(error["required"]) == {"code", "message", "details"}
    assert "HTTPValidationError" not in schema["components"]["schemas"]


async def test_a_blocked_users_token_gets_403_once_the_consumer_folded_the_block(client, page, token_for):
    token = token_for(7, iat=int(time.time()) - 10)
    assert (await client.get("/stats/pages/1", headers=auth(token))).status_code == 200
    msg = good(b.user_blocked(7, at=datetime.now(UTC)))
    await StatsConsumer(client.app.state.repo, batch_limit=10).handle_batch([msg], asyncio.Event())
    msg.ack.assert_awaited_once()
    folded_at = time.monotonic()

    async def refused() -> bool:
        return (await client.get("/stats/pages/1", headers=auth(token))).status_code == 403

    await eventually(refused, seconds=5)
    # the "not blocked" read by the first request is cached for at most this bound
    assert time.monotonic() - folded_at < client.app.state.settings.stats_revocation_cache_seconds + 0.5
    assert_error(await client.get("/stats/pages/1", headers=auth(token)), 403, "user_blocked")
    schema = (await client.get("/openapi.json")).json()
    assert (
        "`user_blocked`"
        in schema["paths"]["/stats/pages/{page_id}"]["get"]["responses"]["403"]["description"]
    )
