"""`python manage.py run_relay`: publish the event log to RabbitMQ until SIGTERM/SIGINT."""

from __future__ import annotations

import asyncio
import logging
import signal
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand

from events.management.config import relay_config_from_settings, watched_queues
from events.relay import Relay, run_forever
from observability.metrics import QueueDepthCollector, serve_metrics

logger = logging.getLogger(__name__)


class Command(BaseCommand):
    help = "Relay committed events to the broker in log order (long-running)."

    def handle(self, *args: Any, **options: Any) -> None:
        # The relay also exports the broker's queue depths (one process is enough; read when scraped).
        serve_metrics("relay", [QueueDepthCollector(settings.RABBITMQ_URL, watched_queues())])
        asyncio.run(self._main())

    async def _main(self) -> None:
        config = relay_config_from_settings()
        relay = Relay(config)
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, relay.stop)
        logger.info("relay %s: exchange %s", config.name, config.topology.exchange)
        await run_forever(config, relay)
