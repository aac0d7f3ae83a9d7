"""The page endpoints: create, list, read, change, delete, tags, image."""

import io
from datetime import timedelta
from unittest import mock

import boto3
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from moto import mock_aws
from PIL import Image

from core_app.common import uploads
from core_app.pages.models import Follow, FollowStatus, Page
from core_app.pages.tests.conftest import URL, detail, error_code, event_types, payloads
from core_app.posts.models import Post
from core_app.testing.factories import FollowFactory, PageFactory, PostFactory, TagFactory, UserFactory

pytestmark = pytest.mark.django_db

# --- create --------------------------------------------------------------------------------


def test_create_page(user, user_client):
    body = {"name": " Cats ", "uuid": "cats", "tags": ["Pets", " pets", "Cats"], "is_private": True}
    response = user_client.post(URL, body, format="json")
    assert response.status_code == 201, response.content
    data = response.json()
    assert data == {
        "id": data["id"],
        "uuid": "cats",
        "name": "Cats",
        "description": "",
        "tags": ["cats", "pets"],
        "is_private": True,
        "owner": {"id": user.pk, "username": user.username},
        "image_url": None,
        "followers_count": 0,
        "is_blocked": False,
        "unblock_date": None,
        "created_at": data["created_at"],
        "follow_status": "owner",
    }
    assert event_types() == ["page.created"]


def test_create_page_without_auth(api_client):
    response = api_client.post(URL, {"name": "x", "uuid": "abc"}, format="json")
    assert response.status_code == 401
    assert error_code(response) == "not_authenticated"


@pytest.mark.parametrize(
    "body",
    [
        {"name": 5, "uuid": "abc"},
        {"name": "x", "uuid": 123},
        {"name": "x", "uuid": "abc", "is_private": "true"},
        {"name": "x", "uuid": "abc", "tags": "cats"},
        {"name": "x", "uuid": "abc", "tags": [1]},
        {"name": "x", "uuid": "abc", "tags": ["ok", " "]},
        {"name": "x", "uuid": "abc", "tags": [f"t{i}" for i in range(21)]},
        {"name": "x", "uuid": "abc", "tags": ["x" * 51]},
        {"name": "x", "uuid": "abc", "description": "d" * 2001},
        {"name": "", "uuid": "abc"},
        {"name": "n" * 81, "uuid": "abc"},
        {"name": "x", "uuid": "a b c"},
        {"name": "x", "uuid": "abc\n"},
        {"name": "x", "uuid": "ab"},
        {"name": "x", "uuid": "a" * 31},
        {"uuid": "abc"},
        {"name": "x"},
        [],
    ],
)
def test_create_page_rejects_bad_input(user_client, body):
    response = user_client.post(URL, body, format="json")
    assert response.status_code == 400, response.content
    assert error_code(response) == "validation_error"
    assert not Page.objects.exists()


def test_create_page_with_malformed_json(user_client):
    response = user_client.post(URL, "{not json", content_type="application/json")
    assert response.status_code == 400


def test_create_page_uuid_conflict(user_client):
    PageFactory(uuid="Cats")
    response = user_client.post(URL, {"name": "x", "uuid": "cATS"}, format="json")
    assert response.status_code == 409
    assert error_code(response) == "conflict"


def test_create_page_without_trailing_slash(user_client):
    response = user_client.post(URL.rstrip("/"), {"name": "x", "uuid": "noslash"}, format="json")
    assert response.status_code == 201


# --- list ----------------------------------------------------------------------------------


def test_list_pages_newest_first_and_paginated(user_client):
    pages = PageFactory.create_batch(3)
    first = user_client.get(URL, {"limit": 2}).json()
    assert [p["id"] for p in first["results"]] == [pages[2].pk, pages[1].pk]
    second = user_client.get(first["next"]).json()
    assert [p["id"] for p in second["results"]] == [pages[0].pk]
    assert second["next"] is None


def test_list_hides_blocked_pages_but_owner_sees_them(user, user_client, client_for, moderator):
    mine = PageFactory(owner=user, blocked_permanently=True)
    blocked = PageFactory(blocked_until=timezone.now() + timedelta(days=1))
    owner_blocked = PageFactory(owner=UserFactory(is_blocked=True))
    visible = PageFactory(is_private=True)
    ids = [p["id"] for p in user_client.get(URL).json()["results"]]
    assert ids == [visible.pk, mine.pk]
    own = user_client.get(URL, {"owner": "me"}).json()["results"]
    assert [(p["id"], p["is_blocked"]) for p in own] == [(mine.pk, True)]
    staff_ids = {p["id"] for p in client_for(moderator).get(URL).json()["results"]}
    assert staff_ids == {mine.pk, blocked.pk, owner_blocked.pk, visible.pk}


def test_list_filters_by_owner_and_tag(user_client):
    alice = UserFactory()
    tagged = PageFactory(owner=alice, tags=["cats"])
    PageFactory(owner=alice)
    PageFactory(tags=["cats"])
    by_owner = user_client.get(URL, {"owner": alice.pk}).json()["results"]
    assert len(by_owner) == 2
    both = user_client.get(URL, {"owner": alice.pk, "tag": " CATS "}).json()["results"]
    assert [p["id"] for p in both] == [tagged.pk]


@pytest.mark.parametrize(
    "params",
    [
        {"owner": "you"},
        {"owner": "-1"},
        {"owner": str(2**70)},
        {"owner": "9" * 5000},  # int() refuses strings this long
        {"tag": ""},
        {"limit": "x"},
        {"cursor": "zzz"},
    ],
)
def test_list_rejects_bad_parameters(user_client, params):
    response = user_client.get(URL, params)
    assert response.status_code == 400
    assert error_code(response) == "validation_error"


def test_list_follow_status_of_the_caller(user, user_client):
    own = PageFactory(owner=user)
    followed = PageFactory()
    FollowFactory(page=followed, follower=user)
    requested = PageFactory(is_private=True)
    FollowFactory(page=requested, follower=user, status=FollowStatus.PENDING, accepted_at=None)
    other = PageFactory()
    FollowFactory(page=other)  # someone else's follow does not count
    statuses = {p["id"]: p["follow_status"] for p in user_client.get(URL).json()["results"]}
    assert statuses == {
        own.pk: "owner",
        followed.pk: "following",
        requested.pk: "requested",
        other.pk: "none",
    }


def _list_queries(client, n_pages):
    owners = UserFactory.create_batch(2)
    for i in range(n_pages):
        page = PageFactory(owner=owners[i % 2], tags=[f"t{i}", "common"])
        FollowFactory(page=page)
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(URL, {"limit": 100})
    assert response.status_code == 200
    assert len(response.json()["results"]) >= n_pages
    return len(ctx)


def test_list_query_count_is_constant(user_client, django_assert_num_queries):
    few = _list_queries(user_client, 2)
    many = _list_queries(user_client, 20)
    assert few == many
    with django_assert_num_queries(few):
        user_client.get(URL, {"limit": 100})


# --- retrieve ------------------------------------------------------------------------------


def test_retrieve_page(user_client, page):
    response = user_client.get(detail(page))
    assert response.status_code == 200
    assert response.json()["uuid"] == page.uuid
    assert user_client.get(detail(page).rstrip("/")).status_code == 200


@pytest.mark.parametrize("pk", ["abc", "0", "-1", "1.5", str(2**63), "\uff19"])
def test_retrieve_bad_ids_are_not_found(user_client, pk):
    response = user_client.get(f"{URL}{pk}/")
    assert response.status_code == 404
    assert error_code(response) == "not_found"


def test_private_page_metadata_is_visible(user_client):
    page = PageFactory(is_private=True, tags=["secret"])
    data = user_client.get(detail(page)).json()
    assert (data["name"], data["tags"], data["follow_status"]) == (page.name, ["secret"], "none")


def test_blocked_page_is_hidden_except_from_owner_and_staff(client_for, moderator):
    until = timezone.now() + timedelta(hours=3)
    page = PageFactory(blocked_until=until)
    response = client_for(UserFactory()).get(detail(page))
    assert response.status_code == 404
    for viewer in (page.owner, moderator):
        data = client_for(viewer).get(detail(page)).json()
        assert data["is_blocked"] is True
        assert data["unblock_date"] is not None
        assert abs(timezone.datetime.fromisoformat(data["unblock_date"]) - until) < timedelta(seconds=1)


def test_permanent_and_owner_blocks_have_no_unblock_date(client_for, moderator):
    permanent = PageFactory(blocked_permanently=True)
    via_owner = PageFactory(owner=UserFactory(is_blocked=True))
    staff = client_for(moderator)
    for page in (permanent, via_owner):
        data = staff.get(detail(page)).json()
        assert (data["is_blocked"], data["unblock_date"]) == (True, None)


def test_timed_block_ends_by_itself(user_client):
    page = PageFactory(blocked_until=timezone.now() + timedelta(minutes=5))
    assert user_client.get(detail(page)).status_code == 404
    later = timezone.now() + timedelta(minutes=6)
    with mock.patch("django.utils.timezone.now", return_value=later):
        response = user_client.get(detail(page))
        listed = [p["id"] for p in user_client.get(URL).json()["results"]]
    assert response.status_code == 200
    assert (response.json()["is_blocked"], response.json()["unblock_date"]) == (False, None)
    assert page.pk in listed


# --- update --------------------------------------------------------------------------------


def test_owner_updates_page(owner, page, client_for):
    response = client_for(owner).patch(
        detail(page), {"name": "Renamed", "tags": ["B", "a"], "is_private": True}, format="json"
    )
    assert response.status_code == 200, response.content
    assert (response.json()["name"], response.json()["tags"]) == ("Renamed", ["a", "b"])
    (payload,) = payloads("page.updated")
    assert payload["changes"] == {"name": "Renamed", "is_private": True, "tags": ["a", "b"]}


def test_update_by_other_user_is_forbidden(page, user_client):
    response = user_client.patch(detail(page), {"name": "Mine now"}, format="json")
    assert response.status_code == 403
    assert error_code(response) == "permission_denied"


def test_update_of_blocked_page_by_other_user_is_not_found(user_client):
    page = PageFactory(blocked_permanently=True)
    assert user_client.patch(detail(page), {"name": "x"}, format="json").status_code == 404


@pytest.mark.parametrize("body", [{"name": None}, {"is_private": 1}, {"tags": None}, {"uuid": "no way"}])
def test_update_rejects_bad_input(owner, page, client_for, body):
    response = client_for(owner).patch(detail(page), body, format="json")
    assert response.status_code == 400


def test_update_uuid_conflict(owner, page, client_for):
    PageFactory(uuid="taken")
    response = client_for(owner).patch(detail(page), {"uuid": "TAKEN"}, format="json")
    assert response.status_code == 409


def test_put_is_not_allowed(owner, page, client_for):
    response = client_for(owner).put(detail(page), {"name": "x", "uuid": "abc"}, format="json")
    assert response.status_code == 405


def test_going_public_accepts_pending_requests(owner, private_page, client_for):
    for _ in range(2):
        FollowFactory(page=private_page, status=FollowStatus.PENDING, accepted_at=None)
    response = client_for(owner).patch(detail(private_page), {"is_private": False}, format="json")
    assert response.json()["followers_count"] == 2
    assert len(payloads("follow.accepted")) == 2


# --- delete --------------------------------------------------------------------------------


def test_owner_deletes_page(owner, page, client_for):
    PostFactory(page=page)
    response = client_for(owner).delete(detail(page))
    assert response.status_code == 204
    assert not Post.objects.exists()
    assert event_types() == ["post.deleted", "page.deleted"]
    assert client_for(owner).get(detail(page)).status_code == 404


def test_delete_by_other_user_is_forbidden(page, user_client, client_for, moderator):
    assert user_client.delete(detail(page)).status_code == 403
    assert client_for(moderator).delete(detail(page)).status_code == 403
    assert Page.objects.filter(pk=page.pk).exists()


def test_delete_without_auth(api_client, page):
    assert api_client.delete(detail(page)).status_code == 401


# --- tags ----------------------------------------------------------------------------------


def test_add_and_remove_tag(owner, page, client_for):
    client = client_for(owner)
    response = client.post(detail(page, "tags/"), {"name": " Music "}, format="json")
    assert response.status_code == 200
    assert response.json()["tags"] == ["music"]
    response = client.delete(detail(page, "tags/music/"))
    assert response.status_code == 200
    assert response.json()["tags"] == []
    assert [p["changes"] for p in payloads("page.updated")] == [{"tags": ["music"]}, {"tags": []}]


@pytest.mark.parametrize("path", ["tags/a%2Fb/", "tags/a/b", "tags/A%2FB"])
def test_remove_tag_with_a_slash(owner, client_for, path):
    page = PageFactory(owner=owner, tags=["a/b", "c"])
    response = client_for(owner).delete(detail(page, path))
    assert response.status_code == 200
    assert response.json()["tags"] == ["c"]


def test_remove_missing_tag_is_not_found(owner, page, client_for):
    TagFactory(name="elsewhere")
    assert client_for(owner).delete(detail(page, "tags/elsewhere")).status_code == 404
    assert client_for(owner).delete(detail(page, "tags/a%00b/")).status_code == 404


@pytest.mark.parametrize("body", [{"name": 3}, {"name": ""}, {"name": "x" * 51}, {}])
def test_add_tag_rejects_bad_input(owner, page, client_for, body):
    assert client_for(owner).post(detail(page, "tags/"), body, format="json").status_code == 400


def test_tags_are_for_the_owner(page, user_client):
    PageFactory(owner=page.owner)
    assert user_client.post(detail(page, "tags/"), {"name": "x"}, format="json").status_code == 403
    assert user_client.delete(detail(page, "tags/x/")).status_code == 403


# --- image ---------------------------------------------------------------------------------


@pytest.fixture
def s3(settings, monkeypatch):
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(name, "testing")
    settings.AWS_ENDPOINT_URL = None
    settings.S3_PUBLIC_BASE_URL = ""
    with mock_aws():
        uploads.s3_client.cache_clear()
        client = boto3.client("s3", region_name=settings.AWS_REGION)
        client.create_bucket(Bucket=settings.S3_BUCKET)
        yield client
    uploads.s3_client.cache_clear()


def png_file(name="pic.png"):
    buffer = io.BytesIO()
    Image.new("RGB", (4, 4), "red").save(buffer, format="PNG")
    buffer.seek(0)
    buffer.name = name
    return buffer


def test_owner_sets_page_image(owner, page, client_for, s3, settings):
    response = client_for(owner).put(detail(page, "image"), {"file": png_file()}, format="multipart")
    assert response.status_code == 200, response.content
    page.refresh_from_db()
    assert page.image_key.startswith(f"pages/{page.pk}/")
    assert page.image_key in response.json()["image_url"]
    s3.head_object(Bucket=settings.S3_BUCKET, Key=page.image_key)
    assert payloads("page.image_changed")[0]["image_key"] == page.image_key


def test_page_image_must_be_an_image(owner, page, client_for, s3):
    fake = io.BytesIO(b"not a png at all")
    fake.name = "pic.png"
    response = client_for(owner).put(detail(page, "image"), {"file": fake}, format="multipart")
    assert response.status_code == 400
    assert error_code(response) == "invalid_file"


def test_page_image_needs_a_file(owner, page, client_for):
    response = client_for(owner).put(detail(page, "image"), {"other": "x"}, format="multipart")
    assert response.status_code == 400


def test_page_image_is_for_the_owner(page, user_client, s3):
    response = user_client.put(detail(page, "image"), {"file": png_file()}, format="multipart")
    assert response.status_code == 403
    assert s3.list_objects_v2(Bucket="innotter-media").get("KeyCount", 0) == 0


def test_page_serializer_is_usable_by_other_areas(user):
    """Search renders page_list results with PageSerializer; private-page follows show as requested."""
    from core_app.pages.selectors import page_list
    from core_app.pages.serializers import PageBriefSerializer, PageSerializer

    page = PageFactory(is_private=True, tags=["z", "a"])
    Follow.objects.create(page=page, follower=user, status=FollowStatus.PENDING)
    data = PageSerializer(page_list(viewer=user), many=True).data
    assert [(d["tags"], d["follow_status"]) for d in data] == [(["a", "z"], "requested")]
    assert PageBriefSerializer(page).data == {
        "id": page.pk,
        "uuid": page.uuid,
        "name": page.name,
        "image_url": None,
    }


def test_page_serializer_falls_back_for_unannotated_pages(user):
    from rest_framework.test import APIRequestFactory

    from core_app.pages.serializers import PageSerializer

    page = PageFactory(blocked_until=timezone.now() + timedelta(hours=1))
    FollowFactory(page=page, follower=user)
    request = APIRequestFactory().get("/")
    request.user = user
    data = PageSerializer(Page.objects.get(pk=page.pk), context={"request": request}).data
    assert (data["is_blocked"], data["follow_status"]) == (True, "following")
    assert PageSerializer(page).data["follow_status"] == "none"
