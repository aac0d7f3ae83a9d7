from __future__ import annotations

import uuid
from unittest import mock

import pytest
from django.db import IntegrityError, connection

from core_app.common.auth.tokens import decode
from core_app.common.exceptions import (
    Conflict,
    NotFound,
    PermissionDeniedError,
    Throttled,
    TokenInvalid,
    UserBlocked,
    ValidationFailed,
)
from core_app.testing.concurrency import run_at_once
from core_app.testing.events import stored_events
from core_app.testing.factories import AdminFactory, ModeratorFactory, PageFactory, UserFactory
from core_app.testing.images import image_upload
from core_app.users import selectors, services
from core_app.users.models import RefreshSession, Role, User
from events import contracts
from events.models import StoredEvent

PASSWORD = "Sup3r-secret-pass"


_events = stored_events


@pytest.mark.django_db
class TestRegisterAndProfile:
    def test_register_appends_user_registered(self) -> None:
        user = services.user_register(username="neo", email="Neo@EXAMPLE.com", password=PASSWORD)
        assert user.email == "Neo@example.com" and user.role == Role.USER
        [event] = _events("user.registered")
        assert event.actor_id == user.pk
        assert contracts.parse_payload(event.type, event.version, event.payload) == contracts.UserRegistered(
            user_id=user.pk, username="neo"
        )

    def test_a_lost_race_for_the_username_is_a_conflict(self) -> None:
        with (
            mock.patch.object(User, "save", side_effect=IntegrityError("duplicate key")),
            pytest.raises(Conflict),
        ):
            services.user_register(username="neo", email="neo@example.com", password=PASSWORD)
        assert not _events("user.registered")

    def test_password_similar_to_the_username_is_refused(self) -> None:
        with pytest.raises(ValidationFailed) as info:
            services.user_register(username="trinity99", email="t@example.com", password="trinity99")
        assert "password" in info.value.details

    def test_update_appends_only_real_changes(self) -> None:
        user = UserFactory(first_name="A", last_name="B")
        services.user_update(user=user, data={"first_name": "A", "last_name": "C", "unknown": 1})
        [event] = _events("user.updated")
        assert event.payload == {"user_id": user.pk, "changes": {"last_name": "C"}}

    def test_update_username_race_is_a_conflict(self) -> None:
        user = UserFactory()
        with (
            mock.patch.object(User, "save", side_effect=IntegrityError("duplicate key")),
            pytest.raises(Conflict),
        ):
            services.user_update(user=user, data={"username": "fresh"})
        assert not _events("user.updated")

    def test_set_avatar_stores_then_appends(self) -> None:
        user = UserFactory()
        key = f"avatars/users/{user.pk}/abc.png"
        with mock.patch("core_app.common.uploads.store_image", return_value=key) as store:
            services.user_set_avatar(user=user, upload=image_upload())
        store.assert_called_once()
        assert store.call_args.kwargs == {"prefix": f"avatars/users/{user.pk}"}
        assert User.objects.get(pk=user.pk).avatar_key == key
        [event] = _events("user.avatar_changed")
        assert event.payload == {"user_id": user.pk, "avatar_key": key}

    def test_events_are_appended_inside_the_service_transaction(self) -> None:
        seen: list[bool] = []

        def record(payload, *, actor_id):
            seen.append(connection.in_atomic_block)

        with mock.patch("core_app.users.services.append_event", side_effect=record) as append:
            services.user_register(username="morpheus", email="m@example.com", password=PASSWORD)
        assert append.call_args.args[0] == contracts.UserRegistered(
            user_id=User.objects.get(username="morpheus").pk, username="morpheus"
        )
        assert seen == [True]


@pytest.mark.django_db(transaction=True)
class TestSessions:
    def test_a_failed_login_is_committed_although_the_login_fails(self) -> None:
        user = UserFactory()
        with pytest.raises(services.InvalidCredentials):
            services.user_login(email=user.email, password="wrong")
        assert not connection.in_atomic_block
        [event] = _events("user.login_failed")
        assert event.payload == {"email": user.email.lower(), "user_id": user.pk}

    def test_a_deactivated_user_cannot_log_in_and_the_failure_names_them(self) -> None:
        user = UserFactory(is_active=False)
        with pytest.raises(services.InvalidCredentials):
            services.user_login(email=user.email.upper(), password=PASSWORD)
        [event] = _events("user.login_failed")
        assert event.payload == {"email": user.email.lower(), "user_id": user.pk}
        assert not _events("user.logged_in")

    def test_login_appends_logged_in_with_the_family(self) -> None:
        user = UserFactory()
        pair = services.user_login(email=user.email, password=PASSWORD)
        [event] = _events("user.logged_in")
        assert event.payload["session_id"] == str(pair.session_id)
        assert decode(pair.refresh, token_type="refresh")["family"] == str(pair.session_id)

    def test_blocked_user_login_raises_and_records_nothing(self) -> None:
        user = UserFactory(is_blocked=True)
        with pytest.raises(UserBlocked):
            services.user_login(email=user.email, password=PASSWORD)
        assert not StoredEvent.objects.exists()

    def test_reuse_revocation_is_committed_although_the_refresh_fails(self) -> None:
        user = UserFactory()
        pair = services.user_login(email=user.email, password=PASSWORD)
        services.user_refresh(refresh=pair.refresh)
        with pytest.raises(TokenInvalid):
            services.user_refresh(refresh=pair.refresh)
        assert RefreshSession.objects.filter(family=pair.session_id).count() == 2
        assert not RefreshSession.objects.filter(family=pair.session_id, revoked_at__isnull=True).exists()
        [event] = _events("user.session_revoked")
        assert event.payload == {
            "user_id": user.pk,
            "session_id": str(pair.session_id),
            "reason": "token_reused",
        }
        # Presented a third time: the family is already revoked, nothing more is recorded.
        with pytest.raises(TokenInvalid):
            services.user_refresh(refresh=pair.refresh)
        assert len(_events("user.session_revoked")) == 1

    @pytest.mark.parametrize(
        ("change", "error", "reason"),
        [
            ({"is_blocked": True}, UserBlocked, "user_blocked"),
            ({"is_active": False}, TokenInvalid, "user_deactivated"),
        ],
    )
    def test_refresh_for_a_blocked_or_deactivated_user_records_why_the_session_ended(
        self, change, error, reason
    ) -> None:
        user = UserFactory()
        pair = services.user_login(email=user.email, password=PASSWORD)
        User.objects.filter(pk=user.pk).update(**change)
        with pytest.raises(error):
            services.user_refresh(refresh=pair.refresh)
        [event] = _events("user.session_revoked")
        assert event.payload["reason"] == reason
        assert event.payload["session_id"] == str(pair.session_id)

    def test_concurrent_refreshes_of_one_token_let_exactly_one_through(self) -> None:
        user = UserFactory()
        pair = services.user_login(email=user.email, password=PASSWORD)
        errors = run_at_once([lambda: services.user_refresh(refresh=pair.refresh)] * 2)
        assert [type(e) for e in errors] == [TokenInvalid]
        assert len(_events("user.token_refreshed")) == 1
        # The second presentation was a reuse: the whole session is over.
        assert not RefreshSession.objects.filter(family=pair.session_id, revoked_at__isnull=True).exists()

    def test_wrong_passwords_sent_at_once_cannot_overshoot_the_throttle(self, settings) -> None:
        settings.LOGIN_MAX_FAILURES = 3
        user = UserFactory()

        def wrong() -> None:
            services.user_login(email=user.email, password="wrong")

        errors = run_at_once([wrong] * 8)
        assert sorted(type(e).__name__ for e in errors) == ["InvalidCredentials"] * 3 + ["Throttled"] * 5
        assert len(_events("user.login_failed")) == 3
        with pytest.raises(Throttled):
            services.user_login(email=user.email, password=PASSWORD)

    def test_logout_revokes_the_family_and_appends_once(self) -> None:
        user = UserFactory()
        pair = services.user_login(email=user.email, password=PASSWORD)
        services.user_logout(user=user, refresh=pair.refresh)
        services.user_logout(user=user, refresh=pair.refresh)
        [event] = _events("user.logged_out")
        assert event.payload == {"user_id": user.pk, "session_id": str(pair.session_id)}

    def test_refresh_for_a_deactivated_user_is_invalid_and_ends_the_session(self) -> None:
        user = UserFactory()
        pair = services.user_login(email=user.email, password=PASSWORD)
        User.objects.filter(pk=user.pk).update(is_active=False)
        with pytest.raises(TokenInvalid):
            services.user_refresh(refresh=pair.refresh)
        assert not RefreshSession.objects.filter(family=pair.session_id, revoked_at__isnull=True).exists()

    def test_refresh_of_an_unknown_session_is_invalid(self) -> None:
        user = UserFactory()
        pair = services.user_login(email=user.email, password=PASSWORD)
        RefreshSession.objects.all().delete()
        with pytest.raises(TokenInvalid):
            services.user_refresh(refresh=pair.refresh)


@pytest.mark.django_db
class TestModeration:
    def test_block_hides_pages_ends_sessions_and_appends(self) -> None:
        admin, target = AdminFactory(), UserFactory()
        pages = PageFactory.create_batch(3, owner=target)
        RefreshSession.objects.create(user=target, family=uuid.uuid4(), expires_at="2100-01-01T00:00Z")
        services.user_block(actor=admin, user=target, reason="abuse")
        assert not RefreshSession.objects.filter(user=target, revoked_at__isnull=True).exists()
        [event] = _events("user.blocked")
        assert event.is_moderation and event.actor_id == admin.pk
        assert event.payload == {"user_id": target.pk, "reason": "abuse", "page_ids": [p.pk for p in pages]}

    @pytest.mark.parametrize("factory", [UserFactory, ModeratorFactory])
    def test_only_admins_moderate_users(self, factory) -> None:
        actor, target = factory(), UserFactory()
        with pytest.raises(PermissionDeniedError):
            services.user_block(actor=actor, user=target, reason="x")
        with pytest.raises(PermissionDeniedError):
            services.user_change_role(actor=actor, user=target, role=Role.ADMIN)
        assert not StoredEvent.objects.exists()

    def test_a_blocked_admin_cannot_act(self) -> None:
        with pytest.raises(PermissionDeniedError):
            services.user_block(actor=AdminFactory(is_blocked=True), user=UserFactory(), reason="x")

    def test_unblock_lists_only_pages_not_blocked_on_their_own(self) -> None:
        admin, target = AdminFactory(), UserFactory(is_blocked=True)
        free = PageFactory(owner=target)
        PageFactory(owner=target, blocked_permanently=True)
        services.user_unblock(actor=admin, user=target)
        [event] = _events("user.unblocked")
        assert event.payload == {"user_id": target.pk, "page_ids": [free.pk]}

    def test_same_role_is_a_no_op_without_event(self) -> None:
        admin, target = AdminFactory(), ModeratorFactory()
        services.user_change_role(actor=admin, user=target, role=Role.MODERATOR)
        assert not _events("user.role_changed")

    def test_an_admin_cannot_change_their_own_role(self) -> None:
        admin = AdminFactory()
        with pytest.raises(ValidationFailed):
            services.user_change_role(actor=admin, user=admin, role=Role.USER)


@pytest.mark.django_db
class TestSelectors:
    def test_user_get_hides_blocked_and_inactive_users_from_non_staff(self) -> None:
        viewer = UserFactory()
        for hidden in (UserFactory(is_blocked=True), UserFactory(is_active=False)):
            with pytest.raises(NotFound):
                selectors.user_get(viewer=viewer, user_id=hidden.pk)
            assert selectors.user_get(viewer=ModeratorFactory(), user_id=hidden.pk) == hidden

    def test_user_get_returns_the_viewer_themself(self, django_assert_num_queries) -> None:
        viewer = UserFactory()
        with django_assert_num_queries(0):
            assert selectors.user_get(viewer=viewer, user_id=str(viewer.pk)) is viewer
