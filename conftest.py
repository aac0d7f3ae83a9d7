"""Fixtures shared by the whole suite."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from rest_framework.test import APIClient

from core_app.common.auth.tokens import issue_access_token
from core_app.pages.models import Page
from core_app.testing.factories import AdminFactory, ModeratorFactory, PageFactory, UserFactory
from core_app.users.models import User


def bearer(user: User) -> str:
    token, _ = issue_access_token(user_id=user.pk, role=user.role)
    return f"Bearer {token}"


@pytest.fixture
def api_client() -> APIClient:
    return APIClient()


@pytest.fixture
def client_for() -> Callable[[User], APIClient]:
    """A factory of API clients authenticated as a given user."""

    def make(user: User) -> APIClient:
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=bearer(user))
        return client

    return make


@pytest.fixture
def user(db: None) -> User:
    return UserFactory()


@pytest.fixture
def moderator(db: None) -> User:
    return ModeratorFactory()


@pytest.fixture
def admin_user(db: None) -> User:
    return AdminFactory()


@pytest.fixture
def user_client(user: User, client_for: Callable[[User], APIClient]) -> APIClient:
    return client_for(user)


@pytest.fixture
def owner(db: None) -> User:
    """The owner of `page` and `private_page`."""
    return UserFactory()


@pytest.fixture
def page(owner: User) -> Page:
    return PageFactory(owner=owner)


@pytest.fixture
def private_page(owner: User) -> Page:
    return PageFactory(owner=owner, is_private=True)


@pytest.fixture(autouse=True)
def _no_home_feeds(request: pytest.FixtureRequest) -> Iterator[None]:
    """Home feeds live in Redis, outside the test database's rollback: each test starts without."""
    if not request.node.get_closest_marker("django_db") and not {"db", "transactional_db"} & set(
        request.fixturenames
    ):
        yield
        return
    request.getfixturevalue("django_db_setup")  # feed keys carry the database's name: the test one
    from projections.feed import store

    store.clear()
    yield
    store.clear()
