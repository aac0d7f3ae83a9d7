"""HTTP routes: a page's figures (owner only) and health."""

from __future__ import annotations

import asyncio
import logging
from datetime import date, datetime
from typing import Annotated, Any, Literal
from urllib.parse import urlparse

from fastapi import APIRouter, Path, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from stats_ms.deps import CurrentUser, StatsRepo
from stats_ms.errors import NotFound, PermissionDenied, error_responses
from stats_ms.fold import MAX_ID
from stats_ms.repository import PageStats, StatsRepository
from stats_ms.settings import Settings

logger = logging.getLogger(__name__)
router = APIRouter()


class DailyOut(BaseModel):
    date: date
    posts: int
    likes: int
    followers: int


class PageStatsOut(BaseModel):
    page_id: int
    posts: int
    followers: int
    follow_requests: int
    likes: int
    replies: int
    updated_at: datetime
    daily: list[DailyOut]

    @classmethod
    def of(cls, stats: PageStats) -> PageStatsOut:
        """The answer's fields, read from the repository's figures (the owner is not shown)."""
        return cls.model_validate(stats, from_attributes=True)


def parse_page_id(raw: str) -> int:
    """A page id from the path; anything that is not a positive bigint is simply not found."""
    plain = raw.isascii() and raw.isdigit() and len(raw) <= len(str(MAX_ID))  # int() refuses 4,300+ digits
    if not plain or not 0 < int(raw) <= MAX_ID:
        raise NotFound("No statistics for this page.")
    return int(raw)


BEARER: dict[str, Any] = {"security": [{"BearerAuth": []}]}


@router.get(
    "/stats/pages/{page_id}",
    response_model=PageStatsOut,
    responses=error_responses(401, 403, 404, 503),
    openapi_extra=BEARER,
)
@router.get("/stats/pages/{page_id}/", response_model=PageStatsOut, include_in_schema=False)
async def page_stats(
    page_id: Annotated[str, Path(description="The core's page id", examples=["1"])],
    user: CurrentUser,
    repo: StatsRepo,
) -> PageStatsOut:
    """The page's figures, for its owner only."""
    stats = await repo.page_stats(parse_page_id(page_id))
    if stats is None:
        raise NotFound("No statistics for this page.")
    if stats.owner_id != user.user_id:
        raise PermissionDenied()
    return PageStatsOut.of(stats)


class HealthOut(BaseModel):
    status: Literal["ok", "unavailable"]
    checks: dict[str, Literal["ok", "down"]]


@router.get(
    "/health",
    response_model=HealthOut,
    responses={503: {"model": HealthOut, "description": "DynamoDB or the broker is down."}},
)
@router.get("/health/", include_in_schema=False)
async def health(request: Request) -> JSONResponse:
    """200 when DynamoDB and the broker answer, 503 otherwise."""
    settings: Settings = request.app.state.settings
    repo: StatsRepository | None = getattr(request.app.state, "repo", None)
    dynamodb_ok, broker_ok = await asyncio.gather(
        repo.ping() if repo is not None else _false(), broker_answers(settings.rabbitmq_url)
    )
    ok = dynamodb_ok and broker_ok
    body: dict[str, Any] = {
        "status": "ok" if ok else "unavailable",
        "checks": {"dynamodb": "ok" if dynamodb_ok else "down", "broker": "ok" if broker_ok else "down"},
    }
    return JSONResponse(body, status_code=200 if ok else 503)


async def _false() -> bool:
    return False


async def broker_answers(url: str) -> bool:
    """Whether the broker accepts a TCP connection within a second (as the core's health checks)."""
    parsed = urlparse(url)
    try:
        async with asyncio.timeout(1.0):
            _, writer = await asyncio.open_connection(parsed.hostname or "127.0.0.1", parsed.port or 5672)
    except (OSError, TimeoutError):
        return False
    writer.close()
    return True
