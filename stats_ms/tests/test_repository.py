"""The DynamoDB repository on moto's server: each event's effect, exactly once, any order."""

from __future__ import annotations

import random
import uuid
from datetime import UTC, date, datetime, timedelta
from unittest import mock

import pytest
from botocore.exceptions import ClientError

from stats_ms.repository import StatsRepository
from stats_ms.tests import builders as b
from stats_ms.tests.conftest import folded, puts_returning_no_item


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


async def test_a_hot_page_batch_is_one_write_per_item(repo):
    events = [b.page_created(1, 7)] + [b.post_liked(10, 1, 7, user_id=u) for u in range(150)]
    events += [b.page_created(p, 7) for p in range(100, 120)]
    original, calls = repo._client.put_item, []

    async def counted(**kwargs):
        calls.append((kwargs["Item"]["pk"], kwargs["Item"]["sk"]))
        return await original(**kwargs)

    with mock.patch.object(repo._client, "put_item", counted):
        written = await repo.apply(folded(*events))
    assert len(calls) == 1 + 20  # page 1's figures with its day's buckets, 20 other pages' figures
    assert written == len(calls)  # what the consumer spaces its batches by
    assert figures(await repo.page_stats(1)) == {**ZERO, "likes": 150}
    assert all([await repo.page_stats(p) is not None for p in range(100, 120)])


async def test_replies_from_another_page_in_any_order(repo):
    parent, replier = [b.page_created(1, 7), b.post_created(10, 1, 7)], [b.page_created(2, 8)]
    replies = [b.post_created(20 + i, 2, 8, reply_to=(10, 1)) for i in range(3)]
    replies.append(b.post_deleted(20, 2, 8, reply_to=(10, 1)))
    own_reply = b.post_created(11, 1, 7, reply_to=(10, 1))  # a reply under its own post
    # The replying page's events, with positions after the parent's, arrive first.
    await apply(repo, *replier, *replies)
    await apply(repo, *parent)
    await apply(repo, own_reply)
    assert figures(await repo.page_stats(1)) == {**ZERO, "posts": 2, "replies": 3}
    assert figures(await repo.page_stats(2)) == {**ZERO, "posts": 2}


async def test_an_event_older_than_what_an_item_has_seen_is_a_duplicate(repo):
    created, liked = b.page_created(1, 7), b.post_liked(10, 1, 7, user_id=3)
    await apply(repo, created, liked)
    republished = liked.model_copy(update={"event_id": uuid.uuid4()})  # same position, new id
    await apply(repo, republished)
    assert figures(await repo.page_stats(1)) == {**ZERO, "likes": 1}


async def test_the_item_is_read_when_the_failed_write_does_not_return_it(repo):
    events = folded(b.page_created(1, 7), b.post_liked(10, 1, 7, user_id=3))
    await repo.apply(events[:1])
    fresh = StatsRepository(repo._db, repo.settings)  # knows nothing: assumes the items are new
    reads = []

    async def read(**kwargs):
        reads.append(kwargs)
        return await get_item(**kwargs)

    get_item = fresh._client.get_item
    with (
        puts_returning_no_item(fresh),
        mock.patch.object(fresh._client, "get_item", side_effect=read),
    ):
        await fresh.apply(events)
    item_reads = [r for r in reads if "sk" in r["Key"]]  # the other is the generation pointer's
    assert [r["Key"]["sk"] for r in item_reads] == ["TOTAL"] and item_reads[0]["ConsistentRead"]
    assert figures(await repo.page_stats(1)) == {**ZERO, "likes": 1}


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


async def test_ensure_tables_is_idempotent_and_on_demand(repo, settings):
    await repo.ensure_tables()
    generation = (await repo.generations(fresh=True)).active
    table = await repo._client.describe_table(TableName=repo.stats_table(generation))
    assert table["Table"]["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
    assert [k["AttributeName"] for k in table["Table"]["KeySchema"]] == ["pk", "sk"]


async def test_only_the_newest_days_are_answered(repo):
    repo.settings = repo.settings.model_copy(update={"stats_daily_days": 2})
    days = [datetime(2026, 11, d, 12, tzinfo=UTC) for d in (20, 22, 21)]  # out of order on purpose
    posts = [b.post_created(10 + i, 1, 7, at=at) for i, at in enumerate(days)]
    await apply(repo, b.page_created(1, 7), *posts)
    stats = await repo.page_stats(1)
    assert stats is not None and stats.posts == 3
    assert [d.date for d in stats.daily] == [date(2026, 11, 21), date(2026, 11, 22)]


async def test_a_put_holds_the_whole_item_conditional_on_the_known_position(repo):
    original, puts = repo._client.put_item, []

    async def recorded(**kwargs):
        puts.append(kwargs)
        return await original(**kwargs)

    at = datetime(2026, 11, 25, 12, tzinfo=UTC)
    created, liked = b.page_created(1, 7, at=at), b.post_liked(10, 1, 7, user_id=3, at=at)
    with mock.patch.object(repo._client, "put_item", recorded):
        await apply(repo, created)
        await apply(repo, liked)
    first, second = puts
    assert first["Item"] == {
        "pk": "PAGE#1",
        "sk": "TOTAL",
        "applied_position": created.position,
        "updated_at": at.isoformat(),
        "owner_id": 7,
    }
    assert first["ConditionExpression"] == "attribute_not_exists(pk)"  # not known: assumed new
    assert second["Item"] == {
        **first["Item"],
        "applied_position": liked.position,
        "likes": 1,  # a counter appears once it changes, as with an ADD
        "day": "2026-11-25",
        "day_likes": 1,
    }
    assert second["ConditionExpression"] == "#pos = :expected"
    assert second["ExpressionAttributeValues"] == {":expected": created.position}
    assert all(put["ReturnValuesOnConditionCheckFailure"] == "ALL_OLD" for put in puts)
    assert await _item(repo, "TOTAL") == second["Item"]
    assert figures(await repo.page_stats(1)) == {**ZERO, "likes": 1}


async def _item(repo, sk: str) -> dict:
    table = repo.stats_table((await repo.generations()).active)
    response = await repo._client.get_item(TableName=table, Key={"pk": "PAGE#1", "sk": sk})
    return response.get("Item", {})


async def test_each_day_is_an_item_of_its_own_and_the_figures_item_stays_small(repo):
    repo.settings = repo.settings.model_copy(update={"stats_daily_days": 30})
    first = datetime(2026, 1, 1, 12, tzinfo=UTC)
    await apply(repo, b.page_created(1, 7, at=first))
    likes = [b.post_liked(10, 1, 7, user_id=d, at=first + timedelta(days=d)) for d in range(40)]
    for like in likes:  # a batch a day: each new day moves the previous one out of TOTAL
        await apply(repo, like)
    total = await _item(repo, "TOTAL")
    fixed = {"pk", "sk", "applied_position", "updated_at", "owner_id", "likes", "day"}
    assert set(total) == fixed | {"day_posts", "day_likes", "day_followers"}  # whatever the days
    assert total["day"] == "2026-02-09" and total["day_likes"] == 1
    assert (await _item(repo, "DAY#2026-01-01#T"))["likes"] == 1
    stats = await repo.page_stats(1)
    assert stats is not None and stats.likes == 40
    assert [d.date for d in stats.daily] == [(first + timedelta(days=d)).date() for d in range(10, 40)]
    assert all(d.likes == 1 for d in stats.daily)


async def test_a_day_is_the_sum_of_total_and_late_events(repo):
    day_1 = datetime(2026, 11, 25, 23, 59, tzinfo=UTC)
    day_2 = datetime(2026, 11, 26, 0, 1, tzinfo=UTC)
    await apply(repo, b.page_created(1, 7, at=day_1), b.post_liked(10, 1, 7, user_id=1, at=day_1))
    await apply(repo, b.post_liked(10, 1, 7, user_id=2, at=day_2))  # TOTAL moves on to day 2
    # Committed later than day 2's like but stamped on day 1: it goes to day 1's own item.
    late = b.post_liked(10, 1, 7, user_id=3, at=day_1)
    await apply(repo, late, b.post_liked(10, 1, 7, user_id=4, at=day_2))
    await apply(repo, late)  # a redelivery changes nothing
    stats = await repo.page_stats(1)
    assert stats is not None and stats.likes == 4
    assert [(d.date, d.likes) for d in stats.daily] == [(date(2026, 11, 25), 2), (date(2026, 11, 26), 2)]
    assert (await _item(repo, "DAY#2026-11-25#T"))["likes"] == 1
    assert (await _item(repo, "DAY#2026-11-25"))["likes"] == 1


async def test_a_batch_over_midnight_keeps_each_day_apart(repo):
    day_1 = datetime(2026, 11, 25, 23, 59, tzinfo=UTC)
    day_2 = datetime(2026, 11, 26, 0, 1, tzinfo=UTC)
    await apply(repo, b.page_created(1, 7, at=day_1), b.post_liked(10, 1, 7, user_id=1, at=day_1))
    batch = [b.post_liked(10, 1, 7, user_id=2, at=day_1), b.post_liked(10, 1, 7, user_id=3, at=day_2)]
    await apply(repo, *batch)
    await apply(repo, *batch)
    stats = await repo.page_stats(1)
    assert stats is not None and stats.likes == 3
    assert [(d.date, d.likes) for d in stats.daily] == [(date(2026, 11, 25), 2), (date(2026, 11, 26), 1)]


async def test_a_crash_between_moving_a_day_out_and_starting_the_next_counts_once(repo):
    day_1 = datetime(2026, 11, 25, 12, tzinfo=UTC)
    day_2 = datetime(2026, 11, 26, 12, tzinfo=UTC)
    await apply(repo, b.page_created(1, 7, at=day_1), b.post_liked(10, 1, 7, user_id=1, at=day_1))
    next_day = folded(b.post_liked(10, 1, 7, user_id=2, at=day_2))
    original, calls = repo._client.put_item, []

    async def second_put_crashes(**kwargs):
        calls.append(kwargs["Item"]["sk"])
        if len(calls) == 2:  # the day was moved out; TOTAL's write to start the new day is lost
            raise ClientError({"Error": {"Code": "InternalServerError"}}, "PutItem")
        return await original(**kwargs)

    with mock.patch.object(repo._client, "put_item", second_put_crashes), pytest.raises(ClientError):
        await repo.apply(next_day)
    assert calls == ["DAY#2026-11-25#T", "TOTAL"]
    assert (await _item(repo, "DAY#2026-11-25#T"))["likes"] == 1
    await repo.apply(next_day)  # written again
    await repo.apply(next_day)  # and redelivered
    stats = await repo.page_stats(1)
    assert stats is not None and stats.likes == 2
    assert [(d.date, d.likes) for d in stats.daily] == [(date(2026, 11, 25), 1), (date(2026, 11, 26), 1)]


async def test_a_batch_cut_between_the_figures_and_the_day_counts_once_when_written_again(repo):
    day_1 = datetime(2026, 11, 25, 23, 59, tzinfo=UTC)
    day_2 = datetime(2026, 11, 26, 0, 1, tzinfo=UTC)
    events = folded(
        b.page_created(1, 7, at=day_1),
        b.post_liked(10, 1, 7, user_id=3, at=day_1),
        b.post_liked(10, 1, 7, user_id=4, at=day_2),  # day 1 gets an item of its own
    )
    original, failed = repo._client.put_item, []

    async def day_write_fails_once(**kwargs):
        if kwargs["Item"]["sk"].startswith("DAY#") and not failed:
            failed.append(kwargs["Item"]["sk"])
            raise ClientError({"Error": {"Code": "InternalServerError"}}, "PutItem")
        return await original(**kwargs)

    with mock.patch.object(repo._client, "put_item", day_write_fails_once), pytest.raises(ClientError):
        await repo.apply(events)  # the day's write fails (the figures' may not)
    assert failed
    await repo.apply(events)  # the consumer writes the unacked batch again
    await repo.apply(events[1:])  # and a redelivery later
    stats = await repo.page_stats(1)
    assert figures(stats) == {**ZERO, "likes": 2}
    assert [d.likes for d in stats.daily] == [1, 1]
