"""Authorization as a table: every operation of the core's schema, for each kind of caller,
against the fixture world (tests.authz.world), answers the status in tests.authz.matrix.

An operation of the schema without a row fails `test_every_operation_has_a_row`, so a new
endpoint cannot be added without deciding who may call it.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any
from unittest import mock

import pytest
import yaml
from django.db import transaction
from django.utils import timezone
from rest_framework.test import APIClient

from conftest import bearer
from core_app.notifications.services import unsubscribe_token
from core_app.testing.images import image_upload
from tests.authz.matrix import MATRIX
from tests.authz.world import CALLERS, PASSWORD, STATS, World, build_world

pytestmark = pytest.mark.django_db

Request = dict[str, Any]  # path parameters and body of one call


def _page(world: World, target: str, caller: str) -> Request:
    return {"id": world.pages[target].pk, "page_id": world.pages[target].pk, "tag_name": "t1"}


def _post(world: World, target: str, caller: str) -> Request:
    return {"id": world.posts[target].pk}


def _user(world: World, target: str, caller: str) -> Request:
    return {"id": world.users[target].pk}


def _with(params: Callable[[World, str, str], Request], **body: Any) -> Callable[[World, str, str], Request]:
    return lambda world, target, caller: {**params(world, target, caller), "body": body}


def _none(world: World, target: str, caller: str) -> Request:
    return {}


def _future() -> str:
    return (timezone.now() + timedelta(days=2)).isoformat()


# What each operation is called with: valid input, so that the answer is about who calls.
REQUESTS: dict[str, Callable[[World, str, str], Request]] = {
    "GET /api/v1/audit/": _none,
    "POST /api/v1/auth/register/": lambda w, t, c: {
        "body": {"username": f"new_{c}", "email": f"new_{c}@example.com", "password": PASSWORD}
    },
    "POST /api/v1/auth/login/": lambda w, t, c: {
        "body": {"email": w.users["owner"].email, "password": PASSWORD}
    },
    "POST /api/v1/auth/refresh/": lambda w, t, c: {"body": {"refresh": w.refresh_token("owner")}},
    # the owner's session, logged out by whoever calls
    "POST /api/v1/auth/logout/": lambda w, t, c: {"body": {"refresh": w.refresh_token("owner")}},
    "GET /api/v1/feed/": _none,
    "GET /api/v1/pages/": _none,
    "POST /api/v1/pages/": lambda w, t, c: {"body": {"name": "New page", "uuid": f"new-{c}"}},
    "GET /api/v1/pages/{page_id}/posts/": _page,
    "GET /api/v1/pages/{page_id}/stats/": _page,
    "GET /api/v1/pages/{id}/": _page,
    "PATCH /api/v1/pages/{id}/": _with(_page, description="changed"),
    "DELETE /api/v1/pages/{id}/": _page,
    "POST /api/v1/pages/{id}/block/": lambda w, t, c: {
        **_page(w, t, c),
        "body": {"until": _future(), "reason": "spam"},
    },
    "POST /api/v1/pages/{id}/follow/": _page,
    "DELETE /api/v1/pages/{id}/follow/": _page,
    "GET /api/v1/pages/{id}/follow-requests/": _page,
    "POST /api/v1/pages/{id}/follow-requests/accept/": _with(_page, all=True),
    "POST /api/v1/pages/{id}/follow-requests/reject/": _with(_page, all=True),
    "GET /api/v1/pages/{id}/followers/": _page,
    "PUT /api/v1/pages/{id}/image/": lambda w, t, c: {**_page(w, t, c), "file": True},
    "POST /api/v1/pages/{id}/tags/": _with(_page, name="t2"),
    "DELETE /api/v1/pages/{id}/tags/{tag_name}/": _page,
    "POST /api/v1/pages/{id}/unblock/": _page,
    "POST /api/v1/posts/": lambda w, t, c: {"body": {"page": w.pages[t].pk, "content": "hello"}},
    "GET /api/v1/posts/{id}/": _post,
    "PATCH /api/v1/posts/{id}/": _with(_post, content="edited"),
    "DELETE /api/v1/posts/{id}/": _post,
    "POST /api/v1/posts/{id}/like/": _post,
    "DELETE /api/v1/posts/{id}/like/": _post,
    "GET /api/v1/posts/{id}/replies/": _post,
    "GET /api/v1/posts/liked/": _none,
    "GET /api/v1/search/": lambda w, t, c: {"query": {"q": "page"}},
    "GET /api/v1/users/{id}/": _user,
    "POST /api/v1/users/{id}/block/": _with(_user, reason="spam"),
    "PATCH /api/v1/users/{id}/role/": _with(_user, role="moderator"),
    "POST /api/v1/users/{id}/unblock/": _user,
    "GET /api/v1/users/me/": _none,
    "PATCH /api/v1/users/me/": _with(_none, first_name="New"),
    "PUT /api/v1/users/me/avatar/": lambda w, t, c: {"file": True},
    "GET /api/v1/users/me/notifications/": _none,
    "PATCH /api/v1/users/me/notifications/": _with(_none, email="daily"),
    "GET /api/v1/users/me/digest/preview/": _none,
    "POST /api/v1/digests/run/": _with(_none, period="daily"),
    # the target user's own one-click link, used by whoever calls (it needs no login)
    "GET /api/v1/digests/unsubscribe/{token}/": lambda w, t, c: {"token": unsubscribe_token(w.users[t].pk)},
    "POST /api/v1/digests/unsubscribe/{token}/": lambda w, t, c: {"token": unsubscribe_token(w.users[t].pk)},
}


def _schema_operations() -> set[str]:
    response = APIClient().get("/api/schema/")
    paths = yaml.safe_load(response.content)["paths"]
    return {f"{method.upper()} {path}" for path, item in paths.items() for method in item}


def call(world: World, operation: str, target: str, caller: str) -> Any:
    method, template = operation.split(" ", 1)
    request = REQUESTS[operation](world, target, caller)
    client = APIClient()
    user = world.caller(caller)
    if user is not None:
        client.credentials(HTTP_AUTHORIZATION=bearer(user))
    path = template.format(
        **{k: v for k, v in request.items() if k in ("id", "page_id", "tag_name", "token")}
    )
    if request.get("file"):
        kwargs: dict[str, Any] = {"data": {"file": image_upload()}, "format": "multipart"}
    elif "body" in request:
        kwargs = {"data": request["body"], "format": "json"}
    else:
        kwargs = {"data": request.get("query")}
    with (
        mock.patch("core_app.common.uploads.s3_client") as s3,
        mock.patch("core_app.pages.stats.page_stats_fetch", return_value=STATS),
        mock.patch("projections.digests.tasks.digests_plan.apply_async"),
    ):
        s3.return_value.generate_presigned_url.return_value = "http://s3.test/innotter-media/image.png"
        return getattr(client, method.lower())(path, **kwargs)


CASES = [
    pytest.param(operation, target, caller, expected, id=f"{operation} [{target}] {caller}")
    for (operation, target), row in MATRIX.items()
    for caller, expected in zip(CALLERS, row, strict=True)
]


@pytest.fixture(scope="module")
def world(django_db_setup, django_db_blocker):
    """Built once for the module in an outer transaction; each test's own transaction (a
    savepoint inside it) rolls back what its call changed, and the module's is rolled back."""
    with django_db_blocker.unblock(), transaction.atomic():
        yield build_world()
        transaction.set_rollback(True)


@pytest.mark.parametrize(("operation", "target", "caller", "expected"), CASES)
def test_authorization(world, operation, target, caller, expected):
    response = call(world, operation, target, caller)
    assert response.status_code == expected, response.content[:300]


def test_every_operation_has_a_row():
    assert {operation for operation, _ in MATRIX} == _schema_operations()
    assert set(REQUESTS) == _schema_operations()
