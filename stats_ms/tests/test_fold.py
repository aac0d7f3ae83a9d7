"""The pure fold: what each event does to which page."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from pydantic import ValidationError

from events.contracts import UnknownEventError
from stats_ms.fold import MalformedEvent, effects_of, merge_effects
from stats_ms.tests import builders as b


def counters(envelope):
    return {page: delta.counters for page, delta in effects_of(envelope).items()}


def test_reply_counts_on_the_parent_page_too():
    effects = effects_of(b.post_created(10, page_id=1, owner_id=7, reply_to=(5, 2)))
    assert effects[1].counters["posts"] == 1 and effects[1].owner_id == 7
    assert effects[2].counters["replies"] == 1 and effects[2].owner_id is None


def test_deleting_a_reply_takes_down_its_own_figures_and_the_parents_reply():
    effects = effects_of(b.post_deleted(10, 1, 7, likes=3, replies=2, reply_to=(5, 2)))
    assert effects[1].counters == {
        "posts": -1,
        "followers": 0,
        "follow_requests": 0,
        "likes": -3,
        "replies": -2,
    }
    assert effects[2].counters["replies"] == -1


@pytest.mark.parametrize(
    ("envelope", "expected"),
    [
        (b.follow_requested(1, 7, 9), {"follow_requests": 1}),
        (b.follow_accepted(1, 7, 9, was_requested=True), {"followers": 1, "follow_requests": -1}),
        (b.follow_accepted(1, 7, 9, was_requested=False), {"followers": 1}),
        (b.follow_rejected(1, 7, 9, previous="pending"), {"follow_requests": -1}),
        (b.follow_rejected(1, 7, 9, previous="accepted"), {"followers": -1}),
        (b.follow_removed(1, 7, 9, previous="pending"), {"follow_requests": -1}),
        (b.follow_removed(1, 7, 9, previous="accepted"), {"followers": -1}),
        (b.post_liked(3, 1, 7, 9), {"likes": 1}),
        (b.post_unliked(3, 1, 7, 9), {"likes": -1}),
    ],
)
def test_follow_and_like_events(envelope, expected):
    nonzero = {k: v for k, v in counters(envelope)[1].items() if v}
    assert nonzero == expected


def test_daily_buckets_use_the_utc_day():
    late_evening_in_minsk = datetime.fromisoformat("2026-11-27T01:30:00+03:00")
    effects = effects_of(b.post_liked(3, 1, 7, 9, at=late_evening_in_minsk))
    assert effects[1].daily == {date(2026, 11, 26): {"posts": 0, "likes": 1, "followers": 0}}


def test_page_events_learn_the_owner_and_deletion():
    assert effects_of(b.page_created(1, 7))[1].owner_id == 7
    deleted = effects_of(b.page_deleted(1, 7))[1]
    assert deleted.deleted and deleted.owner_id == 7


def test_other_known_types_touch_nothing():
    assert effects_of(b.user_registered(3)) == {}
    assert effects_of(b.page_blocked(1, 7)) == {}


def test_unknown_or_invalid_events_raise():
    with pytest.raises(UnknownEventError):
        effects_of(b.raw_envelope("page.exploded", {}))
    with pytest.raises(ValidationError):
        effects_of(b.raw_envelope("post.liked", {"post_id": "x"}))
    with pytest.raises(MalformedEvent):
        effects_of(b.post_liked(3, 2**70, 7, 9))
    with pytest.raises(MalformedEvent):
        effects_of(b.post_deleted(3, 1, 7, likes=-1))


def test_merge_sums_per_page_and_keeps_the_latest_time():
    later = datetime(2026, 11, 28, tzinfo=UTC)
    merged = merge_effects(
        [
            effects_of(b.post_liked(3, 1, 7, 9)),
            effects_of(b.post_liked(3, 1, 7, 8, at=later)),
            effects_of(b.page_deleted(1, 7)),
        ]
    )
    assert merged[1].counters["likes"] == 2
    assert merged[1].last_at is not None and merged[1].last_at >= later
    assert merged[1].deleted
    assert sum(bucket["likes"] for bucket in merged[1].daily.values()) == 2
