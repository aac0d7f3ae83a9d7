"""Contract fuzzer of the core API: schemathesis over the core's own OpenAPI schema (WSGI,
in-process, on the test database), as a normal user and as an admin.

Checks: no 5xx, answers match their documented schema and content type, and every status code
is documented. Bounded (tests.fuzz.bounds): a fixed seed and MAX_EXAMPLES per operation and
caller (schemathesis's explicit and coverage cases come on top). No operation or check is
excluded; S3 is mocked (an upload that passes validation is stored, as the unit tests do).
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
from core_app.testing.factories import AdminFactory, UserFactory
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
def caller_headers(role, db, in_test_transaction):
    factory = AdminFactory if role == "admin" else UserFactory
    with mock.patch("core_app.common.uploads.s3_client") as s3:
        s3.return_value.generate_presigned_url.return_value = "http://s3.test/innotter-media/image.png"
        yield {"Authorization": bearer(factory())}


@pytest.mark.django_db
@pytest.mark.parametrize("role", ["user", "admin"])
@schema.parametrize()
@seed(SEED)
@FUZZ_SETTINGS
def test_core_contract(case, role, caller_headers, fuzz_tally):
    fuzz_tally.record("core", role, case.operation.label)
    case.call_and_validate(headers=caller_headers, checks=CHECKS)


def test_every_operation_specific_error_names_an_operation():
    paths = schema.raw_schema["paths"]
    operations = {f"{method.upper()} {path}" for path, item in paths.items() for method in item}
    assert set(OPERATION_ERRORS) <= operations
