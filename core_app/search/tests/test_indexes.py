"""The search queries are served by the trigram GIN indexes (EXPLAIN on a few thousand rows)."""

from __future__ import annotations

import pytest
from django.db import connection

from core_app.pages.models import Page, Tag
from core_app.search.selectors import page_search, user_search
from core_app.testing.factories import UserFactory
from core_app.users.models import User

pytestmark = pytest.mark.django_db

ROWS = 5000


@pytest.fixture
def many_rows() -> None:
    owner = UserFactory()
    User.objects.bulk_create(
        User(
            username=f"person{i:05d}", email=f"p{i}@example.com", first_name=f"first{i}", last_name=f"last{i}"
        )
        for i in range(ROWS)
    )
    pages = Page.objects.bulk_create(
        Page(owner=owner, name=f"page name {i:05d}", uuid=f"handle-{i:05d}") for i in range(ROWS)
    )
    tags = Tag.objects.bulk_create(Tag(name=f"topic{i:05d}") for i in range(ROWS))
    Page.tags.through.objects.bulk_create(
        Page.tags.through(page_id=p.pk, tag_id=t.pk) for p, t in zip(pages, tags, strict=True)
    )
    # What autovacuum does on a live database: merge GIN pending lists, refresh statistics.
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT gin_clean_pending_list(indexrelid::regclass) FROM pg_index i "
            "JOIN pg_class c ON c.oid = i.indexrelid WHERE c.relname LIKE '%%_trgm'"
        )
        cursor.execute("ANALYZE")


def test_searches_use_the_trigram_indexes_and_find_the_rows(many_rows, user) -> None:
    page_plan = page_search(viewer=user, q="01234", limit=20).explain()
    user_plan = user_search(viewer=user, q="01234", limit=20).explain()

    for index in ("page_name_trgm", "page_uuid_trgm", "tag_name_trgm"):
        assert f"Bitmap Index Scan on {index}" in page_plan, page_plan
    for index in ("user_username_trgm", "user_first_name_trgm", "user_last_name_trgm"):
        assert f"Bitmap Index Scan on {index}" in user_plan, user_plan
    assert [p.uuid for p in page_search(viewer=user, q="handle-01234", limit=5)] == ["handle-01234"]
    assert len(page_search(viewer=user, q="topic0123", limit=100)) == 10
    assert [u.username for u in user_search(viewer=user, q="person02999", limit=5)] == ["person02999"]
