"""End to end: core services -> event log -> relay -> RabbitMQ -> stats consumer -> DynamoDB
-> GET /stats/pages/{id} and the core's GET /api/v1/pages/{id}/stats/; then a rebuild."""

from __future__ import annotations

import asyncio
import io

import httpx
import pytest
from django.core.management import call_command

from conftest import bearer
from core_app.pages.models import Page
from stats_ms.aws import dynamodb_resource
from stats_ms.rebuild import rebuild
from stats_ms.repository import StatsRepository
from tests.integration.stats.conftest import wait_for
from tests.integration.stats.history import History, core_figures

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]
FIGURES = ("posts", "followers", "follow_requests", "likes", "replies")


def stats_of(stats_api: str, page: Page) -> httpx.Response:
    return httpx.get(f"{stats_api}/stats/pages/{page.pk}", headers={"Authorization": bearer(page.owner)})


def figures_match(stats_api: str, pages: list[Page]) -> bool:
    for page in pages:
        response = stats_of(stats_api, page)
        if response.status_code != 200:
            return False
        if {k: response.json()[k] for k in FIGURES} != core_figures(page):
            return False
    return True


def test_figures_equal_the_core_database_after_a_generated_history(
    stats_api, stats_consumer, relay, client_for, stats_settings
):
    history = History(seed=5)
    history.run(steps=120)
    doomed = history.pages[-1]
    history.delete_page(doomed)

    wait_for(lambda: figures_match(stats_api, history.pages), what="statistics catching up with the core")
    assert any(core_figures(p)["posts"] for p in history.pages), "the history wrote no posts"
    assert any(core_figures(p)["likes"] for p in history.pages), "the history liked nothing"
    # The deleted page is unknown from now on, for its former owner too.
    assert stats_of(stats_api, doomed).status_code == 404

    # The core's proxy gives its owner the same figures, and nobody else.
    page = max(history.pages, key=lambda p: core_figures(p)["posts"])
    via_core = client_for(page.owner).get(f"/api/v1/pages/{page.pk}/stats/")
    assert via_core.status_code == 200, via_core.content
    assert via_core.json() == stats_of(stats_api, page).json()
    stranger = next(u for u in history.users if u.pk != page.owner_id)
    assert client_for(stranger).get(f"/api/v1/pages/{page.pk}/stats/").status_code == 403

    # A rebuild from the exported log equals the live figures.
    live = {p.pk: stats_of(stats_api, p).json() for p in history.pages}
    export = io.StringIO()
    call_command("export_event_log", stdout=export, stderr=io.StringIO())
    report = asyncio.run(_rebuild(stats_settings, export.getvalue().splitlines()))
    assert report.skipped == 0 and report.folded == report.read > 50

    def switched() -> bool:
        return all(stats_of(stats_api, p).json() == live[p.pk] for p in history.pages)

    wait_for(switched, what="the API reading the rebuilt tables")
    assert stats_of(stats_api, doomed).status_code == 404


async def _rebuild(settings, lines):
    async with dynamodb_resource(settings) as dynamodb:
        return await rebuild(StatsRepository(dynamodb, settings), settings, lines)


def test_one_write_reaches_the_api_through_the_pipeline(stats_api, stats_consumer, relay, user):
    from core_app.pages.services import page_create
    from core_app.posts.services import post_create, post_like

    page = page_create(owner=user, name="Mine", uuid="pipeline-one")
    wait_for(lambda: stats_of(stats_api, page).status_code == 200, what="page.created folded")
    post = post_create(author=user, page_id=page.pk, content="first")
    post_like(user=user, post_id=post.pk)
    wait_for(lambda: stats_of(stats_api, page).json()["likes"] == 1, what="post.liked folded")
    body = stats_of(stats_api, page).json()
    assert (body["posts"], body["likes"], body["followers"]) == (1, 1, 0)
    assert [d["posts"] for d in body["daily"]] == [1]
