"""Contract fuzzer of the core API: schemathesis over the core's own OpenAPI schema (WSGI,
in-process, on the test database), as a normal user and as an admin.

Checks: no 5xx, answers match their documented schema and content type, and every status code
is documented. Bounded (tests.fuzz.bounds): a fixed seed and MAX_EXAMPLES per operation and
caller (schemathesis's explicit and coverage cases come on top). About half the generated ids
are swapped for objects of the authorization matrix's world (`aim`), so that answers past 404
are checked too. No operation or check is excluded; S3 and the statistics service, outside the
core, are mocked as in the unit tests.
"""

from __future__ import annotations

from unittest import mock

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from hypothesis import seed

from conftest import bearer
from core_app.common.schema import OPERATION_ERRORS
from tests.authz.world import STATS, World, build_world
from tests.fuzz.bounds import CHECKS, FUZZ_SETTINGS, SEED

schema = schemathesis.openapi.from_wsgi("/api/schema/?format=json", get_wsgi_application())


@pytest.fixture
def in_test_transaction():
    """The WSGI handler closes the connection around each request, and the test's transaction
    is on it (Django's test client disconnects the same signals)."""
    for signal in (request_started, request_finished):
        signal.disconnect(close_old_connections)
    yield
    for signal in (request_started, request_finished):
        signal.connect(close_old_connections)


@pytest.fixture
def world(db, in_test_transaction):
    """The authorization matrix's world (pages, posts, follows), for the fuzzer to aim at; S3, the
    statistics service and the task broker (outside the core) are mocked."""
    with (
        mock.patch("core_app.common.uploads.s3_client") as s3,
        mock.patch("core_app.pages.stats.page_stats_fetch", return_value=STATS),
        mock.patch("projections.digests.tasks.digests_plan.apply_async"),
    ):
        s3.return_value.generate_presigned_url.return_value = "http://s3.test/innotter-media/image.png"
        yield build_world()


@pytest.fixture
def caller_headers(role, world):
    """The user is the world's page owner, so that their own pages' operations get past 403."""
    return {"Authorization": bearer(world.users["owner" if role == "user" else "admin"])}


def aim(case, world: World) -> None:
    """Send about half the cases to objects that exist (a page, post or user of the world, the
    tag `t1`), chosen from the generated value, so that answers other than 404 are checked too."""
    params = case.path_parameters
    if not params:
        return
    on_posts = case.path.startswith("/api/v1/posts/")
    targets = {
        "id": (world.posts if on_posts else world.pages)["public"].pk,
        "page_id": world.pages["public"].pk,
        "tag_name": "t1",
    }
    if case.path.startswith("/api/v1/users/"):
        targets["id"] = world.users["stranger"].pk
    for name, generated in list(params.items()):
        if name in targets and len(str(generated)) % 2 == 0:
            params[name] = targets[name]


@pytest.mark.django_db
@pytest.mark.parametrize("role", ["user", "admin"])
@schema.parametrize()
@seed(SEED)
@FUZZ_SETTINGS
def test_core_contract(case, role, world, caller_headers, fuzz_tally):
    fuzz_tally.record("core", role, case.operation.label)
    aim(case, world)
    response = case.call_and_validate(headers=caller_headers, checks=CHECKS)
    fuzz_tally.answered("core", response.status_code)


def test_every_operation_specific_error_names_an_operation():
    paths = schema.raw_schema["paths"]
    operations = {f"{method.upper()} {path}" for path, item in paths.items() for method in item}
    assert set(OPERATION_ERRORS) <= operations
