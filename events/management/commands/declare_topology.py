"""`python manage.py declare_topology`: declare the exchange, queues and dead letters (idempotent)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand

from events.management.config import topology_from_settings
from events.topology import declare_topology_sync


class Command(BaseCommand):
    help = "Declare the event exchange, the consumer queues and their dead-letter queues."

    def handle(self, *args: Any, **options: Any) -> None:
        topology = topology_from_settings()
        declare_topology_sync(settings.RABBITMQ_URL, topology)
        self.stdout.write(f"declared {topology.exchange} -> {', '.join(topology.queues)}")
