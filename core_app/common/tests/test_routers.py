from __future__ import annotations

import pytest

from core_app.common.routers import Router

pytestmark = pytest.mark.django_db

PASSWORD = "Sup3r-secret-pass"


def test_router_patterns_make_the_slash_optional() -> None:
    from core_app.users.urls import router

    assert isinstance(router, Router)
    patterns = {str(url.pattern) for url in router.urls}
    assert r"^auth/login/?$" in patterns and r"^users/(?P<pk>[^/.]+)/?$" in patterns


@pytest.mark.parametrize("suffix", ["", "/"])
def test_post_answers_with_and_without_slash_and_never_redirects(api_client, user, suffix: str) -> None:
    response = api_client.post(
        f"/api/v1/auth/login{suffix}", {"email": user.email, "password": PASSWORD}, format="json"
    )
    assert response.status_code == 200
    assert "access" in response.json()


@pytest.mark.parametrize("suffix", ["", "/"])
def test_get_answers_with_and_without_slash(user_client, suffix: str) -> None:
    assert user_client.get(f"/api/v1/users/me{suffix}").status_code == 200
