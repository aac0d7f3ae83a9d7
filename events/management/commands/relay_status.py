"""`python manage.py relay_status`: the relay's lag as JSON."""

from __future__ import annotations

import asyncio
import dataclasses
import json
from typing import Any

import psycopg
from django.conf import settings
from django.core.management.base import BaseCommand

from events.management.config import conninfo_from_settings
from events.relay import relay_lag


class Command(BaseCommand):
    help = "Print the relay's cursor, the log head, events behind and the oldest unpublished age."

    def handle(self, *args: Any, **options: Any) -> None:
        lag = asyncio.run(self._lag())
        self.stdout.write(json.dumps({"relay": settings.RELAY_NAME, **lag}))

    async def _lag(self) -> dict[str, Any]:
        async with await psycopg.AsyncConnection.connect(conninfo_from_settings(), autocommit=True) as conn:
            return dataclasses.asdict(await relay_lag(conn, settings.RELAY_NAME))
