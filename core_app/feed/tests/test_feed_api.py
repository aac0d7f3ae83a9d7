from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from core_app.feed.views import encode_cursor
from core_app.pages.models import Follow, FollowStatus, Page
from core_app.testing.factories import FollowFactory, PageFactory, PostFactory, UserFactory
from projections.feed import store
from projections.models import FeedPage

pytestmark = pytest.mark.django_db
URL = "/api/v1/feed/"


def project(user, *posts) -> None:
    """Put posts into a user's feed projection, as the fan-out would."""
    if posts:
        store.redis_client().zadd(store.feed_key(user.pk), {str(p.pk): p.pk for p in posts})


def ids(response) -> list[int]:
    assert response.status_code == 200, response.content
    return [item["id"] for item in response.json()["results"]]


@pytest.fixture
def reader(user):
    return user


@pytest.fixture
def followed(reader):
    page = PageFactory()
    FollowFactory(page=page, follower=reader)
    return page


def test_anonymous_gets_401(api_client) -> None:
    response = api_client.get(URL)
    assert response.status_code == 401
    assert response.json()["error"]["code"] in {"not_authenticated", "token_invalid"}


def test_feed_lists_projected_posts_newest_first_with_post_shape(reader, followed, client_for) -> None:
    posts = [PostFactory(page=followed) for _ in range(3)]
    project(reader, *posts)
    response = client_for(reader).get(URL)
    assert ids(response) == [p.pk for p in reversed(posts)]
    item = response.json()["results"][0]
    assert item["page"]["id"] == followed.pk
    assert {"content", "reply_to", "likes_count", "liked_by_me", "created_at"} <= item.keys()
    assert response.json()["next"] is None


def test_cursor_pagination_walks_every_post_once(reader, followed, client_for) -> None:
    posts = [PostFactory(page=followed) for _ in range(5)]
    project(reader, *posts)
    client = client_for(reader)
    first = client.get(URL, {"limit": 2})
    assert ids(first) == [posts[4].pk, posts[3].pk]
    # A post arriving meanwhile does not shift the next page.
    project(reader, PostFactory(page=followed))
    second = client.get(first.json()["next"])
    assert ids(second) == [posts[2].pk, posts[1].pk]
    third = client.get(second.json()["next"])
    assert ids(third) == [posts[0].pk]
    assert third.json()["next"] is None


@pytest.mark.parametrize(
    "params",
    [
        {"cursor": "not-a-cursor"},
        {"cursor": encode_cursor(1).replace("Zm", "xx")},
        {"cursor": "ZmVlZDotMQ"},  # "feed:-1"
        {"cursor": "ZmVlZDo5OTk5OTk5OTk5OTk5OTk5OTk5OTk5OQ"},  # beyond bigint
        {"limit": "0"},
        {"limit": "abc"},
        {"limit": "-3"},
    ],
)
def test_bad_cursor_or_limit_is_a_400(reader, client_for, params) -> None:
    response = client_for(reader).get(URL, params)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "validation_error"


def test_limit_is_capped_at_100(reader, followed, client_for) -> None:
    posts = PostFactory.create_batch(105, page=followed)
    project(reader, *posts)
    assert len(ids(client_for(reader).get(URL, {"limit": "1000"}))) == 100


def test_blocked_deleted_and_unfollowed_never_show_before_the_projection_catches_up(
    reader, followed, client_for
) -> None:
    visible = PostFactory(page=followed)
    deleted = PostFactory(page=followed)
    blocked_page = PageFactory(blocked_until=timezone.now() + timedelta(hours=1))
    FollowFactory(page=blocked_page, follower=reader)
    owner_blocked_page = PageFactory(owner=UserFactory(is_blocked=True))
    FollowFactory(page=owner_blocked_page, follower=reader)
    unfollowed_page = PageFactory()
    project(
        reader,
        visible,
        deleted,
        PostFactory(page=blocked_page),
        PostFactory(page=owner_blocked_page),
        PostFactory(page=unfollowed_page),
    )
    deleted.delete()
    assert ids(client_for(reader).get(URL)) == [visible.pk]


def test_stale_rows_do_not_shorten_a_page(reader, followed, client_for) -> None:
    good = [PostFactory(page=followed) for _ in range(3)]
    unfollowed = PageFactory()
    project(reader, *good, *PostFactory.create_batch(5, page=unfollowed))
    assert ids(client_for(reader).get(URL, {"limit": 3})) == [p.pk for p in reversed(good)]


def test_private_page_posts_need_an_accepted_follow(reader, client_for) -> None:
    private = PageFactory(is_private=True)
    Follow.objects.create(page=private, follower=reader, status=FollowStatus.PENDING)
    project(reader, PostFactory(page=private))
    assert ids(client_for(reader).get(URL)) == []


def test_own_pages_posts_are_in_the_feed(reader, client_for) -> None:
    mine = PageFactory(owner=reader)
    post = PostFactory(page=mine)
    project(reader, post)
    assert ids(client_for(reader).get(URL)) == [post.pk]


def test_big_pages_are_merged_at_read_time(reader, followed, client_for) -> None:
    big = PageFactory()
    FollowFactory(page=big, follower=reader)
    FeedPage.objects.create(page_id=big.pk, owner_id=big.owner_id, read_time_merge=True)
    not_followed_big = PageFactory()
    FeedPage.objects.create(
        page_id=not_followed_big.pk, owner_id=not_followed_big.owner_id, read_time_merge=True
    )
    projected = PostFactory(page=followed)
    project(reader, projected)
    merged = [PostFactory(page=big) for _ in range(2)]
    PostFactory(page=not_followed_big)
    newest_projected = PostFactory(page=followed)
    project(reader, newest_projected)
    response = client_for(reader).get(URL)
    assert ids(response) == [newest_projected.pk, merged[1].pk, merged[0].pk, projected.pk]


def _follow_many(reader, count: int) -> None:
    owner = UserFactory()
    pages = Page.objects.bulk_create(
        [Page(owner=owner, name=f"p{i}", uuid=f"bulk-{count}-{i}") for i in range(count)]
    )
    Follow.objects.bulk_create(
        [
            Follow(page=p, follower=reader, status=FollowStatus.ACCEPTED, accepted_at=timezone.now())
            for p in pages
        ]
    )
    project(reader, *[PostFactory(page=p) for p in pages[:30]])


@pytest.mark.parametrize("follows", [5, 500])
def test_fixed_number_of_queries_whatever_the_follows(
    reader, client_for, django_assert_num_queries, follows
) -> None:
    _follow_many(reader, follows)
    client = client_for(reader)
    # Authentication (1), feed ids (1), posts with their pages (1).
    with django_assert_num_queries(3):
        response = client.get(URL)
    assert len(ids(response)) == min(20, follows)


def test_a_whole_stale_window_is_skipped_with_a_wider_one(
    reader, followed, client_for, django_assert_num_queries
) -> None:
    good = [PostFactory(page=followed) for _ in range(3)]
    unfollowed = PageFactory()
    project(reader, *good, *PostFactory.create_batch(10, page=unfollowed))  # newer than the good ones
    # limit 3 -> a first window of 8 candidates, all stale; a second, wider one finds the rest.
    with django_assert_num_queries(1 + 2 * 2):
        response = client_for(reader).get(URL, {"limit": 3})
    assert ids(response) == [p.pk for p in reversed(good)]
    assert response.json()["next"] is None


def test_after_the_last_round_a_short_page_still_leads_on(reader, followed, client_for) -> None:
    from core_app.feed import selectors

    good = [PostFactory(page=followed) for _ in range(2)]
    unfollowed = PageFactory()
    first_window = (1 + 1) * selectors.WINDOW_FACTOR  # limit 1
    stale_windows = sum(first_window * selectors.WIDEN**n for n in range(selectors.MAX_ROUNDS))
    project(reader, *good, *PostFactory.create_batch(stale_windows, page=unfollowed))
    client = client_for(reader)
    first = client.get(URL, {"limit": 1})
    assert ids(first) == []
    assert first.json()["next"] is not None
    second = client.get(first.json()["next"])
    assert ids(second) == [good[1].pk]
    third = client.get(second.json()["next"])
    assert ids(third) == [good[0].pk]
    assert third.json()["next"] is None
