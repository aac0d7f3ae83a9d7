"""The digest builder: the pure assembly (fixtures, no database) and the loading from the database."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from core_app.pages.models import FollowStatus
from core_app.testing.factories import FollowFactory, LikeFactory, PageFactory, PostFactory, UserFactory
from projections.digests import builder
from projections.digests.builder import PeriodPosts, assemble, build_digests

T0 = datetime(2026, 3, 2, 7, tzinfo=UTC)


def rows(*posts: tuple[int, int, int]) -> list[tuple[int, int, float]]:
    """(post id, page id, minutes after T0), newest first as the loader returns them."""
    return sorted(((p, page, (T0 + timedelta(minutes=m)).timestamp()) for p, page, m in posts), reverse=True)


# --- pure assembly ------------------------------------------------------------------------------


def test_pick_takes_the_newest_posts_of_followed_pages_and_counts_the_rest() -> None:
    period = PeriodPosts(rows(*[(i, i % 3, i) for i in range(1, 31)]), limit=5)
    ids, total = period.pick({0, 1})  # 20 of the 30 posts are from pages 0 and 1
    assert ids == [30, 28, 27, 25, 24]
    assert total == 20


def test_pick_falls_back_to_per_page_lists_past_the_scan_limit(monkeypatch) -> None:
    monkeypatch.setattr(builder, "SCAN_LIMIT", 3)
    period = PeriodPosts(rows(*[(i, 1 if i < 5 else 2, i) for i in range(1, 50)]), limit=3)
    assert period.pick({1}) == ([4, 3, 2], 4)


def test_nothing_followed_or_nothing_posted_is_empty() -> None:
    period = PeriodPosts(rows((1, 1, 1)))
    assert period.pick(set()) == ([], 0)
    assert period.pick({2}) == ([], 0)


def test_assemble_counts_more_and_keeps_own_page_activity() -> None:
    period = PeriodPosts(rows(*[(i, 7, i) for i in range(1, 26)]))
    digests = assemble({1: T0, 2: T0}, T0 + timedelta(days=1), {1: {7}}, period, {2: (3, 1, 4)})
    assert digests[1].post_ids == list(range(25, 5, -1))
    assert (digests[1].more, digests[1].new_followers) == (5, 0)
    assert digests[2].post_ids == [] and (digests[2].new_followers, digests[2].follow_requests) == (3, 1)
    assert digests[2].likes_received == 4 and not digests[2].is_empty


def test_each_user_gets_only_what_is_newer_than_their_own_start() -> None:
    period = PeriodPosts(rows((1, 7, 10), (2, 7, 70), (3, 7, 130)))
    later = T0 + timedelta(hours=1)
    digests = assemble(
        {1: T0, 2: later, 3: T0 + timedelta(hours=3)},
        T0 + timedelta(days=1),
        {1: {7}, 2: {7}, 3: {7}},
        period,
        {},
    )
    assert digests[1].post_ids == [3, 2, 1]
    assert digests[2].post_ids == [3, 2]
    assert digests[3].is_empty


# --- from the database --------------------------------------------------------------------------


@pytest.fixture
def reader(db):
    return UserFactory()


def follow(user, page, **kwargs):
    return FollowFactory(follower=user, page=page, **kwargs)


def digest_of(user, since: datetime | None = None):
    now = timezone.now()
    return build_digests({user.pk: since or now - timedelta(days=1)}, now + timedelta(seconds=1))[user.pk]


def test_newest_twenty_posts_newest_first_with_pages_and_the_more_count(reader) -> None:
    pages = [PageFactory() for _ in range(3)]
    for page in pages:
        follow(reader, page)
    posts = [PostFactory(page=pages[i % 3]) for i in range(25)]
    digest = digest_of(reader)
    assert digest.post_ids == [p.pk for p in reversed(posts)][:20]
    assert [p.pk for p in digest.posts] == digest.post_ids
    assert digest.posts[0].page.name == pages[24 % 3].name
    assert digest.more == 5


def test_deleted_blocked_unfollowed_and_pending_pages_never_appear(reader) -> None:
    kept, blocked, owner_blocked, unfollowed, pending = (PageFactory() for _ in range(5))
    for page in (kept, blocked, owner_blocked, unfollowed):
        follow(reader, page)
    follow(reader, pending, status=FollowStatus.PENDING, accepted_at=None)
    visible = PostFactory(page=kept)
    PostFactory(page=kept).delete()
    for page in (blocked, owner_blocked, unfollowed, pending):
        PostFactory(page=page)
    blocked.blocked_permanently = True
    blocked.save()
    owner_blocked.owner.is_blocked = True
    owner_blocked.owner.save()
    unfollowed.follows.filter(follower=reader).delete()
    digest = digest_of(reader)
    assert digest.post_ids == [visible.pk]
    assert digest.more == 0


def test_posts_before_the_start_are_left_out(reader) -> None:
    page = PageFactory()
    follow(reader, page)
    old = PostFactory(page=page)
    start = timezone.now()
    new = PostFactory(page=page)
    assert old.created_at < start
    assert digest_of(reader, since=start).post_ids == [new.pk]


def test_own_pages_report_new_followers_requests_and_likes(reader) -> None:
    page = PageFactory(owner=reader)
    private = PageFactory(owner=reader, is_private=True)
    FollowFactory(page=page)
    FollowFactory(page=page)
    FollowFactory(page=private, status=FollowStatus.PENDING, accepted_at=None)
    post = PostFactory(page=page)
    LikeFactory(post=post)
    LikeFactory(post=post, user=reader)  # liking your own post is no news
    digest = digest_of(reader)
    assert (digest.new_followers, digest.follow_requests, digest.likes_received) == (2, 1, 1)
    assert digest.post_ids == []  # own posts are not in the digest


def test_nothing_new_is_an_empty_digest(reader) -> None:
    page = PageFactory()
    follow(reader, page)
    PostFactory(page=page)
    assert digest_of(reader, since=timezone.now()).is_empty


def test_first_post_id_since_finds_the_boundary(db) -> None:
    posts = [PostFactory() for _ in range(5)]
    assert builder.first_post_id_since(posts[2].created_at) == posts[2].pk
    assert builder.first_post_id_since(timezone.now() + timedelta(days=1)) == posts[-1].pk + 1


def test_the_batches_of_a_run_read_its_period_once(reader, django_assert_num_queries) -> None:
    page = PageFactory()
    follow(reader, page)
    post = PostFactory(page=page)
    now = timezone.now()
    starts = {reader.pk: now - timedelta(days=1)}
    build_digests(starts, now)
    with django_assert_num_queries(4):  # follows, activity (two), posts: not the period again
        assert build_digests(starts, now)[reader.pk].post_ids == [post.pk]
