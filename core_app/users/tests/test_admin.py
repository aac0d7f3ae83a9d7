from __future__ import annotations

import pytest
from django.contrib import admin
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from core_app.common.admin_site import InnotterAdminSite
from core_app.testing.events import stored_events
from core_app.testing.factories import AdminFactory, ModeratorFactory, PageFactory, UserFactory
from core_app.users.models import Role, User
from core_app.users.services import user_block, user_change_role, user_unblock
from events.models import StoredEvent

pytestmark = pytest.mark.django_db

CHANGELIST = "/admin/users/user/"


def _client(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


_events = stored_events


def _action(client: Client, action: str, users: list[User], **extra: str):
    data = {"action": action, "_selected_action": [str(u.pk) for u in users], **extra}
    return client.post(CHANGELIST, data)


def test_the_default_site_is_the_role_aware_one() -> None:
    assert isinstance(admin.site, InnotterAdminSite)


@pytest.mark.parametrize("factory", [ModeratorFactory, AdminFactory])
def test_staff_roles_see_the_user_list(factory) -> None:
    staff = factory()
    UserFactory(username="findme")
    response = _client(staff).get(CHANGELIST, {"q": "findme"})
    assert response.status_code == 200
    assert b"findme" in response.content


def test_plain_users_and_blocked_staff_are_kept_out() -> None:
    for user in (UserFactory(is_staff=True), AdminFactory(is_blocked=True)):
        response = _client(user).get(CHANGELIST)
        assert response.status_code == 302 and "/admin/login/" in response["Location"]


def test_login_form_rejects_blocked_staff_and_plain_users() -> None:
    blocked = AdminFactory(is_blocked=True)
    plain = UserFactory(is_staff=True)
    for user in (blocked, plain):
        client = Client()
        response = client.post("/admin/login/", {"username": user.email, "password": "Sup3r-secret-pass"})
        assert response.status_code == 200  # the form again, with an error
        assert "_auth_user_id" not in client.session


def test_moderator_logs_in_by_role_even_without_the_flag() -> None:
    moderator = ModeratorFactory(is_staff=False)
    client = Client()
    response = client.post(
        "/admin/login/?next=/admin/", {"username": moderator.email, "password": "Sup3r-secret-pass"}
    )
    assert response.status_code == 302
    assert client.session["_auth_user_id"] == str(moderator.pk)
    assert client.get(CHANGELIST).status_code == 200


def test_the_panel_logs_in_with_the_email_not_the_username() -> None:
    admin_user = AdminFactory()
    by_username = Client()
    response = by_username.post(
        "/admin/login/", {"username": admin_user.username, "password": "Sup3r-secret-pass"}
    )
    assert response.status_code == 200 and "_auth_user_id" not in by_username.session
    assert b"E-mail" in Client().get("/admin/login/").content
    by_email = Client()
    response = by_email.post(
        "/admin/login/", {"username": admin_user.email.upper(), "password": "Sup3r-secret-pass"}
    )
    assert response.status_code == 302 and by_email.session["_auth_user_id"] == str(admin_user.pk)


def test_the_panel_login_shares_the_api_login_throttle(settings, api_client) -> None:
    settings.LOGIN_MAX_FAILURES = 3
    admin_user = AdminFactory()
    api_client.post("/api/v1/auth/login", {"email": admin_user.email, "password": "wrong"}, format="json")
    client = Client()
    for _ in range(2):
        client.post("/admin/login/", {"username": admin_user.email, "password": "wrong"})
    failures = StoredEvent.objects.filter(type="user.login_failed", aggregate_id=admin_user.email.lower())
    assert failures.count() == 3  # each wrong try recorded, whichever door it used
    response = client.post("/admin/login/", {"username": admin_user.email, "password": "Sup3r-secret-pass"})
    assert response.status_code == 200 and "_auth_user_id" not in client.session
    assert b"Too many failed logins" in response.content
    api = api_client.post(
        "/api/v1/auth/login", {"email": admin_user.email, "password": "Sup3r-secret-pass"}, format="json"
    )
    assert api.status_code == 429


def test_a_moderator_posting_an_admin_only_action_is_told_so() -> None:
    moderator = ModeratorFactory()
    target = UserFactory()
    client = _client(moderator)
    response = _action(client, "block_users", [target], reason="spam", apply="1")
    assert response.status_code == 302
    shown = client.get(response["Location"])  # the message is shown on the next page
    assert "for admins only" in shown.content.decode()
    target.refresh_from_db()
    assert not target.is_blocked


def test_block_action_asks_for_a_reason_then_blocks_through_the_service() -> None:
    actor = AdminFactory()
    target = UserFactory()
    page = PageFactory(owner=target)
    client = _client(actor)
    form = _action(client, "block_users", [target])
    assert form.status_code == 200
    assert b'name="reason"' in form.content and target.username.encode() in form.content
    assert not _events("user.blocked")
    done = _action(client, "block_users", [target], apply="1", reason="spam")
    assert done.status_code == 302
    target.refresh_from_db()
    assert target.is_blocked and target.blocked_reason == "spam"
    [event] = _events("user.blocked")
    assert event.actor_id == actor.pk
    assert event.payload == {"user_id": target.pk, "reason": "spam", "page_ids": [page.pk]}


def test_block_action_without_a_reason_shows_the_form_again() -> None:
    target = UserFactory()
    response = _action(_client(AdminFactory()), "block_users", [target], apply="1", reason="")
    assert response.status_code == 200
    assert not User.objects.get(pk=target.pk).is_blocked


def test_block_action_reports_per_user_errors_and_blocks_the_rest() -> None:
    actor = AdminFactory()
    already = UserFactory(is_blocked=True)
    fresh = UserFactory()
    response = _action(_client(actor), "block_users", [already, fresh, actor], apply="1", reason="x")
    assert response.status_code == 302
    assert [e.payload["user_id"] for e in _events("user.blocked")] == [fresh.pk]
    assert not User.objects.get(pk=actor.pk).is_blocked


def test_unblock_action_unblocks_through_the_service() -> None:
    actor = AdminFactory()
    target = UserFactory(is_blocked=True)
    response = _action(_client(actor), "unblock_users", [target])
    assert response.status_code == 302
    assert not User.objects.get(pk=target.pk).is_blocked
    [event] = _events("user.unblocked")
    assert (event.actor_id, event.payload["user_id"]) == (actor.pk, target.pk)


def test_change_role_action_changes_role_and_staff_flags() -> None:
    actor = AdminFactory()
    target = UserFactory()
    client = _client(actor)
    assert b'name="role"' in _action(client, "change_role", [target]).content
    response = _action(client, "change_role", [target], apply="1", role="moderator")
    assert response.status_code == 302
    target.refresh_from_db()
    assert (target.role, target.is_staff) == (Role.MODERATOR, True)
    [event] = _events("user.role_changed")
    assert event.payload == {"user_id": target.pk, "old_role": "user", "new_role": "moderator"}
    assert event.actor_id == actor.pk


@pytest.mark.parametrize("action", ["block_users", "unblock_users", "change_role"])
def test_moderators_cannot_run_admin_actions(action: str) -> None:
    target = UserFactory(is_blocked=action == "unblock_users")
    before = StoredEvent.objects.count()
    response = _action(_client(ModeratorFactory()), action, [target], apply="1", reason="x", role="admin")
    # An action the user may not run is not offered: Django answers with the list again.
    assert response.status_code in (200, 302)
    assert StoredEvent.objects.count() == before
    after = User.objects.get(pk=target.pk)
    assert (after.role, after.is_blocked) == (target.role, target.is_blocked)


def test_users_cannot_be_added_edited_or_deleted_directly() -> None:
    actor = AdminFactory()
    target = UserFactory()
    client = _client(actor)
    assert client.get("/admin/users/user/add/").status_code == 403
    client.post(f"/admin/users/user/{target.pk}/change/", {"role": "admin", "is_blocked": "on"})
    after = User.objects.get(pk=target.pk)
    assert (after.role, after.is_blocked) == (Role.USER, False)
    assert client.post(f"/admin/users/user/{target.pk}/delete/", {"post": "yes"}).status_code == 403
    assert User.objects.filter(pk=target.pk).exists()
    assert client.get(f"/admin/users/user/{target.pk}/change/").status_code == 200


def test_user_list_costs_the_same_for_2_and_20_users() -> None:
    client = _client(AdminFactory())
    UserFactory.create_batch(2)
    with CaptureQueriesContext(connection) as few:
        assert client.get(CHANGELIST).status_code == 200
    UserFactory.create_batch(18)
    with CaptureQueriesContext(connection) as many:
        assert client.get(CHANGELIST).status_code == 200
    assert len(few) == len(many)


def test_the_change_view_shows_the_users_moderation_history_from_the_event_log() -> None:
    admin = AdminFactory(username="adm_cid")
    target, bystander = UserFactory(), UserFactory()
    client = _client(admin)
    page = f"/admin/users/user/{target.pk}/change/"
    assert b"No moderation so far." in client.get(page).content

    user_block(actor=admin, user=target, reason="harassment")
    user_unblock(actor=admin, user=User.objects.get(pk=target.pk))
    user_change_role(actor=admin, user=User.objects.get(pk=target.pk), role=Role.MODERATOR)
    user_block(actor=admin, user=bystander, reason="not this one")

    response = client.get(page)
    assert response.status_code == 200
    html = response.content.decode()
    history = html[html.index('class="moderation-history"') :]
    order = [history.index(t) for t in ("user.role_changed", "user.unblocked", "user.blocked")]
    assert order == sorted(order)  # newest first
    assert "adm_cid" in history and "reason: harassment" in history
    assert "role: user -&gt; moderator" in history
    assert "not this one" not in history


def test_the_history_page_shows_the_users_moderation_history() -> None:
    admin = AdminFactory(username="adm_eve")
    target = UserFactory()
    user_block(actor=admin, user=target, reason="fraud")
    response = _client(admin).get(f"/admin/users/user/{target.pk}/history/")
    assert response.status_code == 200
    history = response.content.decode().split('class="moderation-history"', 1)[1]
    assert "user.blocked" in history and "adm_eve" in history and "reason: fraud" in history
