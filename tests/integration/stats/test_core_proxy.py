"""The core's GET /api/v1/pages/{id}/stats/: ownership in the core, figures from the service."""

from __future__ import annotations

from unittest import mock

import httpx
import pytest

from core_app.testing.factories import PageFactory, UserFactory

pytestmark = pytest.mark.django_db

FIGURES = {
    "page_id": 1,
    "posts": 2,
    "followers": 3,
    "follow_requests": 0,
    "likes": 4,
    "replies": 1,
    "updated_at": "2026-11-27T10:00:00Z",
    "daily": [{"date": "2026-11-27", "posts": 2, "likes": 4, "followers": 3}],
}


def answer(status: int, body: object = None) -> httpx.Response:
    return httpx.Response(
        status, json=body if body is not None else {}, request=httpx.Request("GET", "http://s")
    )


@pytest.fixture
def stats_service():
    with mock.patch("core_app.pages.stats.httpx.get") as get:
        get.return_value = answer(200, FIGURES)
        yield get


@pytest.fixture
def page(user):
    return PageFactory(owner=user)


def assert_error(response, status: int, code: str) -> None:
    assert response.status_code == status, response.content
    assert response.json()["error"]["code"] == code


@pytest.mark.parametrize("suffix", ["/", ""])
def test_owner_gets_the_services_figures_with_their_token(user_client, page, stats_service, settings, suffix):
    settings.STATS_SERVICE_URL = "http://stats.test:8001/"
    response = user_client.get(f"/api/v1/pages/{page.pk}/stats{suffix}")
    assert response.status_code == 200
    assert response.json() == FIGURES
    (url,), kwargs = stats_service.call_args
    assert url == f"http://stats.test:8001/stats/pages/{page.pk}"
    assert kwargs["headers"]["Authorization"] == user_client._credentials["HTTP_AUTHORIZATION"]
    assert kwargs["timeout"] == settings.STATS_SERVICE_TIMEOUT_SECONDS


def test_another_user_is_forbidden_without_asking_the_service(client_for, page, stats_service):
    response = client_for(UserFactory()).get(f"/api/v1/pages/{page.pk}/stats/")
    assert_error(response, 403, "permission_denied")
    stats_service.assert_not_called()


def test_staff_is_not_the_owner_either(client_for, moderator, page, stats_service):
    assert_error(client_for(moderator).get(f"/api/v1/pages/{page.pk}/stats/"), 403, "permission_denied")


def test_a_blocked_page_does_not_exist_for_others(client_for, page, stats_service):
    page.blocked_permanently = True
    page.save()
    assert_error(client_for(UserFactory()).get(f"/api/v1/pages/{page.pk}/stats/"), 404, "not_found")


def test_the_owner_of_a_blocked_page_still_sees_its_figures(user_client, page, stats_service):
    page.blocked_permanently = True
    page.save()
    assert user_client.get(f"/api/v1/pages/{page.pk}/stats/").status_code == 200


@pytest.mark.parametrize("page_id", ["999999", "abc", "0", "99999999999999999999999"])
def test_unknown_or_malformed_page_is_not_found(user_client, page_id, stats_service):
    assert_error(user_client.get(f"/api/v1/pages/{page_id}/stats/"), 404, "not_found")
    stats_service.assert_not_called()


def test_no_token(api_client, page, stats_service):
    assert_error(api_client.get(f"/api/v1/pages/{page.pk}/stats/"), 401, "not_authenticated")


def test_bad_token(api_client, page, stats_service):
    api_client.credentials(HTTP_AUTHORIZATION="Bearer nope")
    assert_error(api_client.get(f"/api/v1/pages/{page.pk}/stats/"), 401, "token_invalid")


@pytest.mark.parametrize(
    "failure",
    [httpx.ConnectError("refused"), httpx.ReadTimeout("slow"), answer(500), answer(401), answer(200, ["x"])],
)
def test_service_trouble_is_503_not_500(user_client, page, stats_service, failure):
    if isinstance(failure, Exception):
        stats_service.side_effect = failure
    else:
        stats_service.return_value = failure
    assert_error(user_client.get(f"/api/v1/pages/{page.pk}/stats/"), 503, "service_unavailable")


def test_garbage_from_the_service_is_503(user_client, page, stats_service):
    stats_service.return_value = httpx.Response(
        200, content=b"<html>", request=httpx.Request("GET", "http://s")
    )
    assert_error(user_client.get(f"/api/v1/pages/{page.pk}/stats/"), 503, "service_unavailable")


def test_a_page_the_service_has_not_folded_yet_is_404(user_client, page, stats_service):
    stats_service.return_value = answer(404, {"error": {"code": "not_found"}})
    assert_error(user_client.get(f"/api/v1/pages/{page.pk}/stats/"), 404, "not_found")


def test_other_methods_are_405(user_client, page, stats_service):
    assert user_client.post(f"/api/v1/pages/{page.pk}/stats/").status_code == 405


def test_the_real_service_down_is_503(user_client, page, settings):
    from stats_ms.tests.conftest import free_port

    settings.STATS_SERVICE_URL = f"http://127.0.0.1:{free_port()}"
    assert_error(user_client.get(f"/api/v1/pages/{page.pk}/stats/"), 503, "service_unavailable")
