"""FastAPI dependencies: the repository opened in the lifespan and the caller from the token."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from stats_ms.auth import TokenUser, TokenVerifier
from stats_ms.errors import ServiceUnavailable
from stats_ms.repository import StatsRepository


def get_repo(request: Request) -> StatsRepository:
    repo: StatsRepository | None = getattr(request.app.state, "repo", None)
    if repo is None:
        raise ServiceUnavailable("The statistics store is unavailable.")
    return repo


def get_current_user(request: Request) -> TokenUser:
    verifier: TokenVerifier = request.app.state.verifier
    return verifier.verify_header(request.headers.get("Authorization"))


StatsRepo = Annotated[StatsRepository, Depends(get_repo)]
CurrentUser = Annotated[TokenUser, Depends(get_current_user)]
