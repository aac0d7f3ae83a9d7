"""The statistics stack in the test process: moto's DynamoDB, the stats API (uvicorn), its
consumer and the core's relay, each in a thread, on unique broker names."""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
import uuid
from collections.abc import Callable, Coroutine, Iterator
from typing import Any

import pytest
import uvicorn
from django.conf import settings as django_settings

from core_app.common.auth.keys import signing_key
from events.management.config import conninfo_from_settings
from events.relay import Relay, RelayConfig, run_forever
from events.topology import Topology, declare_topology_sync
from events.topology import delete_topology as delete_topology_async
from stats_ms.consumer import consume
from stats_ms.main import create_app
from stats_ms.settings import Settings
from stats_ms.tests.conftest import free_port, moto_endpoint, unique_topology  # noqa: F401  (fixture)

RABBITMQ_URL = "amqp://guest:guest@127.0.0.1:5672/"


def wait_for(condition: Callable[[], bool], seconds: float = 30.0, what: str = "condition") -> None:
    """Poll until `condition()` holds; fail after `seconds`."""
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"{what} not met within {seconds}s"
        time.sleep(0.05)


class BackgroundTask:
    """Runs `main(stop)` on its own event loop in a thread; `close()` sets `stop` and joins."""

    def __init__(self, main: Callable[[asyncio.Event], Coroutine[Any, Any, None]]) -> None:
        self._main = main
        self._ready = threading.Event()
        self._thread = threading.Thread(target=lambda: asyncio.run(self._run()), daemon=True)
        self.error: BaseException | None = None

    async def _run(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        self._ready.set()
        try:
            await self._main(self._stop)
        except BaseException as exc:
            self.error = exc
            raise

    def start(self) -> BackgroundTask:
        self._thread.start()
        self._ready.wait(10)
        return self

    def close(self) -> None:
        self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(30)
        assert not self._thread.is_alive(), "background task did not stop"


@pytest.fixture
def topology() -> Iterator[Topology]:
    topo = unique_topology("test", max_deliveries=5)
    declare_topology_sync(RABBITMQ_URL, topo)
    yield topo
    asyncio.run(delete_topology_async(RABBITMQ_URL, topo))


@pytest.fixture
def stats_settings(moto_endpoint: str) -> Settings:  # noqa: F811
    return Settings(
        _env_file=None,  # type: ignore[call-arg]
        aws_endpoint_url=moto_endpoint,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        stats_table_prefix=f"i{uuid.uuid4().hex[:10]}-",
        stats_meta_refresh_seconds=0.2,
        jwt_public_key=signing_key().public_pem.decode(),
        jwt_issuer=django_settings.JWT_ISSUER,
        jwt_kid=django_settings.JWT_KID,
        rabbitmq_url=RABBITMQ_URL,
    )


@pytest.fixture
def stats_api(stats_settings: Settings, settings: Any) -> Iterator[str]:
    """The statistics API served by uvicorn; the core's STATS_SERVICE_URL points at it."""
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(create_app(stats_settings), host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    wait_for(lambda: server.started, what="stats API start")
    url = f"http://127.0.0.1:{port}"
    settings.STATS_SERVICE_URL = url
    yield url
    server.should_exit = True
    thread.join(10)


@pytest.fixture
def stats_consumer(stats_settings: Settings, topology: Topology) -> Iterator[BackgroundTask]:
    task = BackgroundTask(lambda stop: consume(stats_settings, topology, stop)).start()
    yield task
    task.close()


@pytest.fixture
def relay(topology: Topology, transactional_db: None) -> Iterator[BackgroundTask]:
    """The pipeline's relay publishing this test database's log to the test topology."""
    config = RelayConfig(
        conninfo=conninfo_from_settings(),
        amqp_url=RABBITMQ_URL,
        topology=topology,
        name=f"test-{uuid.uuid4().hex[:8]}",
        poll_seconds=0.2,
    )

    async def main(stop: asyncio.Event) -> None:
        relay = Relay(config)
        running = asyncio.create_task(run_forever(config, relay))
        await stop.wait()
        relay.stop()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait_for(running, 10)

    task = BackgroundTask(main).start()
    yield task
    task.close()
