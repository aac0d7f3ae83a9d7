from __future__ import annotations

from unittest import mock

import boto3
import pytest
from django.test import override_settings
from moto import mock_aws

from core_app.ops.services import admin_ensure, ensure_aws
from core_app.testing.events import event_types
from core_app.testing.factories import UserFactory
from core_app.users.models import Role, User
from events.models import StoredEvent

PASSWORD = "Adm1n-pass-for-tests"


@pytest.mark.django_db
def test_admin_is_registered_then_promoted_with_events() -> None:
    result = admin_ensure(email="root@innotter.test", password=PASSWORD)

    assert (result.created, result.promoted) == (True, True)
    user = User.objects.get(email="root@innotter.test")
    assert (user.role, user.is_staff, user.is_superuser) == (Role.ADMIN, True, True)
    assert user.username == "root"
    assert user.check_password(PASSWORD)
    assert event_types() == ["user.registered", "user.role_changed"]
    changed = StoredEvent.objects.get(type="user.role_changed")
    assert changed.payload == {"user_id": user.pk, "old_role": "user", "new_role": "admin"}
    assert changed.actor_id is None
    assert changed.is_moderation


@pytest.mark.django_db
def test_second_run_changes_nothing() -> None:
    admin_ensure(email="root@innotter.test", password=PASSWORD)
    result = admin_ensure(email="ROOT@innotter.test", password="another-Pass-123")

    assert (result.created, result.promoted) == (False, False)
    assert User.objects.count() == 1
    assert len(event_types()) == 2


@pytest.mark.django_db
def test_existing_user_with_that_email_is_promoted() -> None:
    existing = UserFactory(email="boss@innotter.test", role=Role.MODERATOR)

    result = admin_ensure(email="boss@innotter.test", password=PASSWORD)

    assert (result.created, result.promoted, result.user.pk) == (False, True, existing.pk)
    assert User.objects.get(pk=existing.pk).role == Role.ADMIN
    assert StoredEvent.objects.get(type="user.role_changed").payload["old_role"] == "moderator"


@pytest.mark.django_db
def test_taken_username_gets_a_suffix() -> None:
    UserFactory(username="admin", email="someone@innotter.test")

    result = admin_ensure(email="admin@innotter.test", password=PASSWORD)

    assert result.user.username == "admin2"


@mock_aws
@override_settings(AWS_ENDPOINT_URL=None, S3_BUCKET="ops-media", SES_SENDER="noreply@ops.test")
def test_ensure_aws_creates_bucket_and_verifies_sender_idempotently() -> None:
    from core_app.common.uploads import s3_client

    s3_client.cache_clear()
    try:
        ensure_aws()
        ensure_aws()
    finally:
        s3_client.cache_clear()
    s3 = boto3.client("s3", region_name="us-east-1")
    assert [b["Name"] for b in s3.list_buckets()["Buckets"]] == ["ops-media"]
    ses = boto3.client("ses", region_name="us-east-1")
    assert ses.list_identities()["Identities"] == ["noreply@ops.test"]
    attrs = ses.get_identity_verification_attributes(Identities=["noreply@ops.test"])
    assert attrs["VerificationAttributes"]["noreply@ops.test"]["VerificationStatus"] == "Success"


def test_ensure_aws_stops_at_the_first_failure() -> None:
    with (
        mock.patch("core_app.ops.services.ensure_bucket", side_effect=RuntimeError("down")),
        mock.patch("core_app.ops.services.ensure_ses_identity") as ses,
        pytest.raises(RuntimeError),
    ):
        ensure_aws()
    ses.assert_not_called()
