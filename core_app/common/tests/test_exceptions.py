from __future__ import annotations

import pytest
from django.core.exceptions import PermissionDenied
from django.http import Http404
from rest_framework import exceptions as drf
from rest_framework import serializers
from rest_framework.decorators import api_view, permission_classes
from rest_framework.test import APIRequestFactory

from core_app.common.exceptions import (
    ApplicationError,
    Conflict,
    FileTooLarge,
    NotFound,
    ValidationFailed,
    api_exception_handler,
    error_body,
)

factory = APIRequestFactory()


def _raising(exc: Exception):
    @api_view(["GET", "POST"])
    @permission_classes([])
    def view(request):
        raise exc

    return view


def _call(exc: Exception):
    request = factory.get("/x")
    request.jwt_user = request.jwt_error = None  # what the JWT middleware leaves for anonymous calls
    response = _raising(exc)(request)
    return response.status_code, response.data


@pytest.mark.parametrize(
    ("exc", "status", "code"),
    [
        (NotFound(), 404, "not_found"),
        (Conflict("Taken.", details={"username": ["Taken."]}), 409, "conflict"),
        (FileTooLarge(), 413, "file_too_large"),
        (ValidationFailed.field("limit", "Bad."), 400, "validation_error"),
    ],
)
def test_domain_errors_get_their_status_and_body(exc: ApplicationError, status: int, code: str) -> None:
    got_status, body = _call(exc)
    assert got_status == status
    assert body == error_body(code, exc.message, exc.details)
    assert set(body["error"]) == {"code", "message", "details"}


def test_validation_failed_field_details() -> None:
    _, body = _call(ValidationFailed.field("limit", "Bad."))
    assert body["error"]["details"] == {"limit": ["Bad."]}


@pytest.mark.parametrize(
    ("exc", "status", "code"),
    [
        (drf.NotAuthenticated(), 401, "not_authenticated"),
        (drf.AuthenticationFailed(), 401, "token_invalid"),
        (drf.PermissionDenied(), 403, "permission_denied"),
        (drf.NotFound(), 404, "not_found"),
        (drf.MethodNotAllowed("PUT"), 405, "method_not_allowed"),
        (drf.Throttled(), 429, "throttled"),
        (drf.UnsupportedMediaType("text/plain"), 415, "unsupported_media_type"),
        (Http404(), 404, "not_found"),
        (PermissionDenied(), 403, "permission_denied"),
    ],
)
def test_drf_and_django_errors_get_the_same_body(exc: Exception, status: int, code: str) -> None:
    got_status, body = _call(exc)
    assert got_status == status
    assert body["error"]["code"] == code
    assert isinstance(body["error"]["message"], str) and body["error"]["details"] == {}


def test_drf_validation_error_details_map_fields_to_lists() -> None:
    status, body = _call(drf.ValidationError({"name": "Required.", "tags": ["Bad.", "Worse."]}))
    assert status == 400
    assert body["error"]["code"] == "validation_error"
    assert body["error"]["details"] == {"name": ["Required."], "tags": ["Bad.", "Worse."]}


def test_non_field_validation_error_is_listed_under_non_field_errors() -> None:
    _, body = _call(drf.ValidationError("Nope."))
    assert body["error"]["details"] == {"non_field_errors": ["Nope."]}


def test_serializer_errors_flow_through_the_handler() -> None:
    class S(serializers.Serializer):
        name = serializers.CharField()

    serializer = S(data={})
    assert not serializer.is_valid()
    _, body = _call(drf.ValidationError(serializer.errors))
    assert list(body["error"]["details"]) == ["name"]


def test_parse_error_is_a_validation_error() -> None:
    view = _raising(drf.ParseError("JSON parse error"))
    request = factory.post("/x", "{", content_type="application/json")
    request.jwt_user = request.jwt_error = None
    response = view(request)
    assert response.status_code == 400
    assert response.data["error"]["code"] == "validation_error"
    assert response.data["error"]["details"] == {"body": ["JSON parse error"]}


def test_unknown_exceptions_are_left_to_django() -> None:
    assert api_exception_handler(RuntimeError("boom"), {}) is None


@pytest.mark.django_db
def test_unknown_url_gets_the_json_404(client) -> None:
    response = client.get("/api/v1/definitely-not-here/")
    assert response.status_code == 404
    assert response.json() == error_body("not_found", "Not found.")


def test_oversized_form_data_is_413_not_a_generic_400(user_client, settings) -> None:
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1024
    response = user_client.put("/api/v1/users/me/avatar", {"note": "x" * 4000}, format="multipart")
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "request_too_large"


def test_too_many_fields_is_a_validation_error(user_client, settings) -> None:
    settings.DATA_UPLOAD_MAX_NUMBER_FIELDS = 3
    body = {f"f{i}": "x" for i in range(10)}
    response = user_client.put("/api/v1/users/me/avatar", body, format="multipart")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "validation_error"
