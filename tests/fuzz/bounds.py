"""What both contract fuzzers check and how far they go: fixed seed, examples per operation.

With these, both services as both callers are about 5,400 cases in about 60 s of test time on
the shared 2-core machine (load 7; the bound is 3 minutes); schemathesis adds its explicit and
coverage cases to MAX_EXAMPLES.
"""

from __future__ import annotations

from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

CHECKS = [not_a_server_error, response_schema_conformance, content_type_conformance, status_code_conformance]
MAX_EXAMPLES = 30
SEED = 12
# No deadline (a shared, loaded machine), no example database (the same cases every run).
FUZZ_SETTINGS = settings(
    max_examples=MAX_EXAMPLES, deadline=None, database=None, suppress_health_check=list(HealthCheck)
)
