"""Fixtures of the events tests."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from django.conf import settings

from events.topology import Topology, delete_topology


@pytest.fixture
def topology():
    """Unique broker names for one test, deleted afterwards (declaring is up to the test)."""
    names = Topology.with_prefix(f"t-{uuid.uuid4().hex[:10]}", max_deliveries=2)
    yield names
    asyncio.run(delete_topology(settings.RABBITMQ_URL, names))
