"""A router whose routes answer with and without the trailing slash (no redirects)."""

from __future__ import annotations

from rest_framework.routers import SimpleRouter

OPTIONAL_SLASH = "/?"


class Router(SimpleRouter):
    def __init__(self) -> None:
        super().__init__()
        # SimpleRouter turns any truthy `trailing_slash` argument into "/", so set the pattern here.
        self.trailing_slash = OPTIONAL_SLASH
