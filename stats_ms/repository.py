"""The DynamoDB side: table layout, exactly-once folding, reads. Only this module knows the keys.

Layout (one *generation* of tables; a rebuild fills a fresh generation and switches to it):
- `<prefix>page-stats-<gen>`: pk "PAGE#<id>"; sk "TOTAL" holds the current figures, the
  owner and the buckets of the page's latest UTC day (`day`, `day_posts`, `day_likes`,
  `day_followers`); sk "DAY#<yyyy-mm-dd>#T" the buckets of an earlier day, moved out of TOTAL
  when a newer day began; sk "DAY#<yyyy-mm-dd>" what events of an earlier day brought after
  that (a day is the sum of its items); sk "REPLIES#<page id>" the replies another page wrote
  under this page's posts (added on read).
  One Query of the page's partition, newest first ("TOTAL" > "REPLIES#" > "DAY#"), reads the
  whole answer. Each item stays small whatever the page's age: a write is charged by the
  size of the item (1 KB per write unit on DynamoDB; a put sends the whole item, and on
  moto's server an update deep-copied it), which the day buckets once kept on "TOTAL" made
  grow by ~70 bytes per active day (~25 write units per write after a year; ~66 ms per
  update on moto's server).
- `<prefix>stats-meta`: the item "tables" names the active generation and, during a rebuild,
  the generation being built; the items "REVOKED#<user id>" whether a user is blocked and
  since when (`apply_revocations`), expiring by DynamoDB TTL on `expires_at`.

Exactly once, by conditional writes (the tracking idea of eventsourcing's
`Follower.process_event`: the position applied is recorded in the same write as the effect).
Every item carries `applied_position`, the highest log position folded into it. The relay
publishes in log order and the queue has a single active consumer, so an item only ever sees
increasing positions, and each write raises the item's position: an item never holds two
different states with the same position, so the position identifies the whole state. Each
write is a PutItem of the whole item, compare-and-set on that: the repository keeps the last
known state of the items it wrote or saw (an LRU of KNOWN_ITEMS, keyed by table, pk and sk),
adds the batch's deltas to it (the arithmetic of an ADD: a counter appears once it changes,
and may go below zero for a while; reads clamp) and puts the result conditional on
`applied_position = <the known one>`, or on `attribute_not_exists(pk)` for an item it does not
know (assumed new: nothing is read before it is written). Parts at or below the known position
are folded already (the position only grows) and dropped: a redelivered batch whose items are
known writes nothing. A failed condition returns the item as it is (ALL_OLD; a consistent
GetItem where the endpoint returns none): it becomes the known state, the parts it has folded
are dropped, and the put is computed and tried again. That is also how the known state catches
up with another writer (a second consumer instance during a failover, say): it is out of date,
the put fails and brings the item. Any other error forgets the item (the put may have
happened). No per-event record piles up. This put of a whole TOTAL costs moto's server 2.0-3.1
ms of CPU where the conditional UpdateItem it replaced cost 4.7-6.9 ms (`python -m
bench.writes.moto_costs --sizes 20,200,1000 --rounds 10`, tables of 20 to 1,000 items,
2026-12-06 17:01 UTC, load average 2.6); the updates' cost is what made the write benchmark's
throughput fall as more pages were written at once (bench/writes/RESULTS.md). DynamoDB charges
both by the item's size.
Replies from another page are the one effect that crosses pages: they go to an item of their
own per replying page, so each item still sees one page's events only, in order, and the two
pages' events may arrive in any order relative to each other.
(Transactions with one dedupe record per event were tried first: on moto's server a
transaction deep-copies each table it touches once per item, so it slowed down with the
table size and could not keep up with 100 events/s.)
Hot pages: the events of one batch are summed per item, so a burst on one page costs one
put of its TOTAL instead of one write per event; distinct items are written in parallel (at
most MAX_PARALLEL_WRITES at once, each given WRITE_TIMEOUT_SECONDS). The current day's
buckets ride on that same put, so a batch costs one write per item it touches (bench/stats/
RESULTS.md, 2026-12-06). When a page's first event of a new day arrives and TOTAL (as known)
holds an older day, that day's buckets are put into "DAY#<old day>#T" first (absolute values,
so a repeat after a crash writes the same), then TOTAL with the new day's, compare-and-set on
the state they were taken from. The moved day records that state's position and is only
replaced from a state at least as recent: a writer whose known TOTAL is out of date cannot
overwrite it with fewer events (its TOTAL put then fails and brings the new day). An event of
an earlier day than TOTAL's (late, or a batch that spans midnight) adds to "DAY#<its day>",
an item that sees that day's late events only, in log order, so its position check works the
same way; it is written before TOTAL, so a batch cut between the two writes is written again
whole and each write drops what it has folded.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from boto3.dynamodb.types import TypeDeserializer
from botocore.exceptions import ClientError

from events.contracts import EventEnvelope
from stats_ms.fold import (
    DAILY_COUNTERS,
    Effects,
    PageDelta,
    Revocation,
    effects_of,
    merge_effects,
    revocation_of,
)
from stats_ms.settings import Settings

logger = logging.getLogger(__name__)

META_KEY = "tables"
INITIAL_GENERATION = "g0"
POSITION = "applied_position"
DAY_PREFIX = "DAY#"
MOVED_SUFFIX = "#T"  # a day's buckets moved out of TOTAL
CURRENT_DAY = "day"
REPLIES_PREFIX = "REPLIES#"
TOTAL = "TOTAL"
READ_MARGIN = 32  # items read beyond the day items wanted: TOTAL and the REPLIES# ones
MAX_PARALLEL_WRITES = 16
WRITE_TIMEOUT_SECONDS = 15.0
TABLE_ACTIVE_TIMEOUT_SECONDS = 120.0
REVOKED_PREFIX = "REVOKED#"
EXPIRES = "expires_at"  # the meta table's TTL attribute (epoch seconds)
REVOCATION_MARGIN_SECONDS = 60  # clock skew between the core and this service, and then some
KNOWN_ITEMS = 50_000  # items whose last known state is kept (a TOTAL ~0.7 KB: ~35 MB at most)
_ATTRIBUTE_TYPES = frozenset({"S", "N", "B", "BOOL", "NULL", "M", "L", "SS", "NS", "BS"})
_DESERIALIZER = TypeDeserializer()


@dataclass(frozen=True)
class FoldedEvent:
    """An event's id, log position and per-page deltas, ready to be written."""

    event_id: str
    position: int
    effects: Effects
    revocation: Revocation | None = None
    occurred_at: datetime | None = None  # for the consumer's lag metric

    @classmethod
    def of(cls, envelope: EventEnvelope) -> FoldedEvent:
        """Fold one envelope; raises ValueError (see `effects_of`) for events that cannot be folded."""
        return cls(
            event_id=str(envelope.event_id),
            position=envelope.position,
            effects=effects_of(envelope),
            revocation=revocation_of(envelope),
            occurred_at=envelope.occurred_at,
        )


@dataclass(frozen=True)
class Generations:
    active: str
    building: str | None


@dataclass(frozen=True)
class DailyStats:
    date: date
    posts: int
    likes: int
    followers: int


@dataclass(frozen=True)
class PageStats:
    page_id: int
    owner_id: int
    posts: int
    followers: int
    follow_requests: int
    likes: int
    replies: int
    updated_at: datetime
    daily: list[DailyStats]


def new_generation_name() -> str:
    """A fresh, sortable generation name (table names allow [A-Za-z0-9_.-])."""
    return f"g{datetime.now(UTC):%Y%m%d%H%M%S}-{secrets.token_hex(2)}"


class StatsRepository:
    """Reads and writes the statistics tables through one aioboto3 DynamoDB resource."""

    def __init__(self, dynamodb: Any, settings: Settings, *, known_items: int = KNOWN_ITEMS) -> None:
        self._db = dynamodb
        self._client = dynamodb.meta.client
        self.settings = settings
        self._prefix = settings.stats_table_prefix
        self._generations: Generations | None = None
        self._generations_read_at = 0.0
        self._known = _KnownItems(known_items)  # each item's state as last written or seen

    # --- names ---------------------------------------------------------------------------

    @property
    def meta_table(self) -> str:
        return f"{self._prefix}stats-meta"

    def stats_table(self, generation: str) -> str:
        return f"{self._prefix}page-stats-{generation}"

    # --- tables and the generation pointer ----------------------------------------------

    async def ensure_tables(self) -> None:
        """Create the meta table and the active generation's tables if missing (idempotent)."""
        await self._create_table(self.meta_table, "name")
        try:
            await self._client.put_item(
                TableName=self.meta_table,
                Item={"name": META_KEY, "active": INITIAL_GENERATION},
                ConditionExpression="attribute_not_exists(#n)",
                ExpressionAttributeNames={"#n": "name"},
            )
        except ClientError as exc:
            if _code(exc) != "ConditionalCheckFailedException":
                raise
        await self._enable_expiry(self.meta_table)
        await self.create_generation((await self.generations(fresh=True)).active)

    async def _enable_expiry(self, table: str) -> None:
        """Let DynamoDB delete items past their `expires_at` (reads check it too: deletion lags)."""
        described = await self._client.describe_time_to_live(TableName=table)
        if described.get("TimeToLiveDescription", {}).get("TimeToLiveStatus") in ("ENABLED", "ENABLING"):
            return
        await self._client.update_time_to_live(
            TableName=table, TimeToLiveSpecification={"Enabled": True, "AttributeName": EXPIRES}
        )

    async def create_generation(self, generation: str) -> None:
        """Create one generation's table (idempotent) and wait until it is usable."""
        await self._create_table(self.stats_table(generation), "pk", sort_key="sk")

    async def _create_table(self, name: str, key: str, *, sort_key: str | None = None) -> None:
        schema = [{"AttributeName": key, "KeyType": "HASH"}]
        attributes = [{"AttributeName": key, "AttributeType": "S"}]
        if sort_key is not None:
            schema.append({"AttributeName": sort_key, "KeyType": "RANGE"})
            attributes.append({"AttributeName": sort_key, "AttributeType": "S"})
        try:
            await self._client.create_table(
                TableName=name,
                KeySchema=schema,
                AttributeDefinitions=attributes,
                BillingMode="PAY_PER_REQUEST",
            )
        except ClientError as exc:
            if _code(exc) != "ResourceInUseException":
                raise
        await self._wait_active(name)

    async def _wait_active(self, name: str) -> None:
        deadline = time.monotonic() + TABLE_ACTIVE_TIMEOUT_SECONDS
        while True:
            table = (await self._client.describe_table(TableName=name))["Table"]
            if table["TableStatus"] == "ACTIVE":
                return
            if time.monotonic() > deadline:
                raise TimeoutError(f"table {name} is still {table['TableStatus']}")
            await asyncio.sleep(0.5)

    async def generations(self, *, fresh: bool = False) -> Generations:
        """The active (and building) generation, re-read at most every STATS_META_REFRESH_SECONDS."""
        now = time.monotonic()
        refresh = self.settings.stats_meta_refresh_seconds
        if fresh or self._generations is None or now - self._generations_read_at >= refresh:
            response = await self._client.get_item(
                TableName=self.meta_table, Key={"name": META_KEY}, ConsistentRead=True
            )
            item = response.get("Item") or {"active": INITIAL_GENERATION}
            self._generations = Generations(active=item["active"], building=item.get("building"))
            self._generations_read_at = now
        return self._generations

    async def begin_building(self, generation: str) -> None:
        """Mark `generation` as being built: from now on consumers hold their writes."""
        await self.create_generation(generation)
        await self._client.update_item(
            TableName=self.meta_table,
            Key={"name": META_KEY},
            UpdateExpression="SET building = :g",
            ConditionExpression="attribute_not_exists(building)",
            ExpressionAttributeValues={":g": generation},
        )

    async def switch_to(self, generation: str) -> str:
        """Make the generation being built the active one; returns the previous active one."""
        response = await self._client.update_item(
            TableName=self.meta_table,
            Key={"name": META_KEY},
            UpdateExpression="SET active = :g REMOVE building",
            ConditionExpression="building = :g",
            ExpressionAttributeValues={":g": generation},
            ReturnValues="UPDATED_OLD",
        )
        self._generations = None
        return str(response["Attributes"]["active"])

    async def abandon_building(self) -> None:
        """Forget the generation being built (its tables stay until dropped)."""
        await self._client.update_item(
            TableName=self.meta_table, Key={"name": META_KEY}, UpdateExpression="REMOVE building"
        )
        self._generations = None

    async def drop_generation(self, generation: str) -> None:
        """Delete one generation's tables (never the active one)."""
        if generation == (await self.generations(fresh=True)).active:
            raise ValueError("refusing to drop the active generation")
        try:
            await self._client.delete_table(TableName=self.stats_table(generation))
        except ClientError as exc:
            if _code(exc) != "ResourceNotFoundException":
                raise

    async def ping(self) -> bool:
        """Whether DynamoDB answers and the meta table exists."""
        try:
            await self._client.describe_table(TableName=self.meta_table)
        except Exception:
            logger.warning("DynamoDB health check failed", exc_info=True)
            return False
        return True

    # --- writes --------------------------------------------------------------------------

    async def apply(self, events: Sequence[FoldedEvent]) -> int:
        """Fold events into the active generation, and blocks into the revocation items; the items written."""
        await self.apply_revocations(events)
        return await self.apply_to((await self.generations()).active, events)

    async def apply_revocations(self, events: Sequence[FoldedEvent]) -> None:
        """Put each blocked or unblocked user's latest state, exactly once per position.

        The item "REVOKED#<user id>" of the meta table (it outlives a rebuild's switch) holds
        whether the user is blocked, since when (`at`, epoch seconds) and the log position it
        comes from; the put is conditional on an older position, so a redelivered or
        republished event changes nothing. It expires once every token it could refuse has.
        """
        latest: dict[int, FoldedEvent] = {}
        for event in sorted(events, key=lambda e: e.position):
            if event.revocation is not None:
                latest[event.revocation.user_id] = event
        for event in latest.values():
            assert event.revocation is not None
            await self._put_revocation(event.position, event.revocation)

    async def _put_revocation(self, position: int, revocation: Revocation) -> None:
        at = revocation.at.timestamp()
        lifetime = self.settings.jwt_access_ttl_seconds + REVOCATION_MARGIN_SECONDS
        item = {
            "name": f"{REVOKED_PREFIX}{revocation.user_id}",
            "blocked": revocation.blocked,
            "at": Decimal(str(at)),
            POSITION: position,
            EXPIRES: int(at) + lifetime,
        }
        await self._put_by_position(self.meta_table, item, "attribute_not_exists(#pos) OR #pos < :pos")

    async def _put_by_position(self, table: str, item: dict[str, Any], condition: str) -> bool:
        """Put `item` if `condition` holds between the stored item's position (#pos) and this
        one's (:pos); False when it does not (the stored item is as new or newer)."""
        try:
            async with asyncio.timeout(WRITE_TIMEOUT_SECONDS):
                await self._client.put_item(
                    TableName=table,
                    Item=item,
                    ConditionExpression=condition,
                    ExpressionAttributeNames={"#pos": POSITION},
                    ExpressionAttributeValues={":pos": item[POSITION]},
                )
        except ClientError as exc:
            if _code(exc) != "ConditionalCheckFailedException":
                raise
            return False
        return True

    async def blocked_since(self, user_id: int) -> float | None:
        """When the user was blocked (epoch seconds), or None when they are not (or it expired)."""
        response = await self._client.get_item(
            TableName=self.meta_table, Key={"name": f"{REVOKED_PREFIX}{user_id}"}, ConsistentRead=True
        )
        item = response.get("Item")
        if not item or not item.get("blocked") or int(item.get(EXPIRES, 0)) <= time.time():
            return None
        return float(item["at"])

    async def apply_to(self, generation: str, events: Sequence[FoldedEvent]) -> int:
        """Fold events (in log order) into one generation, exactly once per item; the items written
        (none for items whose known state already holds the events, e.g. a redelivery)."""
        table = self.stats_table(generation)
        writes = _item_writes(events)
        limit = asyncio.Semaphore(MAX_PARALLEL_WRITES)

        async def write(item: _ItemWrite) -> bool:
            async with limit:
                if item.is_total:
                    return await self._write_total(table, item)
                return await self._write_item(table, item)

        return sum(await asyncio.gather(*(write(item) for item in writes)))

    async def _write_item(self, table: str, item: _ItemWrite) -> bool:
        """A REPLIES# or DAY# item: its known state plus the parts, put if it is still that state;
        False when there was nothing left to put."""
        parts = item.parts
        while True:
            known = self._known.get(table, item.key)
            parts = _unapplied(parts, known)
            if not parts:
                return False
            if await self._put_state(table, item.key, known, item.state_after(known, parts)):
                return True

    async def _write_total(self, table: str, item: _ItemWrite) -> bool:
        """TOTAL and the current day's buckets in one put; a new day moves the old one out first.
        False when nothing was put."""
        parts, day = item.parts, item.current_day
        wrote = False
        while True:
            known = self._known.get(table, item.key)
            parts = _unapplied(parts, known)
            if not parts:
                return wrote
            held = None if known is None or day is None else known.get(CURRENT_DAY)
            rollover = False
            if held is not None and day is not None and held != day.isoformat():
                if held > day.isoformat():  # TOTAL is on a later day: these buckets go to their day's item
                    late = [part for part in parts if day in part[1].daily]
                    wrote = await self._write_item(table, _ItemWrite(item.page_id, None, day, late)) or wrote
                    day = None
                    continue
                assert known is not None
                await self._put_moved_day(table, item.page_id, known)  # a new day: move the old one out
                rollover = wrote = True
            state = item.state_after(known, parts, current_day=day, rollover=rollover)
            if await self._put_state(table, item.key, known, state):
                return True

    async def _put_state(
        self, table: str, key: dict[str, str], known: dict[str, Any] | None, state: dict[str, Any]
    ) -> bool:
        """Put `state` if the item is still `known` (absent when None); False when it was not.

        The position identifies the state: every write raises it, so an item never holds two
        different states with the same position. On a failed condition the item as it is (returned
        by the failure, or read) becomes the known state; on any other error the item's state is
        unknown (the put may have happened) and is forgotten.
        """
        condition: dict[str, Any]
        if known is None:
            condition = {"ConditionExpression": "attribute_not_exists(pk)"}
        elif POSITION in known:
            condition = {
                "ConditionExpression": "#pos = :expected",
                "ExpressionAttributeNames": {"#pos": POSITION},
                "ExpressionAttributeValues": {":expected": known[POSITION]},
            }
        else:  # not written by this module's writes; no such item is expected
            condition = {
                "ConditionExpression": "attribute_exists(pk) AND attribute_not_exists(#pos)",
                "ExpressionAttributeNames": {"#pos": POSITION},
            }
        try:
            try:
                # botocore's own timeouts leave waiting for a pooled connection unbounded.
                async with asyncio.timeout(WRITE_TIMEOUT_SECONDS):
                    await self._client.put_item(
                        TableName=table,
                        Item=state,
                        ReturnValuesOnConditionCheckFailure="ALL_OLD",
                        **condition,
                    )
            except ClientError as exc:
                if _code(exc) != "ConditionalCheckFailedException":
                    raise
                current = await self._failed_item(exc, table, key)
            else:
                self._known.put(table, key, state)
                return True
        except BaseException:
            self._known.forget(table, key)
            raise
        if current:
            self._known.put(table, key, current)
        else:
            self._known.forget(table, key)
        return False

    async def _failed_item(self, exc: ClientError, table: str, key: dict[str, str]) -> dict[str, Any]:
        """The item a conditional write failed on (returned by the failure, or read; {} if absent)."""
        item: dict[str, Any] | None = exc.response.get("Item")  # type: ignore[assignment]
        if item is None:  # not returned (an absent item, or an endpoint that does not): ask
            async with asyncio.timeout(WRITE_TIMEOUT_SECONDS):
                response = await self._client.get_item(TableName=table, Key=key, ConsistentRead=True)
            item = response.get("Item", {})
        return _normalised(item)

    async def _put_moved_day(self, table: str, page_id: int, total: dict[str, Any]) -> None:
        """Put TOTAL's buckets of its day into that day's own item (absolute: a repeat is harmless).

        The item records the position of the TOTAL state it was taken from, and is only
        replaced by a state at least as recent: a writer whose known TOTAL is out of date (the
        day was moved already, from a later state) cannot overwrite it with fewer events.
        """
        values = {name: int(total.get(f"day_{name}", 0)) for name in DAILY_COUNTERS}
        key = {"pk": _page_key(page_id), "sk": f"{DAY_PREFIX}{total[CURRENT_DAY]}{MOVED_SUFFIX}"}
        position = int(total.get(POSITION, 0))
        moved = {**key, POSITION: position, **values}
        if not await self._put_by_position(table, moved, "attribute_not_exists(#pos) OR #pos <= :pos"):
            # Moved from a later TOTAL state: the known one is out of date, so TOTAL's own
            # conditional put fails next and brings the item as it is.
            logger.info("day %s of page %s was moved already", total[CURRENT_DAY], page_id)

    # --- reads ---------------------------------------------------------------------------

    async def page_stats(self, page_id: int) -> PageStats | None:
        """The page's figures, or None for a page never heard of (or deleted)."""
        table = self.stats_table((await self.generations()).active)
        days = self.settings.stats_daily_days
        items = await self._page_items(table, page_id, days)
        if not items or items[0]["sk"] != TOTAL:
            return None
        total = items[0]
        if "owner_id" not in total or total.get("deleted"):
            return None
        replies_from_others = sum(
            int(i.get("replies", 0)) for i in items if i["sk"].startswith(REPLIES_PREFIX)
        )
        day_items = [i for i in items if i["sk"].startswith(DAY_PREFIX)]
        return _page_stats(page_id, total, replies_from_others, _daily(total, day_items, days))

    async def _page_items(self, table: str, page_id: int, days: int) -> list[dict[str, Any]]:
        """TOTAL, the REPLIES# items, then the DAY# items of the newest `days` days: one query as a rule.

        Newest first, in pages of `days` items and then some (the REPLIES# ones), stopping once
        past `days` days: older days are never read.
        """
        items: list[dict[str, Any]] = []
        kwargs: dict[str, Any] = {
            "TableName": table,
            "KeyConditionExpression": "pk = :pk",
            "ExpressionAttributeValues": {":pk": _page_key(page_id)},
            "ScanIndexForward": False,
            "Limit": days + READ_MARGIN,
        }
        while True:
            response = await self._client.query(**kwargs)
            items.extend(response.get("Items", []))
            day_count = len({_day_of(item) for item in items if item["sk"].startswith(DAY_PREFIX)})
            # One day more than wanted: the oldest wanted day's items (up to two) are all read.
            if "LastEvaluatedKey" not in response or day_count > days:
                return items
            kwargs["ExclusiveStartKey"] = response["LastEvaluatedKey"]


Part = tuple[int, PageDelta]


class _KnownItems:
    """The last known state of each item written, keyed by (table, pk, sk); least recently used first out."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._items: OrderedDict[tuple[str, str, str], dict[str, Any]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._items)

    def get(self, table: str, key: dict[str, str]) -> dict[str, Any] | None:
        name = (table, key["pk"], key["sk"])
        state = self._items.get(name)
        if state is not None:
            self._items.move_to_end(name)
        return state

    def put(self, table: str, key: dict[str, str], state: dict[str, Any]) -> None:
        name = (table, key["pk"], key["sk"])
        self._items[name] = state
        self._items.move_to_end(name)
        while len(self._items) > self.size:
            self._items.popitem(last=False)

    def forget(self, table: str, key: dict[str, str]) -> None:
        self._items.pop((table, key["pk"], key["sk"]), None)


@dataclass
class _ItemWrite:
    """The parts (position, delta) of a batch that touch one item, in log order.

    The item is the page's TOTAL, its REPLIES# item for the replies page `via` wrote, or its
    DAY# item of `day` (only the parts counting in that day's buckets).
    """

    page_id: int
    via: int | None
    day: date | None
    parts: list[Part]

    @property
    def key(self) -> dict[str, str]:
        if self.day is not None:
            sk = f"{DAY_PREFIX}{self.day.isoformat()}"
        elif self.via is not None:
            sk = f"{REPLIES_PREFIX}{self.via}"
        else:
            sk = TOTAL
        return {"pk": _page_key(self.page_id), "sk": sk}

    @property
    def is_total(self) -> bool:
        return self.day is None and self.via is None

    @property
    def current_day(self) -> date | None:
        """For TOTAL: the latest day the parts count in (its buckets ride on TOTAL's write)."""
        return max((day for _, delta in self.parts for day in delta.daily), default=None)

    def state_after(
        self,
        known: dict[str, Any] | None,
        parts: list[Part],
        *,
        current_day: date | None = None,
        rollover: bool = False,
    ) -> dict[str, Any]:
        """The whole item once `parts` are folded into `known` (None: the item is new).

        Counters are added to (an attribute appears once it changes), `updated_at`, `owner_id`
        and `deleted` set, and `applied_position` becomes the last part's. For TOTAL with
        `current_day`, the parts' buckets of that day are added to its day_* counters, or with
        `rollover` (TOTAL held an older day, moved out first) replace them.
        """
        merged = merge_effects({self.page_id: delta} for _, delta in parts)[self.page_id]
        state: dict[str, Any] = dict(known) if known is not None else dict(self.key)
        state[POSITION] = parts[-1][0]
        adds: dict[str, int]
        if self.day is not None:
            adds = dict(merged.daily.get(self.day, {}))
        elif self.via is not None:
            adds = {"replies": merged.counters["replies"]}
        else:
            adds = dict(merged.counters)
            if merged.last_at is not None:
                state["updated_at"] = merged.last_at.astimezone(UTC).isoformat()
            if merged.owner_id is not None:
                state["owner_id"] = merged.owner_id
            if merged.deleted:
                state["deleted"] = True
            if current_day is not None:
                buckets = merged.daily.get(current_day, dict.fromkeys(DAILY_COUNTERS, 0))
                state[CURRENT_DAY] = current_day.isoformat()
                if rollover:
                    state.update({f"day_{name}": amount for name, amount in buckets.items()})
                else:
                    adds.update({f"day_{name}": amount for name, amount in buckets.items()})
        for name, amount in adds.items():
            if amount:  # as an ADD of 0 would: an attribute appears only once it changes
                state[name] = int(state.get(name, 0)) + amount
        return state


def _unapplied(parts: list[Part], known: dict[str, Any] | None) -> list[Part]:
    """The parts after the known position (the item's position only grows: the rest are folded)."""
    if known is None or POSITION not in known:
        return parts
    applied = int(known[POSITION])
    return [part for part in parts if part[0] > applied]


def _item_writes(events: Sequence[FoldedEvent]) -> list[_ItemWrite]:
    """Group a batch by item (each page's TOTAL, REPLIES# and DAY# items), parts in log order.

    A page's buckets of the latest day in the batch go with its TOTAL; only those of earlier
    days (a batch that spans midnight) get DAY# items of their own here.
    """
    unique = sorted({e.event_id: e for e in events}.values(), key=lambda e: e.position)
    writes: dict[tuple[int, int | None, date | None], _ItemWrite] = {}
    key: tuple[int, int | None, date | None]
    for event in unique:
        for page_id, delta in event.effects.items():
            key = (page_id, delta.via, None)
            writes.setdefault(key, _ItemWrite(*key, [])).parts.append((event.position, delta))
    for total in [w for w in writes.values() if w.is_total]:
        latest = total.current_day
        for position, delta in total.parts:
            for day in delta.daily:
                if day != latest:
                    key = (total.page_id, None, day)
                    writes.setdefault(key, _ItemWrite(*key, [])).parts.append((position, delta))
    return list(writes.values())


def _page_key(page_id: int) -> str:
    return f"PAGE#{page_id}"


def _number(item: dict[str, Any], name: str) -> int:
    value = item.get(name, Decimal(0))
    return max(0, int(value))


def _day_of(item: dict[str, Any]) -> str:
    return str(item["sk"]).removeprefix(DAY_PREFIX).removesuffix(MOVED_SUFFIX)


def _daily(total: dict[str, Any], day_items: list[dict[str, Any]], days: int) -> list[DailyStats]:
    """The newest `days` daily buckets, oldest first: each day the sum of its items."""
    sums: dict[str, dict[str, int]] = {}
    for item in day_items:
        bucket = sums.setdefault(_day_of(item), dict.fromkeys(DAILY_COUNTERS, 0))
        for counter in DAILY_COUNTERS:
            bucket[counter] += int(item.get(counter, 0))
    if CURRENT_DAY in total:
        bucket = sums.setdefault(str(total[CURRENT_DAY]), dict.fromkeys(DAILY_COUNTERS, 0))
        for counter in DAILY_COUNTERS:
            bucket[counter] += int(total.get(f"day_{counter}", 0))
    return [
        DailyStats(date=date.fromisoformat(day), **{c: max(0, n) for c, n in sums[day].items()})
        for day in sorted(sums)[-days:]
    ]


def _normalised(item: dict[str, Any]) -> dict[str, Any]:
    """An item as this module keeps it, however it was obtained: numbers as int, strings, bools.

    A failed condition returns the item in DynamoDB's low-level form ({"N": "3"}, {"S": "x"},
    ...; the resource's client translates successful responses only), a read as plain values
    with Decimal numbers; both become the same dict, equal to the one a successful put stored.
    """
    return {name: _plain(value) for name, value in item.items()}


def _plain(value: Any) -> Any:
    if isinstance(value, dict) and len(value) == 1 and next(iter(value)) in _ATTRIBUTE_TYPES:
        value = _DESERIALIZER.deserialize(value)  # type: ignore[arg-type]
    if isinstance(value, Decimal) and value == value.to_integral_value():
        return int(value)
    return value


def _page_stats(
    page_id: int, total: dict[str, Any], replies_from_others: int, daily: list[DailyStats]
) -> PageStats:
    return PageStats(
        page_id=page_id,
        owner_id=int(total["owner_id"]),
        posts=_number(total, "posts"),
        followers=_number(total, "followers"),
        follow_requests=_number(total, "follow_requests"),
        likes=_number(total, "likes"),
        replies=max(0, int(total.get("replies", 0)) + replies_from_others),
        updated_at=datetime.fromisoformat(str(total["updated_at"])),
        daily=daily,
    )


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))
