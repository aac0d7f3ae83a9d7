"""Fixtures of the posts tests."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from core_app.pages.models import Page
from core_app.posts.models import Post
from core_app.testing.factories import PageFactory, PostFactory, UserFactory
from core_app.users.models import User
from events.models import StoredEvent


def events_of(type_: str) -> list[dict[str, Any]]:
    """Payloads of the stored events of one type, in log order."""
    return list(StoredEvent.objects.filter(type=type_).order_by("position").values_list("payload", flat=True))


def block_page(page: Page, *, permanently: bool = True) -> None:
    if permanently:
        page.blocked_permanently = True
    else:
        page.blocked_until = timezone.now() + timedelta(days=1)
    page.save()


@pytest.fixture
def owner(db: None) -> User:
    return UserFactory()


@pytest.fixture
def page(owner: User) -> Page:
    return PageFactory(owner=owner)


@pytest.fixture
def post(page: Page) -> Post:
    return PostFactory(page=page)


@pytest.fixture
def private_page(owner: User) -> Page:
    return PageFactory(owner=owner, is_private=True)
