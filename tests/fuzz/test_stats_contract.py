"""Contract fuzzer of the statistics service: schemathesis over its own OpenAPI schema (ASGI,
in-process, DynamoDB from moto's server), as the owner of a page and as an admin.

The same checks and bounds as the core's fuzzer. No operation or check is excluded.
"""

from __future__ import annotations

import asyncio

import pytest
import schemathesis
from hypothesis import seed

from stats_ms.aws import dynamodb_resource
from stats_ms.main import create_app
from stats_ms.repository import StatsRepository
from stats_ms.settings import Settings
from stats_ms.tests import builders as b
from stats_ms.tests.conftest import folded, keys, moto_endpoint, sign  # noqa: F401 (fixtures)
from stats_ms.tests.conftest import settings as stats_settings
from tests.fuzz.bounds import CHECKS, FUZZ_SETTINGS, SEED

OWNER_ID, ADMIN_ID, PAGE_ID = 7, 99, 1

# The schema is the app's own; the app that answers is built per test with the test's settings.
schema = schemathesis.openapi.from_dict(create_app(Settings(_env_file=None)).openapi())  # type: ignore[call-arg]


async def _seed(settings: Settings) -> None:
    async with dynamodb_resource(settings) as dynamodb:
        repo = StatsRepository(dynamodb, settings)
        await repo.ensure_tables()
        await repo.apply(folded(b.page_created(PAGE_ID, OWNER_ID), b.post_created(10, PAGE_ID, OWNER_ID)))


@pytest.fixture(scope="module")
def stats_app(moto_endpoint, keys):  # noqa: F811
    settings = stats_settings.__wrapped__(moto_endpoint, keys)
    asyncio.run(_seed(settings))
    return create_app(settings)


@pytest.fixture
def caller_headers(role, keys):  # noqa: F811
    token = sign(keys, str(ADMIN_ID), role="admin") if role == "admin" else sign(keys, str(OWNER_ID))
    return {"Authorization": f"Bearer {token}"}


@pytest.mark.parametrize("role", ["owner", "admin"])
@schema.parametrize()
@seed(SEED)
@FUZZ_SETTINGS
def test_stats_contract(case, role, caller_headers, stats_app, fuzz_tally):
    fuzz_tally.record("stats", role, case.operation.label)
    response = case.call_and_validate(
        app=stats_app, base_url="http://stats", headers=caller_headers, checks=CHECKS
    )
    fuzz_tally.answered("stats", response.status_code)
