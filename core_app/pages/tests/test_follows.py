from unittest import mock

import pytest

from core_app.common.exceptions import ValidationFailed
from core_app.pages import services
from core_app.pages.errors import CannotFollowOwnPage, NotFollowing, NotPageOwner
from core_app.pages.models import Follow, FollowStatus, Page
from core_app.pages.tests.conftest import event_types, events, payloads
from core_app.testing.factories import FollowFactory, PageFactory, UserFactory

pytestmark = pytest.mark.django_db


def followers_count(page: Page) -> int:
    return Page.objects.get(pk=page.pk).followers_count


def accepted_count(page: Page) -> int:
    return Follow.objects.filter(page=page, status=FollowStatus.ACCEPTED).count()


def pending(page: Page, n: int) -> list[Follow]:
    return [FollowFactory(page=page, status=FollowStatus.PENDING, accepted_at=None) for _ in range(n)]


def test_follow_public_page(page):
    fan = UserFactory()
    follow = services.follow_create(page=page, user=fan)
    assert follow.status == FollowStatus.ACCEPTED and follow.accepted_at is not None
    assert followers_count(page) == 1
    (event,) = events("follow.accepted")
    assert event.payload == {
        "page_id": page.pk,
        "page_owner_id": page.owner_id,
        "follower_id": fan.pk,
        "was_requested": False,
    }
    assert event.actor_id == fan.pk


def test_follow_private_page_is_a_request(private_page):
    fan = UserFactory()
    follow = services.follow_create(page=private_page, user=fan)
    assert follow.status == FollowStatus.PENDING
    assert followers_count(private_page) == 0
    assert payloads("follow.requested") == [
        {"page_id": private_page.pk, "page_owner_id": private_page.owner_id, "follower_id": fan.pk}
    ]


def test_following_twice_is_a_no_op(page):
    fan = UserFactory()
    services.follow_create(page=page, user=fan)
    again = services.follow_create(page=page, user=fan)
    assert again.status == FollowStatus.ACCEPTED
    assert followers_count(page) == 1
    assert len(events()) == 1


def test_owner_cannot_follow_own_page(page, owner):
    with pytest.raises(CannotFollowOwnPage):
        services.follow_create(page=page, user=owner)
    assert events() == []


def test_follow_reads_privacy_fresh_from_the_database(page):
    Page.objects.filter(pk=page.pk).update(is_private=True)  # `page` in memory is stale
    follow = services.follow_create(page=page, user=UserFactory())
    assert follow.status == FollowStatus.PENDING


def test_follow_rolls_back_when_append_fails(page):
    with (
        mock.patch("core_app.pages.follows.append_event", side_effect=RuntimeError("log down")),
        pytest.raises(RuntimeError),
    ):
        services.follow_create(page=page, user=UserFactory())
    assert not Follow.objects.exists()
    assert followers_count(page) == 0


def test_unfollow(page):
    fan = UserFactory()
    services.follow_create(page=page, user=fan)
    services.follow_delete(page=page, user=fan)
    assert followers_count(page) == 0
    assert payloads("follow.removed")[0]["previous_status"] == "accepted"


def test_withdraw_request(private_page):
    fan = UserFactory()
    services.follow_create(page=private_page, user=fan)
    services.follow_delete(page=private_page, user=fan)
    assert followers_count(private_page) == 0
    assert payloads("follow.removed")[0]["previous_status"] == "pending"
    assert not Follow.objects.exists()


def test_unfollow_when_not_following(page):
    with pytest.raises(NotFollowing):
        services.follow_delete(page=page, user=UserFactory())


def test_accept_named_requests_ignores_others(private_page, owner):
    requests = pending(private_page, 3)
    stranger = UserFactory()
    n = services.follow_requests_accept(
        page=private_page,
        actor=owner,
        user_ids=[requests[0].follower_id, requests[1].follower_id, stranger.pk],
    )
    assert n == 2
    assert followers_count(private_page) == 2 == accepted_count(private_page)
    assert {p["follower_id"] for p in payloads("follow.accepted")} == {r.follower_id for r in requests[:2]}
    assert all(p["was_requested"] for p in payloads("follow.accepted"))


def test_accept_all_leaves_accepted_followers_alone(private_page, owner):
    FollowFactory(page=private_page)
    Page.objects.filter(pk=private_page.pk).update(followers_count=1)
    pending(private_page, 4)
    assert services.follow_requests_accept(page=private_page, actor=owner, all_requests=True) == 4
    assert followers_count(private_page) == 5 == accepted_count(private_page)
    assert event_types() == ["follow.accepted"] * 4


def test_accept_twice_counts_nothing_the_second_time(private_page, owner):
    (request,) = pending(private_page, 1)
    services.follow_requests_accept(page=private_page, actor=owner, user_ids=[request.follower_id])
    assert (
        services.follow_requests_accept(page=private_page, actor=owner, user_ids=[request.follower_id]) == 0
    )
    assert followers_count(private_page) == 1


def test_reject_named_removes_pending_and_accepted(private_page, owner):
    follower = FollowFactory(page=private_page)
    Page.objects.filter(pk=private_page.pk).update(followers_count=1)
    request, kept = pending(private_page, 2)
    n = services.follow_requests_reject(
        page=private_page, actor=owner, user_ids=[follower.follower_id, request.follower_id]
    )
    assert n == 2
    assert followers_count(private_page) == 0 == accepted_count(private_page)
    assert list(Follow.objects.values_list("pk", flat=True)) == [kept.pk]
    statuses = {p["follower_id"]: p["previous_status"] for p in payloads("follow.rejected")}
    assert statuses == {follower.follower_id: "accepted", request.follower_id: "pending"}


def test_reject_all_touches_only_pending(private_page, owner):
    FollowFactory(page=private_page)
    Page.objects.filter(pk=private_page.pk).update(followers_count=1)
    pending(private_page, 3)
    assert services.follow_requests_reject(page=private_page, actor=owner, all_requests=True) == 3
    assert followers_count(private_page) == 1 == accepted_count(private_page)
    assert {p["previous_status"] for p in payloads("follow.rejected")} == {"pending"}


@pytest.mark.parametrize("decide", [services.follow_requests_accept, services.follow_requests_reject])
def test_decisions_need_exactly_one_form(private_page, owner, decide):
    with pytest.raises(ValidationFailed):
        decide(page=private_page, actor=owner)
    with pytest.raises(ValidationFailed):
        decide(page=private_page, actor=owner, user_ids=[1], all_requests=True)


@pytest.mark.parametrize("decide", [services.follow_requests_accept, services.follow_requests_reject])
def test_decisions_are_for_the_owner(private_page, decide):
    pending(private_page, 1)
    with pytest.raises(NotPageOwner):
        decide(page=private_page, actor=UserFactory(), all_requests=True)
    assert Follow.objects.filter(status=FollowStatus.PENDING).count() == 1


def test_accept_rolls_back_when_append_fails(private_page, owner):
    pending(private_page, 2)
    with (
        mock.patch("core_app.pages.follows.append_events", side_effect=RuntimeError("log down")),
        pytest.raises(RuntimeError),
    ):
        services.follow_requests_accept(page=private_page, actor=owner, all_requests=True)
    assert followers_count(private_page) == 0
    assert Follow.objects.filter(status=FollowStatus.PENDING).count() == 2


def test_bulk_accept_of_thousands_in_chunks(private_page, owner):
    users = UserFactory.create_batch(30)
    Follow.objects.bulk_create(
        [Follow(page=private_page, follower=u, status=FollowStatus.PENDING) for u in users]
    )
    with mock.patch("core_app.pages.follows.CHUNK", 7):
        n = services.follow_requests_accept(page=private_page, actor=owner, all_requests=True)
    assert n == 30
    assert followers_count(private_page) == 30 == accepted_count(private_page)
    assert len(events("follow.accepted")) == 30


def test_followers_count_stays_exact_through_a_mixed_sequence(owner):
    page = PageFactory(owner=owner, is_private=True)
    fans = UserFactory.create_batch(6)
    for fan in fans:
        services.follow_create(page=page, user=fan)
    services.follow_requests_accept(page=page, actor=owner, user_ids=[f.pk for f in fans[:4]])
    services.follow_delete(page=page, user=fans[0])
    services.follow_requests_reject(page=page, actor=owner, user_ids=[fans[1].pk, fans[4].pk])
    services.page_update(page=page, actor=owner, is_private=False)
    services.follow_create(page=page, user=fans[0])
    page.refresh_from_db()
    assert page.followers_count == accepted_count(page) == 4
