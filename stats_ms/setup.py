"""`python -m stats_ms.setup`: create the statistics tables if they are missing (idempotent)."""

from __future__ import annotations

import asyncio

from stats_ms.aws import dynamodb_resource
from stats_ms.repository import StatsRepository
from stats_ms.settings import Settings, get_settings


async def setup_tables(settings: Settings) -> str:
    """Create the meta table and the active generation's tables; returns the active generation."""
    async with dynamodb_resource(settings) as dynamodb:
        repo = StatsRepository(dynamodb, settings)
        await repo.ensure_tables()
        return (await repo.generations(fresh=True)).active


def main() -> None:
    active = asyncio.run(setup_tables(get_settings()))
    print(f"statistics tables ready (active generation {active})")


if __name__ == "__main__":
    main()
