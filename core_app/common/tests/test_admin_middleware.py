from __future__ import annotations

import pytest
from django.test import Client
from rest_framework.test import APIClient

from core_app.testing.factories import AdminFactory
from core_app.users.models import User

pytestmark = pytest.mark.django_db

PASSWORD = "Sup3r-secret-pass"


def test_api_requests_get_no_session_user_or_messages(user_client: APIClient) -> None:
    response = user_client.get("/api/v1/users/me")
    assert response.status_code == 200
    request = response.wsgi_request
    assert not hasattr(request, "session")
    assert not hasattr(request, "_messages")
    assert "sessionid" not in response.cookies and "csrftoken" not in response.cookies


def test_api_errors_keep_their_shape_without_the_admin_middleware(api_client: APIClient) -> None:
    response = api_client.post("/api/v1/posts/", {"page": 1, "content": "x"}, format="json")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "not_authenticated"


def test_admin_login_still_uses_session_and_csrf() -> None:
    admin: User = AdminFactory()
    client = Client(enforce_csrf_checks=True)
    form = client.get("/admin/login/")
    assert form.status_code == 200 and "csrftoken" in form.cookies
    refused = client.post("/admin/login/", {"username": admin.email, "password": PASSWORD})
    assert refused.status_code == 403  # no CSRF token: still refused
    token = form.cookies["csrftoken"].value
    login = client.post(
        "/admin/login/?next=/admin/",
        {"username": admin.email, "password": PASSWORD, "csrfmiddlewaretoken": token},
    )
    assert login.status_code == 302 and "sessionid" in login.cookies
    assert client.get("/admin/").status_code == 200
