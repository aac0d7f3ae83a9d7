"""The stable head of the log: the highest position below which no event can still commit.

Appends take no lock, so positions are handed out in insert order but transactions commit in
any order: T1 may take 41, T2 take 42 and commit first. A reader of `position > cursor` that
moved past 42 would lose 41 when T1 commits. Readers that must not skip (the relay, the log
export) therefore read only up to a *stable* position, found without any writer's help:

1. Read the last position handed out, `head` (the sequence's `last_value`).
2. Then, in a later statement, list the transactions of this database that are appending:
   every position is taken by `event_log_next_position()` (migration 0003), which first takes
   a shared advisory lock, APPEND_LOCK, held until the transaction ends, so `pg_locks` lists
   exactly the transactions that have appended and not yet finished.
3. Once none of those holds the lock any more, every position <= `head` is final: committed
   and visible to every snapshot taken from then on, or rolled back for good.

Why 3 holds: the transaction holding a position <= `head` took the lock before its `nextval`,
hence before step 1 and step 2: it either had finished by step 2 or it is in the list. Locks
are released only after the commit became visible to new snapshots, so the read that follows
the check (a later statement, hence a later snapshot) sees every committed position <= `head`.
The sequence must keep `CACHE 1` (the default): a cached range would let a session use a
position <= `head` long after step 1.

Only appending transactions count: a long transaction that appends nothing (a feed rebuild, a
report) never holds the relay back, nor does anything in another database. A long transaction
that has appended does: the events appended after it began wait until it ends (the price of
reading without a lock; the old table lock made every other appender wait instead, which
services avoid by appending last, just before commit).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Protocol

HEAD_SQL = "SELECT CASE WHEN is_called THEN last_value ELSE 0 END FROM event_log_position_seq"

# The key of the shared advisory lock every appending transaction holds (classid, objid); see
# event_log_next_position() in migration 0003.
APPEND_LOCK = (4242, 1)

# The key of the advisory lock a relay holds exclusively while it sleeps waiting for a
# NOTIFY (events.relay); appenders notify only when they cannot take it shared.
RELAY_SLEEPING = (4242, 2)

# The other transactions of this database holding APPEND_LOCK, by their virtual transaction
# id (unique per transaction); the reader's own uncommitted rows are visible to it anyway.
RUNNING_SQL = f"""
    SELECT coalesce(array_agg(virtualtransaction), '{{}}')
    FROM pg_locks
    WHERE locktype = 'advisory' AND classid = {APPEND_LOCK[0]} AND objid = {APPEND_LOCK[1]} AND objsubid = 2
      AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
      AND pid <> pg_backend_pid()
"""


@dataclass(frozen=True)
class Horizon:
    """`head` becomes stable once none of `running` is still running."""

    head: int
    running: frozenset[str]


def settle(stable: int, pending: list[Horizon], running_now: frozenset[str]) -> tuple[int, list[Horizon]]:
    """The stable position after a snapshot showing `running_now`, and the horizons still pending.

    Horizons are kept oldest first with rising heads, so the stable position is the head of the
    last settled one; a later horizon can settle before an earlier one (its transactions may
    be a different set), and then every earlier one is moot.
    """
    settled = [i for i, horizon in enumerate(pending) if not (horizon.running & running_now)]
    if not settled:
        return stable, pending
    last = settled[-1]
    return max(stable, pending[last].head), pending[last + 1 :]


class SyncCursor(Protocol):
    def execute(self, sql: str, params: Any = ...) -> Any: ...
    def fetchone(self) -> Any: ...


def running_transactions(cursor: SyncCursor) -> frozenset[str]:
    cursor.execute(RUNNING_SQL)
    return frozenset(cursor.fetchone()[0])


def stable_head(cursor: SyncCursor, *, poll_seconds: float = 0.01, timeout: float = 60.0) -> int:
    """Wait until the current head is stable and return it (then read the log in a later statement)."""
    cursor.execute(HEAD_SQL)
    head = int(cursor.fetchone()[0])
    waiting = running_transactions(cursor)
    deadline = time.monotonic() + timeout
    while waiting & running_transactions(cursor):
        if time.monotonic() > deadline:
            raise TimeoutError(f"transactions {sorted(waiting)} still running after {timeout}s")
        time.sleep(poll_seconds)
    return head
