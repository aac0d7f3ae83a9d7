"""Blocked users: `user.blocked` / `user.unblocked` folded into revocation items, checked per request."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from unittest import mock

import pytest

from stats_ms.auth import BlockedUsers, TokenUser
from stats_ms.errors import UserBlocked
from stats_ms.fold import Revocation, effects_of, revocation_of
from stats_ms.repository import REVOCATION_MARGIN_SECONDS, StatsRepository
from stats_ms.tests import builders as b
from stats_ms.tests.conftest import folded


def user(user_id: int, issued_at: float) -> TokenUser:
    return TokenUser(user_id=user_id, role="user", issued_at=int(issued_at))


async def revocation_item(repo: StatsRepository, user_id: int) -> dict:
    response = await repo._client.get_item(
        TableName=repo.meta_table, Key={"name": f"REVOKED#{user_id}"}, ConsistentRead=True
    )
    return dict(response.get("Item", {}))


# --- the fold ----------------------------------------------------------------------------


def test_block_and_unblock_fold_into_revocations_and_touch_no_page():
    at = datetime(2026, 12, 1, 9, 30, tzinfo=UTC)
    assert revocation_of(b.user_blocked(7, at=at)) == Revocation(user_id=7, blocked=True, at=at)
    assert revocation_of(b.user_unblocked(7, at=at)) == Revocation(user_id=7, blocked=False, at=at)
    assert effects_of(b.user_blocked(7)) == {}


@pytest.mark.parametrize(
    "envelope",
    [b.user_session_revoked(7), b.user_logged_out(7), b.page_blocked(1, 7), b.user_registered(7)],
)
def test_other_events_revoke_nothing(envelope):
    assert revocation_of(envelope) is None


# --- the repository ----------------------------------------------------------------------


async def test_a_block_is_put_with_its_time_position_and_expiry(repo):
    now = datetime.now(UTC)
    event = b.user_blocked(7, at=now)
    await repo.apply(folded(event))
    item = await revocation_item(repo, 7)
    assert item["blocked"] is True
    assert float(item["at"]) == pytest.approx(now.timestamp())
    assert int(item["applied_position"]) == event.position
    lifetime = repo.settings.jwt_access_ttl_seconds + REVOCATION_MARGIN_SECONDS
    assert int(item["expires_at"]) == int(now.timestamp()) + lifetime
    assert await repo.blocked_since(7) == pytest.approx(now.timestamp())
    assert await repo.blocked_since(8) is None


async def test_a_redelivered_block_does_not_undo_a_later_unblock(repo):
    now = datetime.now(UTC)
    blocked, unblocked = b.user_blocked(7, at=now), b.user_unblocked(7, at=now + timedelta(seconds=5))
    await repo.apply(folded(blocked, unblocked))
    assert await repo.blocked_since(7) is None
    await repo.apply(folded(blocked))  # redelivered after the unblock was folded
    await repo.apply(folded(blocked, unblocked))  # the whole batch again
    item = await revocation_item(repo, 7)
    assert item["blocked"] is False and int(item["applied_position"]) == unblocked.position
    assert await repo.blocked_since(7) is None


async def test_an_expired_block_is_forgotten(repo):
    await repo.apply(folded(b.user_blocked(7, at=datetime.now(UTC) - timedelta(hours=1))))
    assert (await revocation_item(repo, 7))["blocked"] is True
    assert await repo.blocked_since(7) is None  # every token it refused has expired


# --- the check on each request -----------------------------------------------------------


async def test_a_token_issued_before_the_block_is_refused(repo):
    now = time.time()
    await repo.apply(folded(b.user_blocked(7, at=datetime.fromtimestamp(now, UTC))))
    with pytest.raises(UserBlocked):
        await BlockedUsers(repo.settings).check(user(7, now - 60), repo)
    await BlockedUsers(repo.settings).check(user(8, now - 60), repo)  # someone else: fine


async def test_a_token_issued_after_an_unblock_is_accepted(repo):
    now = time.time()
    await repo.apply(folded(b.user_blocked(7, at=datetime.fromtimestamp(now - 30, UTC))))
    blocked = BlockedUsers(repo.settings.model_copy(update={"stats_revocation_cache_seconds": 0}))
    with pytest.raises(UserBlocked):
        await blocked.check(user(7, now - 60), repo)
    await repo.apply(folded(b.user_unblocked(7, at=datetime.fromtimestamp(now - 10, UTC))))
    await blocked.check(user(7, now - 5), repo)
    await blocked.check(user(7, now - 60), repo)  # as on the core: an unblock accepts its old tokens too


async def test_a_token_issued_after_the_block_time_is_accepted(repo):
    """A blocked user gets no new token: one issued later means the block ended (a timed one)."""
    now = time.time()
    await repo.apply(folded(b.user_blocked(7, at=datetime.fromtimestamp(now - 30, UTC))))
    await BlockedUsers(repo.settings).check(user(7, now), repo)


async def test_lookups_are_cached_for_the_configured_bound(settings):
    repo = mock.MagicMock(blocked_since=mock.AsyncMock(return_value=None))
    blocked = BlockedUsers(settings.model_copy(update={"stats_revocation_cache_seconds": 0.2}))
    for _ in range(3):
        await blocked.check(user(7, time.time()), repo)
    assert repo.blocked_since.await_count == 1
    repo.blocked_since.return_value = time.time()
    later = time.monotonic() + 0.25  # past the bound, without waiting for it
    with mock.patch("stats_ms.auth.time.monotonic", return_value=later), pytest.raises(UserBlocked):
        await blocked.check(user(7, time.time() - 60), repo)
    assert repo.blocked_since.await_count == 2
