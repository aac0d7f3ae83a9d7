"""Fixtures and helpers of the page tests."""

from __future__ import annotations

from typing import Any

import pytest

from core_app.pages.models import Page
from core_app.testing.factories import PageFactory, UserFactory
from core_app.users.models import User
from events.models import StoredEvent


def events(type_: str | None = None) -> list[StoredEvent]:
    """The appended events (of one type), in log order."""
    stored = StoredEvent.objects.order_by("position")
    return list(stored.filter(type=type_) if type_ else stored)


def payloads(type_: str) -> list[dict[str, Any]]:
    return [event.payload for event in events(type_)]


def event_types() -> list[str]:
    return [event.type for event in events()]


@pytest.fixture
def owner(db: None) -> User:
    return UserFactory()


@pytest.fixture
def page(owner: User) -> Page:
    return PageFactory(owner=owner)


@pytest.fixture
def private_page(owner: User) -> Page:
    return PageFactory(owner=owner, is_private=True)
