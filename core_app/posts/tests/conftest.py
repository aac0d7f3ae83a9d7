"""Fixtures of the posts tests."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from core_app.pages.models import Page
from core_app.posts.models import Post
from core_app.testing.events import payloads
from core_app.testing.factories import PostFactory

events_of = payloads


def block_page(page: Page, *, permanently: bool = True) -> None:
    if permanently:
        page.blocked_permanently = True
    else:
        page.blocked_until = timezone.now() + timedelta(days=1)
    page.save()


@pytest.fixture
def post(page: Page) -> Post:
    return PostFactory(page=page)
