"""moto's server CPU per DynamoDB write, by kind of write (a script, not a test).

    .venv/bin/python -m bench.writes.moto_costs [--port 45200] [--sizes 20,200,1000] [--items 16]
        [--rounds 20]

Starts its own moto server, fills a table shaped like the statistics' (pk, sk) with `size` page
figures items, then, for `rounds` batches of `items` pages, measures the server's CPU (from
/proc) per item written: a conditional UpdateItem (one request per page, 16 at once; the
consumer's write until it put whole items), the same updates as one TransactWriteItems, a
PutItem conditional on the position, the consumer's put of a whole figures item compare-and-set
on its position (stats_ms.repository), and for comparison a BatchWriteItem of puts and a
BatchGetItem. A client with keep-alive (boto3), so the figures
leave out the new connection per request that moto's server forces on every client (it
answers `Connection: close`).
"""

from __future__ import annotations

import argparse
import itertools
import subprocess
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import boto3
import psutil

from bench.writes.stack import ROOT

TABLE = "t"
DAY = "2026-12-06"
_positions = itertools.count(1)


def key(page: int) -> dict[str, Any]:
    return {"pk": {"S": f"PAGE#{page}"}, "sk": {"S": "TOTAL"}}


def update(page: int) -> dict[str, Any]:
    """An update of a page's figures for one post (the consumer's write before it put whole items)."""
    position = {"N": str(next(_positions))}
    return {
        "TableName": TABLE,
        "Key": key(page),
        "UpdateExpression": "SET #pos = :last, #updated_at = :at, #day = :day ADD #a0 :one, #a1 :one",
        "ConditionExpression": "(attribute_not_exists(#pos) OR #pos < :first)"
        " AND (attribute_not_exists(#day) OR #day = :day)",
        "ExpressionAttributeNames": {
            "#pos": "applied_position",
            "#updated_at": "updated_at",
            "#day": "day",
            "#a0": "posts",
            "#a1": "day_posts",
        },
        "ExpressionAttributeValues": {
            ":first": position,
            ":last": position,
            ":at": {"S": f"{DAY}T10:00:00+00:00"},
            ":day": {"S": DAY},
            ":one": {"N": "1"},
        },
    }


def item(page: int) -> dict[str, Any]:
    return {
        **key(page),
        "applied_position": {"N": str(next(_positions))},
        "updated_at": {"S": f"{DAY}T10:00:00+00:00"},
        "day": {"S": DAY},
        "posts": {"N": "3"},
        "day_posts": {"N": "3"},
        "owner_id": {"N": "5"},
    }


def whole_item(page: int, position: int) -> dict[str, Any]:
    """A page's TOTAL item as the consumer puts it (every attribute it may hold)."""
    return {
        "pk": {"S": f"PAGE#{page}"},
        "sk": {"S": "TOTAL#put"},  # apart from the other kinds' items: its position is known
        "applied_position": {"N": str(position)},
        "updated_at": {"S": f"{DAY}T10:00:00.123456+00:00"},
        "owner_id": {"N": "5"},
        **{name: {"N": str(position % 50)} for name in ("posts", "likes", "followers", "follow_requests")},
        "replies": {"N": "2"},
        "day": {"S": DAY},
        **{f"day_{name}": {"N": "1"} for name in ("posts", "likes", "followers")},
    }


class CompareAndSet:
    """The consumer's write: the whole item, conditional on the position it last wrote."""

    def __init__(self, client: Any) -> None:
        self.client = client
        self.known: dict[int, int] = {}

    def put(self, page: int) -> None:
        position = next(_positions)
        condition: dict[str, Any] = {"ConditionExpression": "attribute_not_exists(pk)"}
        if page in self.known:
            condition = {
                "ConditionExpression": "#pos = :expected",
                "ExpressionAttributeNames": {"#pos": "applied_position"},
                "ExpressionAttributeValues": {":expected": {"N": str(self.known[page])}},
            }
        self.client.put_item(
            TableName=TABLE,
            Item=whole_item(page, position),
            ReturnValuesOnConditionCheckFailure="ALL_OLD",
            **condition,
        )
        self.known[page] = position


def main() -> None:
    formatter = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=formatter)
    parser.add_argument("--port", type=int, default=45200)
    parser.add_argument("--sizes", default="20,200,1000", help="table sizes (items) to measure at")
    parser.add_argument("--items", type=int, default=16, help="pages written per batch")
    parser.add_argument("--rounds", type=int, default=20)
    args = parser.parse_args()
    server = subprocess.Popen(
        [str(ROOT / ".venv" / "bin" / "moto_server"), "-H", "127.0.0.1", "-p", str(args.port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        measure(args, server.pid)
    finally:
        server.terminate()
        server.wait()


def measure(args: argparse.Namespace, pid: int) -> None:
    client = boto3.client(
        "dynamodb",
        endpoint_url=f"http://127.0.0.1:{args.port}",
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    _wait_until_up(client)
    client.create_table(
        TableName=TABLE,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "S"},
        ],
        BillingMode="PAY_PER_REQUEST",
    )
    process, pool, pages = psutil.Process(pid), ThreadPoolExecutor(args.items), range(args.items)
    cas = CompareAndSet(client)
    for page in pages:
        cas.put(page)  # known from now on
    filled = 0
    for size in (int(s) for s in args.sizes.split(",")):
        for page in range(filled, size):
            client.update_item(**update(page))
        filled = max(filled, size)
        kinds: dict[str, Callable[[], object]] = {
            "UpdateItem (conditional, one request per page)": lambda: list(
                pool.map(lambda p: client.update_item(**update(p)), pages)
            ),
            "TransactWriteItems (the same updates, one request)": lambda: client.transact_write_items(
                TransactItems=[{"Update": update(p)} for p in pages]
            ),
            "PutItem (conditional on the position)": lambda: list(
                pool.map(
                    lambda p: client.put_item(
                        TableName=TABLE,
                        Item=item(p),
                        ConditionExpression="attribute_not_exists(#pos) OR #pos < :pos",
                        ExpressionAttributeNames={"#pos": "applied_position"},
                        ExpressionAttributeValues={":pos": {"N": str(next(_positions))}},
                    ),
                    pages,
                )
            ),
            "PutItem of the whole item, compare-and-set on the position (the consumer's)": lambda: list(
                pool.map(cas.put, pages)
            ),
            "BatchWriteItem (puts, unconditional)": lambda: client.batch_write_item(
                RequestItems={TABLE: [{"PutRequest": {"Item": item(p)}} for p in pages]}
            ),
            "BatchGetItem": lambda: client.batch_get_item(
                RequestItems={TABLE: {"Keys": [key(p) for p in pages], "ConsistentRead": True}}
            ),
        }
        for kind, batch in kinds.items():
            before = _cpu(process)
            for _ in range(args.rounds):
                batch()
            per_item = (_cpu(process) - before) / (args.rounds * args.items) * 1000
            print(f"table of {size} items: {kind}: {per_item:.2f} ms of moto's CPU per item", flush=True)


def _cpu(process: psutil.Process) -> float:
    times = process.cpu_times()
    return float(times.user + times.system)


def _wait_until_up(client: Any) -> None:
    deadline = time.monotonic() + 30
    while True:
        try:
            client.list_tables()
            return
        except Exception:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


if __name__ == "__main__":
    main()
