"""The write path's known item states: one conditional put per item, exact whoever else wrote."""

from __future__ import annotations

from datetime import UTC, date, datetime
from unittest import mock

import pytest
from botocore.exceptions import ClientError

from stats_ms.repository import StatsRepository
from stats_ms.tests import builders as b
from stats_ms.tests.conftest import folded, puts_returning_no_item
from stats_ms.tests.test_repository import ZERO, figures

DAY_1 = datetime(2026, 11, 25, 12, tzinfo=UTC)
DAY_2 = datetime(2026, 11, 26, 12, tzinfo=UTC)


def another(repo: StatsRepository) -> StatsRepository:
    """A second writer on the same tables (another consumer instance), knowing nothing yet."""
    return StatsRepository(repo._db, repo.settings)


async def apply(repo: StatsRepository, *envelopes) -> None:
    await repo.apply(folded(*envelopes))


async def daily(repo: StatsRepository, page: int = 1) -> list[tuple[date, int, int, int]]:
    stats = await repo.page_stats(page)
    assert stats is not None
    return [(d.date, d.posts, d.likes, d.followers) for d in stats.daily]


async def stored(repo: StatsRepository, sk: str, page: int = 1) -> dict:
    table = repo.stats_table((await repo.generations()).active)
    response = await repo._client.get_item(
        TableName=table, Key={"pk": f"PAGE#{page}", "sk": sk}, ConsistentRead=True
    )
    return response.get("Item", {})


class Requests:
    """Records the requests a repository's client makes to the figures' tables (they still go through).

    The meta table's (the generation pointer, re-read every STATS_META_REFRESH_SECONDS) are left out.
    """

    def __init__(self, repo: StatsRepository) -> None:
        self.client = repo._client
        self.meta_table = repo.meta_table
        self.calls: list[tuple[str, dict]] = []

    def __enter__(self) -> Requests:
        self._patches = [
            mock.patch.object(self.client, name, side_effect=self._recorder(name, getattr(self.client, name)))
            for name in ("put_item", "update_item", "get_item", "query")
        ]
        for patch in self._patches:
            patch.start()
        return self

    def __exit__(self, *exc: object) -> None:
        for patch in self._patches:
            patch.stop()

    def _recorder(self, name, original):
        async def record(**kwargs):
            if kwargs["TableName"] != self.meta_table:
                self.calls.append((name, kwargs))
            return await original(**kwargs)

        return record

    def named(self, name: str) -> list[dict]:
        return [kwargs for called, kwargs in self.calls if called == name]

    def put_keys(self) -> list[str]:
        return [f"{put['Item']['pk']}/{put['Item']['sk']}" for put in self.named("put_item")]


async def test_a_steady_batch_is_one_put_per_item_and_nothing_else(repo):
    pages = range(1, 11)
    await apply(repo, *(b.page_created(p, 7, at=DAY_1) for p in pages), b.post_created(100, 1, 7, at=DAY_1))
    await apply(repo, *(b.post_created(200 + p, p, 7, reply_to=(100, 1), at=DAY_1) for p in pages[1:]))
    batch = [b.post_liked(100 + p, p, 7, user_id=u, at=DAY_1) for p in pages for u in range(3)]
    batch += [b.post_created(300 + p, p, 7, reply_to=(100, 1), at=DAY_1) for p in pages[1:]]
    with Requests(repo) as requests:
        written = await apply_counted(repo, batch)
    items = {f"PAGE#{p}/TOTAL" for p in pages} | {f"PAGE#1/REPLIES#{p}" for p in pages[1:]}
    assert sorted(requests.put_keys()) == sorted(items)  # one put each, none failed
    assert written == len(items)
    assert [name for name, _ in requests.calls if name != "put_item"] == []  # no update, no read
    assert all(put["ConditionExpression"] == "#pos = :expected" for put in requests.named("put_item"))
    assert figures(await repo.page_stats(1)) == {**ZERO, "posts": 1, "likes": 3, "replies": 18}
    assert figures(await repo.page_stats(5)) == {**ZERO, "posts": 2, "likes": 3}


async def apply_counted(repo: StatsRepository, envelopes) -> int:
    return await repo.apply(folded(*envelopes))


async def test_another_writer_in_between_leaves_the_figures_exact(repo):
    """A second consumer instance takes over for a while, then this one is active again."""
    other = another(repo)
    late = datetime(2026, 11, 25, 23, 0, tzinfo=UTC)
    await apply(repo, b.page_created(1, 7, at=DAY_1), b.page_created(2, 8, at=DAY_1))
    await apply(
        repo, b.post_created(10, 1, 7, at=DAY_1), b.post_created(20, 2, 8, reply_to=(10, 1), at=DAY_1)
    )
    await apply(repo, b.post_liked(10, 1, 7, 3, at=DAY_2), b.post_liked(10, 1, 7, 4, at=late))
    # The other instance writes every item this one knows: TOTAL, REPLIES#2 and DAY#<day 1>.
    await apply(
        other,
        b.post_liked(10, 1, 7, 5, at=DAY_2),
        b.post_created(21, 2, 8, reply_to=(10, 1), at=DAY_2),
        b.post_liked(10, 1, 7, 6, at=late),
    )
    with Requests(repo) as requests:
        await apply(
            repo,
            b.post_liked(10, 1, 7, 8, at=DAY_2),
            b.post_created(22, 2, 8, reply_to=(10, 1), at=DAY_2),
            b.post_liked(10, 1, 7, 9, at=late),
        )
    # Every item it knew was written by the other since: each put fails, then goes through.
    # It knew page 2's TOTAL on day 1: it tries to move day 1 out, which the other did already
    # (from a later state: refused), then TOTAL's put fails and brings day 2.
    stale = ["PAGE#1/TOTAL", "PAGE#1/REPLIES#2", "PAGE#1/DAY#2026-11-25", "PAGE#2/TOTAL"]
    assert sorted(requests.put_keys()) == sorted([*stale, *stale, "PAGE#2/DAY#2026-11-25#T"])
    assert figures(await repo.page_stats(1)) == {**ZERO, "posts": 1, "likes": 6, "replies": 3}
    assert await daily(repo) == [(date(2026, 11, 25), 1, 3, 0), (date(2026, 11, 26), 0, 3, 0)]
    # And back to the other instance, whose knowledge is now out of date as well.
    await apply(
        other, b.post_liked(10, 1, 7, 11, at=DAY_2), b.post_created(23, 2, 8, reply_to=(10, 1), at=DAY_2)
    )
    assert figures(await repo.page_stats(1)) == {**ZERO, "posts": 1, "likes": 7, "replies": 4}
    assert figures(await repo.page_stats(2)) == {**ZERO, "posts": 4}
    assert await daily(repo, 2) == [(date(2026, 11, 25), 1, 0, 0), (date(2026, 11, 26), 3, 0, 0)]


async def test_a_repository_that_knows_nothing_writes_exact_figures_on_existing_items(repo):
    await apply(repo, b.page_created(1, 7, at=DAY_1), b.post_created(10, 1, 7, at=DAY_1))
    await apply(repo, b.page_created(2, 8, at=DAY_1), b.post_created(20, 2, 8, reply_to=(10, 1), at=DAY_1))
    fresh = another(repo)  # a restarted consumer
    batch = [b.post_liked(10, 1, 7, 3, at=DAY_1), b.post_created(21, 2, 8, reply_to=(10, 1), at=DAY_1)]
    with Requests(fresh) as first:
        await apply(fresh, *batch)
    # Assumed new, found to exist (the failure returns the item), then put on its state.
    conditions: dict[str, list[str]] = {}
    for put in first.named("put_item"):
        key = f"{put['Item']['pk']}/{put['Item']['sk']}"
        conditions.setdefault(key, []).append(put["ConditionExpression"])
    expected = ["attribute_not_exists(pk)", "#pos = :expected"]
    assert conditions == {key: expected for key in ["PAGE#1/TOTAL", "PAGE#1/REPLIES#2", "PAGE#2/TOTAL"]}
    assert first.named("get_item") == []
    with Requests(fresh) as then:
        await apply(fresh, b.post_liked(10, 1, 7, 4, at=DAY_1))
    assert then.put_keys() == ["PAGE#1/TOTAL"]  # known from now on: one put
    assert figures(await repo.page_stats(1)) == {**ZERO, "posts": 1, "likes": 2, "replies": 2}
    assert await daily(repo) == [(date(2026, 11, 25), 1, 2, 0)]


async def test_a_redelivered_batch_counts_once(repo):
    first = folded(b.page_created(1, 7, at=DAY_1), b.page_created(2, 8, at=DAY_1))
    batch = folded(
        b.post_created(10, 1, 7, at=DAY_1),
        b.post_liked(10, 1, 7, 3, at=DAY_1),
        b.post_created(20, 2, 8, reply_to=(10, 1), at=DAY_1),
    )
    await repo.apply(first)
    assert await repo.apply(batch) == 3  # TOTAL of pages 1 and 2, and page 1's replies item
    with Requests(repo) as requests:
        written = await repo.apply(batch)  # redelivered: the known positions say it is folded already
    assert requests.named("put_item") == []
    assert written == 0  # and the write budget is not charged for it
    await another(repo).apply(batch)  # and to a writer that knows nothing: the puts fail
    await another(repo).apply([*first, *batch])
    assert figures(await repo.page_stats(1)) == {**ZERO, "posts": 1, "likes": 1, "replies": 1}
    assert figures(await repo.page_stats(2)) == {**ZERO, "posts": 1}
    assert await daily(repo) == [(date(2026, 11, 25), 1, 1, 0)]


async def test_a_new_day_and_a_late_one_through_the_known_state(repo):
    await apply(repo, b.page_created(1, 7, at=DAY_1), b.post_liked(10, 1, 7, 1, at=DAY_1))
    with Requests(repo) as next_day:
        await apply(repo, b.post_liked(10, 1, 7, 2, at=DAY_2), b.post_created(11, 1, 7, at=DAY_2))
    assert next_day.put_keys() == ["PAGE#1/DAY#2026-11-25#T", "PAGE#1/TOTAL"]  # moved out first
    total = await stored(repo, "TOTAL")
    assert (total["day"], total["day_likes"], total["day_posts"], total["day_followers"]) == (
        "2026-11-26",
        1,
        1,
        0,
    )
    with Requests(repo) as late:
        await apply(repo, b.post_liked(10, 1, 7, 3, at=DAY_1))  # committed later, stamped day 1
    assert late.put_keys() == ["PAGE#1/DAY#2026-11-25", "PAGE#1/TOTAL"]  # the day's item first
    assert [name for name, _ in late.calls if name != "put_item"] == []
    await apply(repo, b.follow_accepted(1, 7, 4, was_requested=False, at=DAY_2))
    assert figures(await repo.page_stats(1)) == {**ZERO, "posts": 1, "likes": 3, "followers": 1}
    assert await daily(repo) == [(date(2026, 11, 25), 0, 2, 0), (date(2026, 11, 26), 1, 1, 1)]


async def test_a_writer_out_of_date_cannot_move_a_day_with_fewer_events(repo):
    other = another(repo)
    await apply(repo, b.page_created(1, 7, at=DAY_1), b.post_liked(10, 1, 7, 1, at=DAY_1))
    # Meanwhile the other writer adds to day 1 and starts day 2 (moving day 1's two likes out).
    await apply(other, b.post_liked(10, 1, 7, 2, at=DAY_1))
    await apply(other, b.post_liked(10, 1, 7, 3, at=DAY_2))
    # This one still believes TOTAL holds day 1 with one like.
    await apply(repo, b.post_liked(10, 1, 7, 4, at=DAY_2))
    assert (await stored(repo, "DAY#2026-11-25#T"))["likes"] == 2
    assert figures(await repo.page_stats(1)) == {**ZERO, "likes": 4}
    assert await daily(repo) == [(date(2026, 11, 25), 0, 2, 0), (date(2026, 11, 26), 0, 2, 0)]


async def test_the_known_state_is_the_same_however_it_was_learnt(repo):
    await apply(
        repo,
        b.page_created(1, 7, at=DAY_1),
        b.post_created(10, 1, 7, at=DAY_1),
        b.follow_accepted(1, 7, 3, was_requested=False, at=DAY_1),
    )
    redelivery = folded(b.post_deleted(10, 1, 7, at=DAY_1))
    await repo.apply(redelivery)
    table = repo.stats_table((await repo.generations()).active)
    key = {"pk": "PAGE#1", "sk": "TOTAL"}
    written = repo._known.get(table, key)
    await repo.apply(redelivery)
    from_failure = another(repo)  # learns the item from the failed put's returned item
    await from_failure.apply(redelivery)
    from_read = another(repo)  # from a read, when the failure returns no item
    with puts_returning_no_item(from_read):
        await from_read.apply(redelivery)
    assert written is not None and written["posts"] == 0 and written["followers"] == 1
    learnt = [r._known.get(table, key) for r in (repo, from_failure, from_read)]
    assert learnt[1] == learnt[2] == learnt[0]
    assert all(type(value) is int for value in learnt[1].values() if not isinstance(value, str | bool))


async def test_an_unanswered_put_is_forgotten_and_written_again_once(repo):
    await apply(repo, b.page_created(1, 7, at=DAY_1))
    table = repo.stats_table((await repo.generations()).active)
    batch = folded(b.post_liked(10, 1, 7, 3, at=DAY_1))
    original = repo._client.put_item

    async def answer_lost(**kwargs):
        await original(**kwargs)  # the item is written, the answer does not come back
        raise ClientError({"Error": {"Code": "InternalServerError"}}, "PutItem")

    with mock.patch.object(repo._client, "put_item", side_effect=answer_lost), pytest.raises(ClientError):
        await repo.apply(batch)
    assert repo._known.get(table, {"pk": "PAGE#1", "sk": "TOTAL"}) is None  # its state is unknown
    await repo.apply(batch)  # the consumer writes the unacked batch again
    assert figures(await repo.page_stats(1)) == {**ZERO, "likes": 1}


async def test_the_known_states_are_bounded_least_recently_used_first_out(repo):
    bounded = StatsRepository(repo._db, repo.settings, known_items=3)
    table = repo.stats_table((await repo.generations()).active)
    for page in range(1, 6):
        await apply(bounded, b.page_created(page, 7, at=DAY_1))
    await apply(bounded, b.post_liked(10, 3, 7, 1, at=DAY_1))  # page 3 used again: kept longest
    await apply(bounded, b.page_created(6, 7, at=DAY_1))
    known = {key for key in bounded._known._items}
    assert len(bounded._known) == 3
    assert known == {(table, f"PAGE#{page}", "TOTAL") for page in (3, 5, 6)}
    with Requests(bounded) as evicted:
        await apply(bounded, b.post_liked(10, 1, 7, 2, at=DAY_1))
    assert evicted.put_keys() == ["PAGE#1/TOTAL", "PAGE#1/TOTAL"]  # assumed new, then on its state
    with Requests(bounded) as kept:
        await apply(bounded, b.post_liked(10, 6, 7, 3, at=DAY_1))
    assert kept.put_keys() == ["PAGE#6/TOTAL"]
    for page, likes in ((1, 1), (2, 0), (3, 1), (6, 1)):
        assert figures(await repo.page_stats(page)) == {**ZERO, "likes": likes}
