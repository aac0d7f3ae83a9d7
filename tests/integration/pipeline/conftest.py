"""Fixtures of the pipeline integration tests: unique broker names, relay and worker processes.

Everything created on RabbitMQ has a per-run suffix and is deleted afterwards; the relay and
the worker reach the broker through a TCP proxy the tests can cut, never touching the shared
RabbitMQ itself.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import aio_pika
import boto3
import pytest
from django.conf import settings
from moto.server import ThreadedMotoServer

from events.topology import Topology, declare_topology, delete_topology
from tests.integration.pipeline.support import VENV_BIN, Process, TcpProxy, free_port


@dataclass
class Pipeline:
    """The names of one test's pipeline and the processes running it."""

    suffix: str
    topology: Topology
    task_queue: str
    relay_name: str
    direct_url: str
    proxy: TcpProxy
    moto_url: str
    logs: Path
    processes: list[Process] = field(default_factory=list)

    @property
    def proxied_url(self) -> str:
        parts = urlsplit(self.direct_url)
        netloc = f"{parts.username}:{parts.password}@127.0.0.1:{self.proxy.port}"
        return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.update(
            DJANGO_SETTINGS_MODULE="core_app.settings_test",
            POSTGRES_DB=str(settings.DATABASES["default"]["NAME"]),
            RABBITMQ_URL=self.proxied_url,
            EVENTS_EXCHANGE=self.topology.exchange,
            EVENTS_QUEUE_PROJECTIONS=self.topology.projections_queue,
            EVENTS_QUEUE_STATS=self.topology.stats_queue,
            EVENTS_DEAD_LETTER_EXCHANGE=self.topology.dead_letter_exchange,
            EVENTS_MAX_DELIVERIES=str(self.topology.max_deliveries),
            CELERY_TASK_QUEUE=self.task_queue,
            RELAY_NAME=self.relay_name,
            RELAY_POLL_SECONDS="0.5",
            AWS_ENDPOINT_URL=self.moto_url,
            AWS_ACCESS_KEY_ID="testing",
            AWS_SECRET_ACCESS_KEY="testing",
            POSTGRES_CONN_MAX_AGE="0",
        )
        return env

    def start_relay(self) -> Process:
        return self._start("relay", [str(VENV_BIN / "python"), "manage.py", "run_relay"])

    def start_worker(self) -> Process:
        args = [
            str(VENV_BIN / "celery"),
            "-A",
            "projections.celery_app",
            "worker",
            "--loglevel=INFO",
            "--concurrency=1",
            "--without-mingle",
            "--without-gossip",
            f"--hostname=it-{self.suffix}-{len(self.processes)}@%h",
        ]
        return self._start("worker", args)

    def _start(self, name: str, args: list[str]) -> Process:
        env = {**self.env(), "PROCESS_NAME": name, "METRICS_PORT": str(free_port())}
        env["METRICS_MULTIPROC_DIR"] = str(self.logs)  # the shared metrics files, with the logs
        process = Process(args, env, self.logs / f"{name}-{len(self.processes)}.log")
        self.processes.append(process)
        return process

    def stop_all(self) -> None:
        for process in self.processes:
            process.stop()


async def _delete_broker_objects(url: str, topology: Topology, task_queue: str) -> None:
    await delete_topology(url, topology)
    connection = await aio_pika.connect(url)
    async with connection:
        channel = await connection.channel()
        await channel.queue_delete(task_queue)
        await channel.exchange_delete(task_queue)


@pytest.fixture(scope="session")
def moto_url() -> Iterator[str]:
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


@pytest.fixture
def ses(pipeline: Pipeline, settings: object) -> object:
    """An SES client of moto's server with the sender verified (the worker sends from it)."""
    client = boto3.client(
        "ses",
        endpoint_url=pipeline.moto_url,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    client.verify_email_identity(EmailAddress=settings.SES_SENDER)  # type: ignore[attr-defined]
    return client


@pytest.fixture
def pipeline(transactional_db: None, tmp_path: Path, moto_url: str) -> Iterator[Pipeline]:
    suffix = uuid.uuid4().hex[:10]
    topology = Topology.with_prefix(f"it-{suffix}", max_deliveries=5)
    direct_url = settings.RABBITMQ_URL
    target = urlsplit(direct_url)
    proxy = TcpProxy(target.hostname or "127.0.0.1", target.port or 5672)
    proxy.start()
    asyncio.run(declare_topology(direct_url, topology))
    line = Pipeline(
        suffix=suffix,
        topology=topology,
        task_queue=f"it-{suffix}.tasks",
        relay_name=f"it-{suffix}",
        direct_url=direct_url,
        proxy=proxy,
        moto_url=moto_url,
        logs=tmp_path,
    )
    try:
        yield line
    finally:
        line.stop_all()
        proxy.close()
        asyncio.run(_delete_broker_objects(direct_url, topology, line.task_queue))
