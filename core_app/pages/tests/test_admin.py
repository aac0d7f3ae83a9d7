"""The page admin: read-only records, block/unblock actions through the services."""

from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from core_app.pages.models import Page
from core_app.pages.services import page_block, page_unblock
from core_app.pages.tests.conftest import events
from core_app.posts.services import post_delete
from core_app.testing.factories import AdminFactory, ModeratorFactory, PageFactory, PostFactory, UserFactory
from core_app.users.services import user_block

pytestmark = pytest.mark.django_db

CHANGELIST = "/admin/pages/page/"


def _client(user):
    client = Client()
    client.force_login(user)
    return client


def _action(client, action, pages, **extra):
    data = {"action": action, "_selected_action": [str(p.pk) for p in pages], **extra}
    return client.post(CHANGELIST, data)


def _future(hours=1):
    return (timezone.now() + timedelta(hours=hours)).strftime("%Y-%m-%d %H:%M:%S")


def test_staff_lists_and_searches_pages():
    PageFactory(uuid="findme", tags=["x"])
    PageFactory(uuid="other", blocked_permanently=True)
    client = _client(ModeratorFactory())
    response = client.get(CHANGELIST, {"q": "findme"})
    assert response.status_code == 200
    assert b"findme" in response.content and b"other" not in response.content
    blocked = client.get(CHANGELIST, {"blocked_now": "yes"})
    assert b"other" in blocked.content and b"findme" not in blocked.content


def test_pages_cannot_be_edited_directly():
    page = PageFactory()
    client = _client(AdminFactory())
    client.post(f"{CHANGELIST}{page.pk}/change/", {"name": "edited", "blocked_permanently": "on"})
    page.refresh_from_db()
    assert page.name != "edited" and not page.blocked_permanently
    assert client.get(f"{CHANGELIST}add/").status_code == 403


def test_block_action_asks_then_blocks_through_the_service():
    moderator = ModeratorFactory()
    pages = PageFactory.create_batch(2)
    client = _client(moderator)
    form = _action(client, "block_pages", pages)
    assert form.status_code == 200
    assert b'name="until"' in form.content and b'name="reason"' in form.content
    assert events() == []
    response = _action(client, "block_pages", pages, apply="1", until=_future(), reason="spam")
    assert response.status_code == 302
    assert all(p.blocked_until is not None for p in Page.objects.all())
    blocked = events("page.blocked")
    assert {e.payload["page_id"] for e in blocked} == {p.pk for p in pages}
    assert {(e.actor_id, e.payload["reason"]) for e in blocked} == {(moderator.pk, "spam")}


def test_block_action_permanent_only_for_admins():
    page = PageFactory()
    form = _action(_client(ModeratorFactory()), "block_pages", [page], apply="1", until="", reason="x")
    assert form.status_code == 200  # the form again, with its error
    assert b"Only admins may block permanently" in form.content
    assert events() == []
    admin = AdminFactory()
    _action(_client(admin), "block_pages", [page], apply="1", until="", reason="x")
    assert Page.objects.get(pk=page.pk).blocked_permanently
    (event,) = events("page.blocked")
    assert (event.actor_id, event.payload["until"]) == (admin.pk, None)


def test_block_action_rejects_past_dates():
    page = PageFactory()
    past = (timezone.now() - timedelta(hours=1)).strftime("%Y-%m-%d %H:%M:%S")
    form = _action(_client(AdminFactory()), "block_pages", [page], apply="1", until=past, reason="x")
    assert form.status_code == 200
    assert events() == []


def test_unblock_action():
    moderator = ModeratorFactory()
    blocked = PageFactory(blocked_until=timezone.now() + timedelta(days=1))
    free = PageFactory()
    response = _action(_client(moderator), "unblock_pages", [blocked, free])
    assert response.status_code == 302
    assert Page.objects.get(pk=blocked.pk).blocked_until is None
    (event,) = events("page.unblocked")
    assert (event.actor_id, event.payload) == (
        moderator.pk,
        {"page_id": blocked.pk, "owner_id": blocked.owner_id, "expired": False},
    )


def test_plain_users_are_kept_out():
    response = _client(UserFactory(is_staff=True)).get(CHANGELIST)
    assert response.status_code == 302


def test_the_change_view_shows_the_pages_moderation_history_from_the_event_log():
    moderator, admin = ModeratorFactory(username="mod_ann"), AdminFactory(username="adm_bob")
    page, other = PageFactory(), PageFactory()
    client = _client(moderator)
    assert b"No moderation so far." in client.get(f"{CHANGELIST}{page.pk}/change/").content

    page_block(page=page, actor=moderator, until=timezone.now() + timedelta(days=1), reason="spam links")
    page_unblock(page=page, actor=admin)
    post_delete(actor=moderator, post_id=PostFactory(page=page).pk, reason="slur")
    user_block(actor=admin, user=page.owner, reason="ban evasion")
    page_block(page=other, actor=admin, until=None, reason="another page")

    response = client.get(f"{CHANGELIST}{page.pk}/change/")
    assert response.status_code == 200
    html = response.content.decode()
    history = html[html.index('class="moderation-history"') :]
    # newest first: the owner's block, the post deletion, the unblock, the block
    order = [history.index(t) for t in ("user.blocked", "post.deleted", "page.unblocked", "page.blocked")]
    assert order == sorted(order)
    whos_and_whys = ("mod_ann", "adm_bob", "reason: spam links", "reason: slur", "reason: ban evasion")
    assert all(text in history for text in whos_and_whys)
    assert "until: 20" in history
    assert "another page" not in history  # another page's block is not this page's history
    assert "UTC" in history


def test_the_moderation_history_escapes_what_moderators_wrote():
    page = PageFactory()
    admin = AdminFactory()
    page_block(page=page, actor=admin, until=None, reason="<script>alert(1)</script>")
    html = _client(admin).get(f"{CHANGELIST}{page.pk}/change/").content.decode()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<script>alert(1)</script>" not in html
    assert "until: permanently" in html


def test_the_history_page_shows_the_moderation_history():
    moderator = ModeratorFactory(username="mod_dee")
    page = PageFactory()
    page_block(page=page, actor=moderator, until=timezone.now() + timedelta(hours=2), reason="flood")
    response = _client(moderator).get(f"{CHANGELIST}{page.pk}/history/")
    assert response.status_code == 200
    html = response.content.decode()
    history = html[html.index('class="moderation-history"') :]
    assert "page.blocked" in history and "mod_dee" in history and "reason: flood" in history
