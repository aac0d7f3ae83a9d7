from __future__ import annotations

import base64

import pytest
from rest_framework import generics
from rest_framework.permissions import AllowAny
from rest_framework.test import APIRequestFactory

from core_app.common.pagination import CursorPagination
from core_app.testing.factories import UserFactory
from core_app.users.models import User
from core_app.users.serializers import UserBriefSerializer

pytestmark = pytest.mark.django_db
factory = APIRequestFactory()


class UserList(generics.ListAPIView):
    authentication_classes = []
    permission_classes = [AllowAny]
    serializer_class = UserBriefSerializer
    pagination_class = CursorPagination
    queryset = User.objects.all()


def _get(url: str = "/users", **params: str):
    return UserList.as_view()(factory.get(url, params))


def _follow_all(limit: int) -> list[int]:
    ids: list[int] = []
    response = _get(limit=str(limit))
    while True:
        assert set(response.data) == {"results", "next"}
        ids.extend(row["id"] for row in response.data["results"])
        if response.data["next"] is None:
            return ids
        response = UserList.as_view()(factory.get(response.data["next"]))


def test_default_limit_and_shape() -> None:
    UserFactory.create_batch(25)
    response = _get()
    assert response.status_code == 200
    assert len(response.data["results"]) == 20
    assert response.data["next"].startswith("http://testserver/users?")


def test_following_next_yields_every_item_once_newest_first() -> None:
    users = UserFactory.create_batch(7)
    assert _follow_all(limit=3) == sorted((u.pk for u in users), reverse=True)


def test_items_written_while_paging_do_not_duplicate_or_skip() -> None:
    users = UserFactory.create_batch(4)
    first = _get(limit="2")
    UserFactory.create_batch(3)  # newer rows appear before the cursor, not inside the walk
    rest = UserList.as_view()(factory.get(first.data["next"]))
    seen = [r["id"] for r in first.data["results"]] + [r["id"] for r in rest.data["results"]]
    assert seen == sorted((u.pk for u in users), reverse=True)


def test_limit_is_capped_at_100() -> None:
    UserFactory.create_batch(101)
    assert len(_get(limit="500").data["results"]) == 100
    assert len(_get(limit="9" * 5000).data["results"]) == 100
    assert len(_get(limit="0003").data["results"]) == 3


@pytest.mark.parametrize("limit", ["0", "000", "-1", "abc", "1.5", "1e3", " 5", "\u00b2", "\u0663"])
def test_bad_limit_is_400(limit: str) -> None:
    response = _get(limit=limit)
    assert response.status_code == 400
    assert response.data["error"]["code"] == "validation_error"
    assert "limit" in response.data["error"]["details"]


def _cursor(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


@pytest.mark.parametrize(
    "cursor",
    [
        "garbage",
        "cD0xMjM",  # unpadded
        "%%%",
        "",
        _cursor("o=1&r=1&p=x"),  # not an id
        _cursor("p=" + "9" * 30),  # beyond bigint
        *(_cursor(f"p={p}") for p in ["-5", "+5", " 5", "1_0", "\u0663", "9" * 5000]),  # not plain digits
        _cursor("o=-5"),
        _cursor("z=1"),
        _cursor("r=maybe"),
    ],
)
def test_bad_cursor_is_400(cursor: str) -> None:
    UserFactory.create_batch(2)
    response = _get(cursor=cursor)
    assert response.status_code == 400
    assert response.data["error"]["code"] == "validation_error"
    assert "cursor" in response.data["error"]["details"]


def test_a_cursor_we_issued_is_accepted() -> None:
    users = UserFactory.create_batch(3)
    response = _get(cursor=_cursor(f"p={users[2].pk}"))
    assert response.status_code == 200
    assert [r["id"] for r in response.data["results"]] == [users[1].pk, users[0].pk]
