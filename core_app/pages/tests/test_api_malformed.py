"""No input, however malformed, makes a page endpoint answer 5xx."""

import json

import pytest

from core_app.pages.models import FollowStatus
from core_app.testing.factories import FollowFactory, PageFactory

pytestmark = pytest.mark.django_db

BODIES = [
    "null",
    "[]",
    '"text"',
    "123",
    "true",
    '{"name": {"a": 1}, "uuid": ["x"], "tags": {"a": 1}, "is_private": null}',
    '{"user_ids": [[1]], "all": {}}',
    '{"until": "2999-13-45T99:99:99Z", "reason": null}',
    '{"until": "", "reason": ""}',
    '{"name": "' + "x" * 100_000 + '"}',
    '{"tags": [' + ",".join(['"t"'] * 5000) + "]}",
    '{"name": "\\u0000", "uuid": "abc"}',
    "{broken",
]

ENDPOINTS = [
    ("post", ""),
    ("patch", "{id}/"),
    ("post", "{id}/tags/"),
    ("post", "{id}/follow-requests/accept/"),
    ("post", "{id}/follow-requests/reject/"),
    ("post", "{id}/block/"),
    ("post", "{id}/unblock/"),
    ("post", "{id}/follow/"),
    ("put", "{id}/image/"),
]


@pytest.mark.parametrize(("method", "path"), ENDPOINTS)
def test_malformed_bodies_are_client_errors(admin_user, client_for, method, path):
    page = PageFactory(owner=admin_user, is_private=True)
    FollowFactory(page=page, status=FollowStatus.PENDING, accepted_at=None)
    client = client_for(admin_user)
    url = "/api/v1/pages/" + path.format(id=page.pk)
    for body in BODIES:
        response = getattr(client, method)(url, body, content_type="application/json")
        assert response.status_code < 500, (body[:80], response.content[:200])
        if response.status_code >= 400:
            assert set(json.loads(response.content)["error"]) == {"code", "message", "details"}
