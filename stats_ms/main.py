"""The statistics HTTP service: `uvicorn stats_ms.main:app --host 127.0.0.1 --port 8001`."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from stats_ms.api import router
from stats_ms.auth import TokenVerifier
from stats_ms.aws import dynamodb_resource
from stats_ms.errors import install_error_handlers
from stats_ms.repository import StatsRepository
from stats_ms.settings import Settings, get_settings

logger = logging.getLogger(__name__)


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Open the DynamoDB resource once for the process and make sure the tables exist."""
    settings: Settings = app.state.settings
    async with dynamodb_resource(settings) as dynamodb:
        repo = StatsRepository(dynamodb, settings)
        try:
            await repo.ensure_tables()
        except Exception:
            # Keep serving: /health says 503 and reads answer 503 until DynamoDB is back.
            logger.exception("could not ensure the statistics tables at start-up")
        app.state.repo = repo
        yield
        app.state.repo = None


def create_app(settings: Settings | None = None) -> FastAPI:
    """The FastAPI application, configured by `settings` (default: the environment)."""
    app = FastAPI(title="Innotter statistics", version="1.0.0", lifespan=lifespan, redirect_slashes=False)
    app.state.settings = settings or get_settings()
    app.state.verifier = TokenVerifier(app.state.settings)
    install_error_handlers(app)
    app.include_router(router)
    return app


app = create_app()
