"""The DynamoDB side: table layout, exactly-once folding, reads. Only this module knows the keys.

Layout (one *generation* of tables; a rebuild fills a fresh generation and switches to it):
- `<prefix>page-stats-<gen>`: pk "PAGE#<id>"; sk "TOTAL" holds the current figures and the
  owner, sk "DAY#<yyyy-mm-dd>" one daily bucket. One Query reads a page's whole answer.
- `<prefix>processed-events-<gen>`: pk event_id, `expires_at` is the TTL attribute.
- `<prefix>stats-meta`: the item "tables" names the active generation and, during a rebuild,
  the generation being built (the consumer then writes to both).

Exactly once: each transaction puts one dedupe record per event with
`attribute_not_exists`, together with the counter updates; a duplicate cancels the
transaction, is dropped and the rest is retried. Nothing is read before it is written.
Hot pages: the events of one batch are summed per page, so a burst on one page costs one
update of its item per transaction rather than one per event.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from botocore.exceptions import ClientError

from stats_ms.fold import COUNTERS, DAILY_COUNTERS, Effects, PageDelta, merge_effects
from stats_ms.settings import Settings

logger = logging.getLogger(__name__)

MAX_TRANSACT_ITEMS = 100
META_KEY = "tables"
INITIAL_GENERATION = "g0"
_CONFLICT_RETRIES = 8
TABLE_ACTIVE_TIMEOUT_SECONDS = 120.0


@dataclass(frozen=True)
class FoldedEvent:
    """An event's id and its per-page deltas, ready to be written."""

    event_id: str
    effects: Effects


@dataclass(frozen=True)
class Generations:
    active: str
    building: str | None

    def targets(self) -> list[str]:
        return [self.active] if self.building is None else [self.active, self.building]


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

    def __init__(self, dynamodb: Any, settings: Settings) -> None:
        self._db = dynamodb
        self._client = dynamodb.meta.client
        self._settings = settings
        self._prefix = settings.stats_table_prefix
        self._generations: Generations | None = None
        self._generations_read_at = 0.0

    # --- names ---------------------------------------------------------------------------

    @property
    def meta_table(self) -> str:
        return f"{self._prefix}stats-meta"

    def stats_table(self, generation: str) -> str:
        return f"{self._prefix}page-stats-{generation}"

    def dedupe_table(self, generation: str) -> str:
        return f"{self._prefix}processed-events-{generation}"

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
        await self.create_generation((await self.generations(fresh=True)).active)

    async def create_generation(self, generation: str) -> None:
        """Create one generation's tables (idempotent) and wait until they are usable."""
        await self._create_table(self.stats_table(generation), "pk", sort_key="sk")
        await self._create_table(self.dedupe_table(generation), "event_id")
        try:
            await self._client.update_time_to_live(
                TableName=self.dedupe_table(generation),
                TimeToLiveSpecification={"Enabled": True, "AttributeName": "expires_at"},
            )
        except ClientError as exc:
            # Raised when TTL is already enabled: the call is not idempotent by itself.
            if _code(exc) != "ValidationException":
                raise

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
        refresh = self._settings.stats_meta_refresh_seconds
        if fresh or self._generations is None or now - self._generations_read_at >= refresh:
            response = await self._client.get_item(
                TableName=self.meta_table, Key={"name": META_KEY}, ConsistentRead=True
            )
            item = response.get("Item") or {"active": INITIAL_GENERATION}
            self._generations = Generations(active=item["active"], building=item.get("building"))
            self._generations_read_at = now
        return self._generations

    async def begin_building(self, generation: str) -> None:
        """Mark `generation` as being built: from now on consumers write to it too."""
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
        for name in (self.stats_table(generation), self.dedupe_table(generation)):
            try:
                await self._client.delete_table(TableName=name)
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

    async def apply(self, events: Sequence[FoldedEvent]) -> None:
        """Fold events into every generation being written (exactly once per generation)."""
        for generation in (await self.generations()).targets():
            await self.apply_to(generation, events)

    async def apply_to(self, generation: str, events: Sequence[FoldedEvent]) -> None:
        """Fold events into one generation, in transactions of at most 100 items."""
        unique = list({e.event_id: e for e in reversed(events)}.values())[::-1]
        for chunk in _chunks(unique):
            await self._write_chunk(generation, chunk)

    async def _write_chunk(self, generation: str, chunk: list[FoldedEvent]) -> None:
        pending = chunk
        for attempt in range(_CONFLICT_RETRIES):
            if not pending:
                return
            try:
                await self._client.transact_write_items(TransactItems=self._items(generation, pending))
                return
            except ClientError as exc:
                if _code(exc) != "TransactionCanceledException":
                    raise
                reasons = exc.response.get("CancellationReasons", [])
                duplicates = {
                    i
                    for i, r in enumerate(reasons[: len(pending)])
                    if r.get("Code") == "ConditionalCheckFailed"
                }
                if duplicates:
                    pending = [e for i, e in enumerate(pending) if i not in duplicates]
                    continue
                # A concurrent transaction on the same item: back off and try again.
                await asyncio.sleep(min(0.05 * 2**attempt, 2.0))
        raise RuntimeError(f"transaction still conflicting after {_CONFLICT_RETRIES} attempts")

    def _items(self, generation: str, events: list[FoldedEvent]) -> list[dict[str, Any]]:
        expires_at = int(time.time()) + self._settings.stats_dedupe_ttl_seconds
        items: list[dict[str, Any]] = [
            {
                "Put": {
                    "TableName": self.dedupe_table(generation),
                    "Item": {"event_id": e.event_id, "expires_at": expires_at},
                    "ConditionExpression": "attribute_not_exists(event_id)",
                }
            }
            for e in events
        ]
        table = self.stats_table(generation)
        for page_id, delta in sorted(merge_effects(e.effects for e in events).items()):
            items.append(_total_update(table, page_id, delta))
            items.extend(
                _daily_update(table, page_id, day, bucket) for day, bucket in sorted(delta.daily.items())
            )
        return items

    # --- reads ---------------------------------------------------------------------------

    async def page_stats(self, page_id: int) -> PageStats | None:
        """The page's figures, or None for a page never heard of (or deleted)."""
        generation = (await self.generations()).active
        response = await self._client.query(
            TableName=self.stats_table(generation),
            KeyConditionExpression="pk = :pk",
            ExpressionAttributeValues={":pk": _page_key(page_id)},
            ScanIndexForward=False,  # "TOTAL" sorts after "DAY#…": it comes first, then newest days
            Limit=self._settings.stats_daily_days + 1,
        )
        items = response.get("Items", [])
        if not items or items[0]["sk"] != "TOTAL":
            return None
        total = items[0]
        if "owner_id" not in total or total.get("deleted"):
            return None
        return _page_stats(page_id, total, items[1:])


def _chunks(events: list[FoldedEvent]) -> Iterable[list[FoldedEvent]]:
    """Split events so that each transaction holds at most MAX_TRANSACT_ITEMS items."""
    chunk: list[FoldedEvent] = []
    keys: set[tuple[int, date | None]] = set()
    for event in events:
        own = {(p, None) for p in event.effects} | {
            (p, d) for p, dl in event.effects.items() for d in dl.daily
        }
        if chunk and len(chunk) + 1 + len(keys | own) > MAX_TRANSACT_ITEMS:
            yield chunk
            chunk, keys = [], set()
        chunk.append(event)
        keys |= own
    if chunk:
        yield chunk


def _page_key(page_id: int) -> str:
    return f"PAGE#{page_id}"


def _total_update(table: str, page_id: int, delta: PageDelta) -> dict[str, Any]:
    names = {f"#{c}": c for c in COUNTERS}
    values: dict[str, Any] = {f":{c}": delta.counters[c] for c in COUNTERS}
    sets = ["#page_id = :page_id"]
    names["#page_id"], values[":page_id"] = "page_id", page_id
    if delta.last_at is not None:
        sets.append("#updated_at = :updated_at")
        names["#updated_at"], values[":updated_at"] = "updated_at", delta.last_at.astimezone(UTC).isoformat()
    if delta.owner_id is not None:
        sets.append("#owner_id = :owner_id")
        names["#owner_id"], values[":owner_id"] = "owner_id", delta.owner_id
    if delta.deleted:
        sets.append("#deleted = :deleted")
        names["#deleted"], values[":deleted"] = "deleted", True
    adds = ", ".join(f"#{c} :{c}" for c in COUNTERS)
    return {
        "Update": {
            "TableName": table,
            "Key": {"pk": _page_key(page_id), "sk": "TOTAL"},
            "UpdateExpression": f"ADD {adds} SET {', '.join(sets)}",
            "ExpressionAttributeNames": names,
            "ExpressionAttributeValues": values,
        }
    }


def _daily_update(table: str, page_id: int, day: date, bucket: dict[str, int]) -> dict[str, Any]:
    return {
        "Update": {
            "TableName": table,
            "Key": {"pk": _page_key(page_id), "sk": f"DAY#{day.isoformat()}"},
            "UpdateExpression": "ADD " + ", ".join(f"#{c} :{c}" for c in DAILY_COUNTERS),
            "ExpressionAttributeNames": {f"#{c}": c for c in DAILY_COUNTERS},
            "ExpressionAttributeValues": {f":{c}": bucket[c] for c in DAILY_COUNTERS},
        }
    }


def _number(item: dict[str, Any], name: str) -> int:
    value = item.get(name, Decimal(0))
    return max(0, int(value))


def _page_stats(page_id: int, total: dict[str, Any], days: list[dict[str, Any]]) -> PageStats:
    daily = [
        DailyStats(
            date=date.fromisoformat(str(d["sk"]).removeprefix("DAY#")),
            posts=_number(d, "posts"),
            likes=_number(d, "likes"),
            followers=_number(d, "followers"),
        )
        for d in reversed(days)
    ]
    return PageStats(
        page_id=page_id,
        owner_id=int(total["owner_id"]),
        posts=_number(total, "posts"),
        followers=_number(total, "followers"),
        follow_requests=_number(total, "follow_requests"),
        likes=_number(total, "likes"),
        replies=_number(total, "replies"),
        updated_at=datetime.fromisoformat(str(total["updated_at"])),
        daily=daily,
    )


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))
