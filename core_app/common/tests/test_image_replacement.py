"""Replacing an image keeps the bucket clean: the old object goes after commit, a failed change
leaves no new object behind."""

from __future__ import annotations

from unittest import mock

import pytest
from django.conf import settings

from core_app.common.uploads import delete_image
from core_app.pages import services as page_services
from core_app.testing.factories import PageFactory, UserFactory
from core_app.testing.images import emulated_s3, image_upload
from core_app.users import services as user_services
from core_app.users.models import User

pytestmark = pytest.mark.django_db


def _keys(client) -> set[str]:
    listing = client.list_objects_v2(Bucket=settings.S3_BUCKET)
    return {obj["Key"] for obj in listing.get("Contents", [])}


def test_a_replaced_avatar_is_deleted_once_the_change_commits(django_capture_on_commit_callbacks) -> None:
    user = UserFactory()
    with emulated_s3() as client:
        with django_capture_on_commit_callbacks(execute=True):
            first = user_services.user_set_avatar(user=user, upload=image_upload()).avatar_key
        with django_capture_on_commit_callbacks(execute=True) as callbacks:
            second = user_services.user_set_avatar(user=user, upload=image_upload()).avatar_key
            assert _keys(client) == {first, second}  # the old one stays until the commit
        # one deletion (the other callbacks log the committed events)
        assert [c.args for c in callbacks if getattr(c, "func", None) is delete_image] == [(first,)]
        assert _keys(client) == {second}


def test_a_failed_avatar_change_deletes_the_new_object_and_keeps_the_old(
    django_capture_on_commit_callbacks,
) -> None:
    user = UserFactory()
    with emulated_s3() as client:
        with django_capture_on_commit_callbacks(execute=True):
            first = user_services.user_set_avatar(user=user, upload=image_upload()).avatar_key
        with (
            mock.patch("core_app.users.services.append_event", side_effect=RuntimeError("log down")),
            pytest.raises(RuntimeError),
        ):
            user_services.user_set_avatar(user=user, upload=image_upload())
        assert _keys(client) == {first}
    assert User.objects.get(pk=user.pk).avatar_key == first


def test_a_replaced_page_image_is_deleted_and_a_failed_one_leaves_nothing(
    django_capture_on_commit_callbacks,
) -> None:
    page = PageFactory()
    with emulated_s3() as client:
        with django_capture_on_commit_callbacks(execute=True):
            first = page_services.page_image_set(page=page, actor=page.owner, upload=image_upload()).image_key
        with django_capture_on_commit_callbacks(execute=True):
            assert _keys(client) == {first}
            second = page_services.page_image_set(
                page=page, actor=page.owner, upload=image_upload()
            ).image_key
        assert _keys(client) == {second}
        with (
            mock.patch("core_app.pages.services.append_event", side_effect=RuntimeError("log down")),
            pytest.raises(RuntimeError),
        ):
            page_services.page_image_set(page=page, actor=page.owner, upload=image_upload())
        assert _keys(client) == {second}


def test_a_store_that_refuses_the_delete_only_logs(caplog: pytest.LogCaptureFixture) -> None:
    from core_app.common import uploads

    client = mock.Mock()
    client.delete_object.side_effect = uploads.ClientError({"Error": {"Code": "500"}}, "DeleteObject")
    with mock.patch.object(uploads, "s3_client", return_value=client):
        uploads.delete_image("avatars/old.png")
    assert "avatars/old.png" in caplog.text
