"""The DynamoDB repository on moto's server: each event's effect, exactly once, any order."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime

from stats_ms.repository import StatsRepository
from stats_ms.tests import builders as b
from stats_ms.tests.conftest import folded


async def apply(repo: StatsRepository, *envelopes):
    await repo.apply(folded(*envelopes))


def figures(stats):
    assert stats is not None
    return {
        "posts": stats.posts,
        "followers": stats.followers,
        "follow_requests": stats.follow_requests,
        "likes": stats.likes,
        "replies": stats.replies,
    }


ZERO = {"posts": 0, "followers": 0, "follow_requests": 0, "likes": 0, "replies": 0}


async def test_a_page_never_heard_of_has_no_stats(repo):
    assert await repo.page_stats(404) is None


async def test_page_created_makes_the_page_known_with_its_owner(repo):
    await apply(repo, b.page_created(1, owner_id=7))
    stats = await repo.page_stats(1)
    assert stats is not None and stats.owner_id == 7
    assert figures(stats) == ZERO
    assert stats.updated_at == b.NOW


async def test_posts_likes_and_replies(repo):
    await apply(
        repo,
        b.page_created(1, 7),
        b.page_created(2, 8),
        b.post_created(10, 1, 7),
        b.post_created(11, 1, 7),
        b.post_liked(10, 1, 7, user_id=3),
        b.post_liked(10, 1, 7, user_id=4),
        b.post_unliked(10, 1, 7, user_id=4),
        b.post_created(20, 2, 8, reply_to=(10, 1)),
    )
    assert figures(await repo.page_stats(1)) == {**ZERO, "posts": 2, "likes": 1, "replies": 1}
    assert figures(await repo.page_stats(2)) == {**ZERO, "posts": 1}


async def test_post_deleted_takes_its_likes_and_replies_down(repo):
    await apply(
        repo,
        b.page_created(1, 7),
        b.page_created(2, 8),
        b.post_created(10, 1, 7),
        b.post_liked(10, 1, 7, user_id=3),
        b.post_created(20, 2, 8, reply_to=(10, 1)),
        b.post_created(21, 2, 8, reply_to=(10, 1)),
    )
    await apply(repo, b.post_deleted(21, 2, 8, reply_to=(10, 1)))
    assert figures(await repo.page_stats(1)) == {**ZERO, "posts": 1, "likes": 1, "replies": 1}
    await apply(repo, b.post_deleted(10, 1, 7, likes=1, replies=1))
    assert figures(await repo.page_stats(1)) == ZERO
    assert figures(await repo.page_stats(2)) == {**ZERO, "posts": 1}


async def test_follow_lifecycle(repo):
    await apply(
        repo,
        b.page_created(1, 7),
        b.follow_requested(1, 7, 3),
        b.follow_requested(1, 7, 4),
        b.follow_requested(1, 7, 5),
        b.follow_accepted(1, 7, 3, was_requested=True),
        b.follow_accepted(1, 7, 6, was_requested=False),
        b.follow_accepted(1, 7, 9, was_requested=False),
    )
    assert figures(await repo.page_stats(1)) == {**ZERO, "followers": 3, "follow_requests": 2}
    await apply(
        repo,
        b.follow_rejected(1, 7, 4, previous="pending"),
        b.follow_removed(1, 7, 5, previous="pending"),
        b.follow_rejected(1, 7, 6, previous="accepted"),
        b.follow_removed(1, 7, 3, previous="accepted"),
    )
    assert figures(await repo.page_stats(1)) == {**ZERO, "followers": 1}


async def test_page_deleted_makes_the_page_unknown(repo):
    await apply(repo, b.page_created(1, 7), b.post_created(10, 1, 7))
    await apply(repo, b.post_deleted(10, 1, 7), b.page_deleted(1, 7))
    assert await repo.page_stats(1) is None


async def test_other_known_events_change_nothing(repo):
    await apply(repo, b.page_created(1, 7))
    before = await repo.page_stats(1)
    await apply(repo, b.user_registered(7), b.page_blocked(1, 7))
    assert figures(await repo.page_stats(1)) == figures(before)


async def test_the_same_event_twice_changes_nothing(repo):
    events = folded(b.page_created(1, 7), b.post_created(10, 1, 7), b.post_liked(10, 1, 7, user_id=3))
    await repo.apply(events)
    once = await repo.page_stats(1)
    await repo.apply(events)
    await repo.apply(events[2:])
    await repo.apply([events[1], events[1]])  # a duplicate inside one batch as well
    assert once == await repo.page_stats(1)
    assert figures(once) == {**ZERO, "posts": 1, "likes": 1}


async def test_a_batch_with_old_and_new_events_applies_only_the_new(repo):
    first = folded(b.page_created(1, 7), b.post_created(10, 1, 7))
    await repo.apply(first)
    await repo.apply([*first, *folded(b.post_created(11, 1, 7))])
    assert figures(await repo.page_stats(1)) == {**ZERO, "posts": 2}


async def test_out_of_order_across_pages(repo):
    events = [
        b.page_created(1, 7),
        b.post_created(10, 1, 7),
        b.post_liked(10, 1, 7, user_id=3),
        b.page_created(2, 8),
        b.post_created(20, 2, 8, reply_to=(10, 1)),
        b.follow_accepted(2, 8, 3, was_requested=False),
    ]
    page_1 = [e for e in events if e.payload.get("page_id") == 1]
    page_2 = [e for e in events if e.payload.get("page_id") == 2]
    await apply(repo, *page_2)  # page 2's events (and the reply to page 1) arrive first
    await apply(repo, *page_1)
    assert figures(await repo.page_stats(1)) == {**ZERO, "posts": 1, "likes": 1, "replies": 1}
    assert figures(await repo.page_stats(2)) == {**ZERO, "posts": 1, "followers": 1}


async def test_interleaving_pages_in_any_order_gives_the_same_figures(settings, repo):
    per_page = {
        page: [b.page_created(page, 7), *(b.post_liked(10, page, 7, user_id=u) for u in range(5))]
        for page in (1, 2, 3)
    }
    mixed = []
    queues = [list(events) for events in per_page.values()]
    rng = random.Random(4)
    while any(queues):
        queue = rng.choice([q for q in queues if q])
        mixed.append(queue.pop(0))
    for envelope in mixed:
        await apply(repo, envelope)
    for page in (1, 2, 3):
        assert figures(await repo.page_stats(page)) == {**ZERO, "likes": 5}


async def test_a_big_hot_batch_is_split_into_transactions(repo):
    events = [b.page_created(1, 7)] + [b.post_liked(10, 1, 7, user_id=u) for u in range(120)]
    events += [b.page_created(p, 7) for p in range(100, 120)]
    await apply(repo, *events)  # 141 dedupe records + 21 pages + 1 day: more than one transaction
    assert figures(await repo.page_stats(1)) == {**ZERO, "likes": 120}
    assert all([await repo.page_stats(p) is not None for p in range(100, 120)])


async def test_daily_buckets(repo):
    day_1 = datetime(2026, 11, 25, 12, tzinfo=UTC)
    day_2 = datetime(2026, 11, 26, 23, 59, tzinfo=UTC)
    await apply(
        repo,
        b.page_created(1, 7, at=day_1),
        b.post_created(10, 1, 7, at=day_1),
        b.post_liked(10, 1, 7, 3, at=day_1),
        b.post_liked(10, 1, 7, 4, at=day_2),
        b.follow_accepted(1, 7, 5, was_requested=False, at=day_2),
        b.post_unliked(10, 1, 7, 4, at=day_2),
    )
    stats = await repo.page_stats(1)
    assert stats is not None
    assert [(d.date, d.posts, d.likes, d.followers) for d in stats.daily] == [
        (date(2026, 11, 25), 1, 1, 0),
        (date(2026, 11, 26), 0, 1, 1),
    ]
    assert stats.updated_at == day_2


async def test_ensure_tables_is_idempotent_and_sets_a_ttl(repo, settings):
    await repo.ensure_tables()
    generation = (await repo.generations(fresh=True)).active
    client = repo._client
    ttl = await client.describe_time_to_live(TableName=repo.dedupe_table(generation))
    assert ttl["TimeToLiveDescription"]["AttributeName"] == "expires_at"
    table = await client.describe_table(TableName=repo.stats_table(generation))
    assert table["Table"]["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
    record = await client.scan(TableName=repo.dedupe_table(generation))
    assert record["Items"] == []


async def test_dedupe_records_carry_an_expiry(repo, settings):
    await apply(repo, b.page_created(1, 7))
    generation = (await repo.generations()).active
    items = (await repo._client.scan(TableName=repo.dedupe_table(generation)))["Items"]
    assert len(items) == 1
    assert (
        int(items[0]["expires_at"]) > datetime.now(UTC).timestamp() + settings.stats_dedupe_ttl_seconds - 60
    )
