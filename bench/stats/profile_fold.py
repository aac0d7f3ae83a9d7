"""Where a fold's CPU goes: the consumer (profiled) and moto's server, per event and per write.

    RABBITMQ_URL=... .venv/bin/python bench/stats/profile_fold.py [--events 3000] [--pages 10] [--top 25]

Publishes a backlog of likes over `--pages` pages to a fresh statistics queue, folds it with
the consumer in this process under cProfile, and reads the CPU of moto's server (the local
runner's emulator, with its worker process). Prints the
CPU milliseconds per event and per DynamoDB write of each side, then the consumer's profile
(cumulative), so the share of moto's emulation (not DynamoDB's) is on record.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import io
import os
import pstats
import subprocess
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))


class CountingClient:
    """Counts the item writes the repository makes (PutItem, and UpdateItem if any; wraps the client)."""

    def __init__(self, client):
        self._client, self.updates = client, 0

    def __getattr__(self, name):
        return getattr(self._client, name)

    async def update_item(self, **kwargs):
        self.updates += 1
        return await self._client.update_item(**kwargs)

    async def put_item(self, **kwargs):
        self.updates += 1
        return await self._client.put_item(**kwargs)


async def fold(settings, topology, rabbitmq_url: str, events: int, pages: int, profiler: cProfile.Profile):
    import aio_pika

    from events.topology import declare_topology, delete_topology
    from stats_ms.aws import dynamodb_resource
    from stats_ms.consumer import StatsConsumer
    from stats_ms.repository import StatsRepository
    from stats_ms.tests import builders as b

    await declare_topology(rabbitmq_url, topology)
    sentinel = 10**6
    envelopes = [b.page_created(p, 7) for p in [*range(1, pages + 1), sentinel]]
    envelopes += [b.post_liked(1, 1 + i % pages, 7, user_id=i) for i in range(events)]
    envelopes.append(b.post_liked(1, sentinel, 7, user_id=1))  # the last one: folded means done
    try:
        connection = await aio_pika.connect(rabbitmq_url)
        async with connection:
            channel = await connection.channel()
            exchange = await channel.get_exchange(topology.exchange)
            for e in envelopes:
                await exchange.publish(aio_pika.Message(body=e.model_dump_json().encode()), e.type)
            await channel.set_qos(prefetch_count=2 * settings.stats_prefetch)
            queue = await channel.get_queue(topology.stats_queue)
            async with dynamodb_resource(settings) as dynamodb:
                repo = StatsRepository(dynamodb, settings)
                await repo.ensure_tables()
                counting = CountingClient(repo._client)
                repo._client = counting
                consumer = StatsConsumer(
                    repo,
                    batch_limit=settings.stats_prefetch,
                    batch_interval=settings.stats_batch_interval_seconds,
                )
                stop = asyncio.Event()
                cpu0, wall0 = time.process_time(), time.perf_counter()
                profiler.enable()
                task = asyncio.create_task(consumer.run(queue, stop))
                while not await _has_likes(repo, sentinel):  # noqa: ASYNC110 (another task's work)
                    await asyncio.sleep(0.1)
                stop.set()
                await task
                profiler.disable()
                result = time.process_time() - cpu0, time.perf_counter() - wall0, counting.updates
                assert await _all_folded(repo, pages, events), "the backlog was not folded whole"
                return result
    finally:
        await delete_topology(rabbitmq_url, topology)


async def _has_likes(repo, page_id: int) -> bool:
    stats = await repo.page_stats(page_id)
    return stats is not None and stats.likes > 0


async def _all_folded(repo, pages: int, events: int) -> bool:
    stats = await asyncio.gather(*(repo.page_stats(p) for p in range(1, pages + 1)))
    return sum(s.likes for s in stats if s is not None) == events


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=3000)
    parser.add_argument("--pages", type=int, default=10)
    parser.add_argument("--top", type=int, default=25)
    args = parser.parse_args()
    from bench.stats.bench_stats import emulator_command, process_cpu
    from stats_ms.settings import Settings
    from stats_ms.tests.conftest import free_port, unique_topology

    rabbitmq_url = os.environ.get("RABBITMQ_URL", "amqp://guest:guest@127.0.0.1:5672/")
    port = free_port()
    moto = subprocess.Popen(  # the local runner's emulator, as bench_stats.py runs it
        emulator_command(port),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        import httpx

        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                httpx.get(f"http://127.0.0.1:{port}/moto-api/", timeout=1)
                break
            except httpx.HTTPError:
                time.sleep(0.1)
        settings = Settings(
            _env_file=None,
            aws_endpoint_url=f"http://127.0.0.1:{port}",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
            rabbitmq_url=rabbitmq_url,
            stats_table_prefix=f"prof{uuid.uuid4().hex[:6]}-",
        )
        profiler = cProfile.Profile()
        moto0 = process_cpu(moto.pid)
        consumer_cpu, wall, updates = asyncio.run(
            fold(settings, unique_topology("prof"), rabbitmq_url, args.events, args.pages, profiler)
        )
        moto_cpu = process_cpu(moto.pid) - moto0  # includes the polls' reads, a small part
    finally:
        moto.terminate()
        moto.wait(10)
    print(
        f"{args.events} likes over {args.pages} pages: {wall:.2f} s wall, {args.events / wall:.0f} events/s, "
        f"{updates} item writes; load average {os.getloadavg()[0]:.1f}"
    )
    print(
        f"consumer CPU {consumer_cpu:.2f} s ({consumer_cpu / args.events * 1000:.2f} ms/event, "
        f"{consumer_cpu / max(updates, 1) * 1000:.2f} ms/write); moto CPU {moto_cpu:.2f} s "
        f"({moto_cpu / args.events * 1000:.2f} ms/event, {moto_cpu / max(updates, 1) * 1000:.2f} ms/write); "
        f"moto's share {moto_cpu / (moto_cpu + consumer_cpu):.0%}"
    )
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(args.top)
    print(out.getvalue())


if __name__ == "__main__":
    main()
