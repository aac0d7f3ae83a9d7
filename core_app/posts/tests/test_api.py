from __future__ import annotations

import base64
from datetime import timedelta

import pytest
from django.utils import timezone

from core_app.posts.models import Like, Post
from core_app.posts.tests.conftest import block_page, events_of
from core_app.testing.factories import (
    FollowFactory,
    LikeFactory,
    PageFactory,
    PostFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db

POST_KEYS = {
    "id",
    "page",
    "content",
    "reply_to",
    "likes_count",
    "replies_count",
    "liked_by_me",
    "created_at",
    "updated_at",
}


def error_code(response) -> str:
    return response.json()["error"]["code"]


def ids(response) -> list[int]:
    return [item["id"] for item in response.json()["results"]]


# --- create --------------------------------------------------------------------------------


def test_create_returns_the_post(client_for, owner, page) -> None:
    response = client_for(owner).post("/api/v1/posts/", {"page": page.pk, "content": " hi "}, format="json")

    assert response.status_code == 201, response.json()
    body = response.json()
    assert set(body) == POST_KEYS
    assert body["page"] == {"id": page.pk, "uuid": page.uuid, "name": page.name, "image_url": None}
    assert (body["content"], body["reply_to"], body["liked_by_me"]) == ("hi", None, False)
    assert events_of("post.created")[0]["post_id"] == body["id"]


def test_create_without_trailing_slash(client_for, owner, page) -> None:
    response = client_for(owner).post("/api/v1/posts", {"page": page.pk, "content": "x"}, format="json")
    assert response.status_code == 201


def test_create_a_reply(client_for, owner, page, post) -> None:
    body = {"page": page.pk, "content": "re", "reply_to": post.pk}
    response = client_for(owner).post("/api/v1/posts/", body, format="json")

    assert response.status_code == 201
    assert response.json()["reply_to"] == post.pk
    post.refresh_from_db()
    assert post.replies_count == 1


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"content": "x"}, "page"),
        ({"page": "1", "content": "x"}, "page"),
        ({"page": True, "content": "x"}, "page"),
        ({"page": 2**70, "content": "x"}, "page"),
        ({"page": None, "content": "x"}, "page"),
        ("PAGE", "content"),
        ({"page": 1}, "content"),
        ({"page": 1, "content": 5}, "content"),
        ({"page": 1, "content": "   "}, "content"),
        ({"page": 1, "content": "x" * 2001}, "content"),
        ({"page": 1, "content": "a\x00b"}, "content"),
        ({"page": 1, "content": "x", "reply_to": "2"}, "reply_to"),
        ({"page": 1, "content": "x", "reply_to": 0}, "reply_to"),
    ],
)
def test_create_refuses_malformed_bodies(user_client, body, field) -> None:
    response = user_client.post("/api/v1/posts/", body, format="json")

    assert response.status_code == 400
    assert error_code(response) == "validation_error"
    if isinstance(body, dict):
        assert field in response.json()["error"]["details"]


def test_create_refuses_invalid_json(user_client) -> None:
    response = user_client.post("/api/v1/posts/", "{not json", content_type="application/json")
    assert (response.status_code, error_code(response)) == (400, "validation_error")


def test_create_on_others_page_is_403_and_missing_page_is_400(user_client, page) -> None:
    denied = user_client.post("/api/v1/posts/", {"page": page.pk, "content": "x"}, format="json")
    missing = user_client.post("/api/v1/posts/", {"page": 10**12, "content": "x"}, format="json")

    assert (denied.status_code, error_code(denied)) == (403, "permission_denied")
    assert (missing.status_code, list(missing.json()["error"]["details"])) == (400, ["page"])


def test_create_from_a_blocked_page_is_403(client_for, owner, page) -> None:
    block_page(page)
    response = client_for(owner).post("/api/v1/posts/", {"page": page.pk, "content": "x"}, format="json")
    assert (response.status_code, error_code(response)) == (403, "permission_denied")


def test_reply_to_an_invisible_post_is_400(client_for, owner, page) -> None:
    hidden = PostFactory(page=PageFactory(is_private=True))
    body = {"page": page.pk, "content": "re", "reply_to": hidden.pk}
    response = client_for(owner).post("/api/v1/posts/", body, format="json")
    assert (response.status_code, list(response.json()["error"]["details"])) == (400, ["reply_to"])


def test_anonymous_requests_are_401(api_client, post) -> None:
    for method, path in [
        ("post", "/api/v1/posts/"),
        ("get", f"/api/v1/posts/{post.pk}/"),
        ("patch", f"/api/v1/posts/{post.pk}/"),
        ("delete", f"/api/v1/posts/{post.pk}/"),
        ("post", f"/api/v1/posts/{post.pk}/like/"),
        ("get", "/api/v1/posts/liked/"),
        ("get", f"/api/v1/posts/{post.pk}/replies/"),
        ("get", f"/api/v1/pages/{post.page_id}/posts/"),
    ]:
        response = getattr(api_client, method)(path)
        assert (response.status_code, error_code(response)) == (401, "not_authenticated"), path


# --- retrieve ------------------------------------------------------------------------------


def test_retrieve_a_post(user_client, post) -> None:
    response = user_client.get(f"/api/v1/posts/{post.pk}")
    assert response.status_code == 200
    assert (response.json()["id"], response.json()["liked_by_me"]) == (post.pk, False)


@pytest.mark.parametrize("pk", ["abc", "0", "-1", str(2**64), "1.5", "²"])
def test_retrieve_with_a_bad_id_is_404(user_client, pk) -> None:
    response = user_client.get(f"/api/v1/posts/{pk}/")
    assert (response.status_code, error_code(response)) == (404, "not_found")


def test_private_page_posts_are_for_followers_owner_and_staff(client_for, owner, private_page, moderator):
    post = PostFactory(page=private_page)
    follower = FollowFactory(page=private_page).follower
    requested = FollowFactory(page=private_page, status="pending", accepted_at=None).follower
    path = f"/api/v1/posts/{post.pk}/"

    expected = [(owner, 200), (follower, 200), (moderator, 200), (requested, 404), (UserFactory(), 404)]
    for viewer, code in expected:
        assert client_for(viewer).get(path).status_code == code


def test_blocked_page_posts_are_for_owner_and_staff(client_for, owner, post, moderator) -> None:
    follower = FollowFactory(page=post.page).follower
    block_page(post.page, permanently=False)
    path = f"/api/v1/posts/{post.pk}/"

    for viewer, code in [(owner, 200), (moderator, 200), (follower, 404)]:
        assert client_for(viewer).get(path).status_code == code


def test_posts_of_a_blocked_users_pages_are_hidden(user_client, post) -> None:
    post.page.owner.is_blocked = True
    post.page.owner.save()
    assert user_client.get(f"/api/v1/posts/{post.pk}/").status_code == 404


# --- update --------------------------------------------------------------------------------


def test_owner_edits_content(client_for, owner, post) -> None:
    response = client_for(owner).patch(f"/api/v1/posts/{post.pk}/", {"content": " new "}, format="json")

    assert response.status_code == 200
    assert response.json()["content"] == "new"
    assert events_of("post.updated")[0]["post_id"] == post.pk


def test_edit_permissions(client_for, post, moderator) -> None:
    other = client_for(UserFactory()).patch(f"/api/v1/posts/{post.pk}/", {"content": "x"}, format="json")
    staff = client_for(moderator).patch(f"/api/v1/posts/{post.pk}/", {"content": "x"}, format="json")
    missing = client_for(moderator).patch("/api/v1/posts/999999/", {"content": "x"}, format="json")

    assert (other.status_code, staff.status_code, missing.status_code) == (403, 403, 404)
    assert events_of("post.updated") == []


def test_edit_refuses_bad_content(client_for, owner, post) -> None:
    for body in [{}, {"content": ""}, {"content": ["x"]}, {"content": "x" * 2001}]:
        response = client_for(owner).patch(f"/api/v1/posts/{post.pk}/", body, format="json")
        assert (response.status_code, error_code(response)) == (400, "validation_error")


def test_put_is_not_allowed(client_for, owner, post) -> None:
    response = client_for(owner).put(f"/api/v1/posts/{post.pk}/", {"content": "x"}, format="json")
    assert response.status_code == 405


# --- delete --------------------------------------------------------------------------------


def test_owner_deletes_without_a_body(client_for, owner, post) -> None:
    response = client_for(owner).delete(f"/api/v1/posts/{post.pk}")

    assert response.status_code == 204
    assert not Post.objects.filter(pk=post.pk).exists()
    assert events_of("post.deleted")[0]["by_staff"] is False


def test_staff_deletes_with_a_reason(client_for, moderator, post) -> None:
    response = client_for(moderator).delete(f"/api/v1/posts/{post.pk}/", {"reason": "spam"}, format="json")

    assert response.status_code == 204
    [payload] = events_of("post.deleted")
    assert (payload["by_staff"], payload["reason"]) == (True, "spam")


def test_delete_permissions_and_bad_bodies(client_for, user_client, post, moderator) -> None:
    assert user_client.delete(f"/api/v1/posts/{post.pk}/").status_code == 403
    assert client_for(moderator).delete("/api/v1/posts/999999/").status_code == 404
    bad = client_for(moderator).delete(f"/api/v1/posts/{post.pk}/", {"reason": 5}, format="json")
    assert (bad.status_code, list(bad.json()["error"]["details"])) == (400, ["reason"])
    assert Post.objects.filter(pk=post.pk).exists()


# --- likes ---------------------------------------------------------------------------------


def test_like_and_unlike(user_client, post) -> None:
    path = f"/api/v1/posts/{post.pk}/like/"

    assert user_client.post(path).json() == {"liked": True, "likes_count": 1}
    assert user_client.post(path).json() == {"liked": True, "likes_count": 1}
    assert user_client.get(f"/api/v1/posts/{post.pk}/").json()["liked_by_me"] is True
    assert user_client.delete(path).json() == {"liked": False, "likes_count": 0}
    assert user_client.delete(path.rstrip("/")).json() == {"liked": False, "likes_count": 0}
    assert (len(events_of("post.liked")), len(events_of("post.unliked"))) == (1, 1)


def test_like_an_invisible_or_missing_post_is_404(user_client, private_page) -> None:
    hidden = PostFactory(page=private_page)
    for pk in (hidden.pk, 10**12, "x"):
        response = user_client.post(f"/api/v1/posts/{pk}/like/")
        assert (response.status_code, error_code(response)) == (404, "not_found")
    assert not Like.objects.exists()


# --- liked list ----------------------------------------------------------------------------


def test_liked_lists_most_recent_like_first_and_hides_blocked_pages(user_client) -> None:
    older, newer, blocked = PostFactory(), PostFactory(), PostFactory()
    for post in (newer, older, blocked):
        user_client.post(f"/api/v1/posts/{post.pk}/like/")
    PostFactory()  # not liked
    block_page(blocked.page)

    response = user_client.get("/api/v1/posts/liked/")

    assert response.status_code == 200
    assert ids(response) == [older.pk, newer.pk]
    assert all(item["liked_by_me"] for item in response.json()["results"])
    assert response.json()["next"] is None


def test_liked_list_shows_a_blocked_page_to_staff(client_for, moderator, post) -> None:
    client = client_for(moderator)
    client.post(f"/api/v1/posts/{post.pk}/like/")
    block_page(post.page)
    assert ids(client.get("/api/v1/posts/liked/")) == [post.pk]


def test_liked_list_pages_with_a_cursor(user, user_client) -> None:
    posts = PostFactory.create_batch(5)
    for post in posts:
        LikeFactory(user=user, post=post)

    first = user_client.get("/api/v1/posts/liked/?limit=2").json()
    second = user_client.get(first["next"]).json()
    third = user_client.get(second["next"]).json()

    seen = [item["id"] for page in (first, second, third) for item in page["results"]]
    assert seen == [p.pk for p in reversed(posts)]
    assert third["next"] is None


@pytest.mark.parametrize("query", ["limit=0", "limit=x", "limit=²", "cursor=zzz", "cursor=" + "cD1hYmM="])
def test_lists_refuse_bad_limits_and_cursors(user_client, query) -> None:
    response = user_client.get(f"/api/v1/posts/liked/?{query}")
    assert (response.status_code, error_code(response)) == (400, "validation_error")


def test_a_huge_cursor_position_is_400(user_client) -> None:
    cursor = base64.b64encode(f"p={2**70}".encode()).decode()
    response = user_client.get(f"/api/v1/posts/liked/?cursor={cursor}")
    assert response.status_code == 400


def test_liked_list_query_count_is_constant(user, user_client, django_assert_num_queries) -> None:
    def fill(n: int) -> None:
        for post in PostFactory.create_batch(n):
            LikeFactory(user=user, post=post)

    fill(2)
    with django_assert_num_queries(2):  # the caller, the page of likes
        assert len(ids(user_client.get("/api/v1/posts/liked/?limit=100"))) == 2
    fill(18)
    with django_assert_num_queries(2):
        assert len(ids(user_client.get("/api/v1/posts/liked/?limit=100"))) == 20


# --- replies -------------------------------------------------------------------------------


def test_replies_oldest_first_with_visibility(client_for, user_client, moderator, post) -> None:
    public = PostFactory(reply_to=post)
    private = PostFactory(reply_to=post, page=PageFactory(is_private=True))
    blocked = PostFactory(reply_to=post, page=PageFactory(blocked_permanently=True))
    later = PostFactory(reply_to=post)
    PostFactory()  # not a reply

    assert ids(user_client.get(f"/api/v1/posts/{post.pk}/replies/")) == [public.pk, later.pk]
    staff_view = client_for(moderator).get(f"/api/v1/posts/{post.pk}/replies/")
    assert ids(staff_view) == [public.pk, private.pk, blocked.pk, later.pk]


def test_replies_of_an_invisible_post_are_404(user_client, post) -> None:
    block_page(post.page)
    assert user_client.get(f"/api/v1/posts/{post.pk}/replies/").status_code == 404


def test_replies_query_count_is_constant(user_client, post, django_assert_num_queries) -> None:
    PostFactory.create_batch(2, reply_to=post)
    with django_assert_num_queries(3):  # the caller, the parent check, the page of replies
        assert len(ids(user_client.get(f"/api/v1/posts/{post.pk}/replies/?limit=100"))) == 2
    PostFactory.create_batch(18, reply_to=post)
    with django_assert_num_queries(3):
        assert len(ids(user_client.get(f"/api/v1/posts/{post.pk}/replies/?limit=100"))) == 20


# --- a page's posts ------------------------------------------------------------------------


def test_page_posts_newest_first(user_client, page) -> None:
    posts = PostFactory.create_batch(3, page=page)
    PostFactory()

    response = user_client.get(f"/api/v1/pages/{page.pk}/posts/")

    assert response.status_code == 200
    assert ids(response) == [p.pk for p in reversed(posts)]
    assert set(response.json()["results"][0]) == POST_KEYS


def test_page_posts_visibility(client_for, owner, private_page, moderator) -> None:
    PostFactory(page=private_page)
    follower = FollowFactory(page=private_page).follower
    requested = FollowFactory(page=private_page, status="pending", accepted_at=None).follower
    path = f"/api/v1/pages/{private_page.pk}/posts"

    expected = [(owner, 200), (follower, 200), (moderator, 200), (requested, 404), (UserFactory(), 404)]
    for viewer, code in expected:
        assert client_for(viewer).get(path).status_code == code
    block_page(private_page)
    for viewer, code in [(owner, 200), (follower, 404), (moderator, 200)]:
        assert client_for(viewer).get(path).status_code == code


@pytest.mark.parametrize("page_id", ["x", "0", str(2**64), "999999"])
def test_page_posts_of_a_bad_or_missing_page_is_404(user_client, page_id) -> None:
    response = user_client.get(f"/api/v1/pages/{page_id}/posts/")
    assert (response.status_code, error_code(response)) == (404, "not_found")


def test_page_posts_query_count_is_constant(user, user_client, page, django_assert_num_queries) -> None:
    def fill(n: int) -> None:
        for post in PostFactory.create_batch(n, page=page):
            LikeFactory(user=user, post=post)

    fill(2)
    with django_assert_num_queries(3):  # the caller, the page check, the page of posts
        response = user_client.get(f"/api/v1/pages/{page.pk}/posts/?limit=100")
    assert [item["liked_by_me"] for item in response.json()["results"]] == [True, True]
    fill(18)
    with django_assert_num_queries(3):
        assert len(ids(user_client.get(f"/api/v1/pages/{page.pk}/posts/?limit=100"))) == 20


def test_posts_come_back_when_a_timed_block_ends(user_client, post) -> None:
    post.page.blocked_until = timezone.now() - timedelta(seconds=1)
    post.page.save()

    assert user_client.get(f"/api/v1/posts/{post.pk}/").status_code == 200
    assert ids(user_client.get(f"/api/v1/pages/{post.page_id}/posts/")) == [post.pk]


def test_blocked_page_replies_and_likes_are_shown_to_their_owner(client_for, owner, page) -> None:
    parent = PostFactory()
    reply = PostFactory(page=page, reply_to=parent)
    LikeFactory(user=owner, post=reply)
    block_page(page)
    client = client_for(owner)

    assert ids(client.get(f"/api/v1/posts/{parent.pk}/replies/")) == [reply.pk]
    assert ids(client.get("/api/v1/posts/liked/")) == [reply.pk]
    assert ids(client_for(UserFactory()).get(f"/api/v1/posts/{parent.pk}/replies/")) == []
