"""The OpenAPI schema documents what the API answers, errors included (core_app.common.schema)."""

from __future__ import annotations

from typing import Any

import pytest
import yaml
from rest_framework.test import APIClient

pytestmark = pytest.mark.django_db


@pytest.fixture(scope="module")
def schema(django_db_blocker: Any) -> dict[str, Any]:
    with django_db_blocker.unblock():
        return yaml.safe_load(APIClient().get("/api/schema/").content)


def _operations(schema: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    return [(f"{m.upper()} {p}", op) for p, item in schema["paths"].items() for m, op in item.items()]


def _error_ref(operation: dict[str, Any], code: str) -> str:
    return operation["responses"][code]["content"]["application/json"]["schema"]["$ref"]


def test_the_error_envelope_is_a_component(schema):
    error = schema["components"]["schemas"]["Error"]
    assert error["required"] == ["error"]
    body = schema["components"]["schemas"]["ErrorBody"]
    assert set(body["required"]) == {"code", "message", "details"}


def test_every_operation_documents_503_and_its_error_codes_with_the_envelope(schema):
    for name, operation in _operations(schema):
        assert "503" in operation["responses"], name
        assert "Retry-After" in operation["responses"]["503"]["headers"], name
        for code in operation["responses"]:
            if code.startswith(("4", "5")):
                assert _error_ref(operation, code) == "#/components/schemas/Error", (name, code)


def test_every_operation_takes_and_every_answer_returns_the_request_id(schema):
    for name, operation in _operations(schema):
        [header] = [p for p in operation["parameters"] if p["in"] == "header"]
        assert (header["name"], header["required"], header["schema"]) == (
            "X-Request-ID",
            False,
            {"type": "string"},  # any value is accepted (an unfit one is replaced, never refused)
        ), name
        for code, response in operation["responses"].items():
            assert response["headers"]["X-Request-ID"]["required"] is True, (name, code)
    retry_after = _operations(schema)[0][1]["responses"]["503"]["headers"]
    assert set(retry_after) == {"Retry-After", "X-Request-ID"}


def test_error_codes_follow_what_the_operation_takes(schema):
    ops = dict(_operations(schema))
    assert set(ops["POST /api/v1/pages/"]["responses"]) >= {"400", "401", "403", "409", "413", "415"}
    assert "404" in ops["GET /api/v1/pages/{id}/"]["responses"]
    assert "404" not in ops["GET /api/v1/feed/"]["responses"]
    assert "413" not in ops["GET /api/v1/pages/"]["responses"]
    assert set(ops["POST /api/v1/auth/login/"]["responses"]) >= {"401", "403", "429"}
    assert "429" not in ops["POST /api/v1/auth/register/"]["responses"]
    assert "401" not in ops["POST /api/v1/auth/register/"]["responses"]  # takes no token


def test_replies_are_a_paginated_list_with_limit_and_cursor(schema):
    operation = schema["paths"]["/api/v1/posts/{id}/replies/"]["get"]
    assert {p["name"] for p in operation["parameters"] if p["in"] != "header"} == {"id", "limit", "cursor"}
    ref = operation["responses"]["200"]["content"]["application/json"]["schema"]["$ref"]
    paginated = schema["components"]["schemas"][ref.rsplit("/", 1)[1]]
    assert set(paginated["required"]) == {"results", "next"}
    assert paginated["properties"]["results"]["items"]["$ref"] == "#/components/schemas/Post"


def test_search_answers_one_object_of_pages_and_users(schema):
    answer = schema["paths"]["/api/v1/search/"]["get"]["responses"]["200"]["content"]["application/json"]
    assert answer["schema"] == {"$ref": "#/components/schemas/SearchResult"}
    result = schema["components"]["schemas"]["SearchResult"]
    assert set(result["properties"]) == {"pages", "users"}


def test_fields_left_out_for_other_viewers_are_not_required(schema):
    user = schema["components"]["schemas"]["User"]
    assert "email" in user["properties"] and "email" not in user["required"]
    assert "email_notifications" not in user["required"] and "username" in user["required"]
