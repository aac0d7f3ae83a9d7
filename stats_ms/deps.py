"""FastAPI dependencies: the repository opened in the lifespan and the caller from the token."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from stats_ms.auth import BlockedUsers, TokenUser, TokenVerifier
from stats_ms.errors import ServiceUnavailable
from stats_ms.repository import StatsRepository


def get_repo(request: Request) -> StatsRepository:
    repo: StatsRepository | None = getattr(request.app.state, "repo", None)
    if repo is None:
        raise ServiceUnavailable("The statistics store is unavailable.")
    return repo


async def get_current_user(request: Request) -> TokenUser:
    """The token's user; 401 for a bad token, 403 `user_blocked` for a blocked user's token."""
    verifier: TokenVerifier = request.app.state.verifier
    user = verifier.verify_header(request.headers.get("Authorization"))
    blocked: BlockedUsers = request.app.state.blocked_users
    await blocked.check(user, get_repo(request))
    return user


StatsRepo = Annotated[StatsRepository, Depends(get_repo)]
CurrentUser = Annotated[TokenUser, Depends(get_current_user)]
