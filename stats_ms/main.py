"""The statistics HTTP service: `uvicorn stats_ms.main:app --host 127.0.0.1 --port 8001`."""

from __future__ import annotations

import importlib.util
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.openapi.utils import get_openapi
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from observability.logs import configure_logging
from observability.metrics import ENABLED as METRICS_ENABLED
from observability.metrics import AsgiMetricsMiddleware, serve_metrics
from stats_ms.api import router
from stats_ms.auth import BlockedUsers, TokenVerifier
from stats_ms.aws import dynamodb_resource
from stats_ms.errors import install_error_handlers
from stats_ms.repository import StatsRepository
from stats_ms.settings import Settings, get_settings

logger = logging.getLogger(__name__)


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Open the DynamoDB resource once for the process and make sure the tables exist."""
    settings: Settings = app.state.settings
    if app.state.metrics_server:
        serve_metrics("stats-api")
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


# What a 503 asks the client to wait before retrying (the core answers the same).
RETRY_AFTER_SECONDS = 5


class _ResponseHeaders:
    """Adds headers to the start of every HTTP answer; a subclass says which (`headers_for`)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    def headers_for(self, scope: Scope, status: int, present: set[bytes]) -> list[tuple[bytes, bytes]]:
        """The headers to add to an answer with `status`, given the (lower-case) names it has."""
        raise NotImplementedError

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                extra = self.headers_for(scope, message["status"], {name.lower() for name, _ in headers})
                if extra:
                    message = {**message, "headers": headers + extra}
            await send(message)

        await self.app(scope, receive, send_with_headers)


class RetryAfterOn503(_ResponseHeaders):
    """Every 503 (DynamoDB or the broker away, whichever handler answered) says when to retry."""

    def headers_for(self, scope: Scope, status: int, present: set[bytes]) -> list[tuple[bytes, bytes]]:
        if status == 503 and b"retry-after" not in present:
            return [(b"retry-after", str(RETRY_AFTER_SECONDS).encode())]
        return []


class SecurityHeaders(_ResponseHeaders):
    """Every answer is `X-Content-Type-Options: nosniff`; an answer to a request that carried
    credentials (`Authorization`) is `Cache-Control: no-store`, so no shared cache keeps one
    owner's figures (the core does the same)."""

    def headers_for(self, scope: Scope, status: int, present: set[bytes]) -> list[tuple[bytes, bytes]]:
        extra = [(b"x-content-type-options", b"nosniff")]
        authenticated = any(name.lower() == b"authorization" for name, _ in scope.get("headers", []))
        if authenticated and b"cache-control" not in present:
            extra.append((b"cache-control", b"no-store"))
        return extra


def install_openapi(app: FastAPI) -> None:
    """The schema as the service answers: errors are 400 with the error body (never FastAPI's
    422), and the figures take the core's bearer token."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(title=app.title, version=app.version, routes=app.routes)
            for item in schema.get("paths", {}).values():
                for operation in item.values():
                    operation.get("responses", {}).pop("422", None)
            components = schema.setdefault("components", {})
            for unused in ("HTTPValidationError", "ValidationError"):
                components.get("schemas", {}).pop(unused, None)
            components["securitySchemes"] = {
                "BearerAuth": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
            }
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


DOCS_ASSETS_URL = "/docs-assets"


def docs_assets_dir() -> Path:
    """The Swagger UI and ReDoc files of drf-spectacular-sidecar (the core serves the same ones),
    found by path: the package's __init__ imports Django, which this service never loads."""
    spec = importlib.util.find_spec("drf_spectacular_sidecar")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("drf-spectacular-sidecar is not installed (it is in Pipfile.lock)")
    return Path(next(iter(spec.submodule_search_locations))) / "static" / "drf_spectacular_sidecar"


def install_docs(app: FastAPI) -> None:
    """/docs (Swagger UI) and /redoc from local files: no CDN, no outside fonts, no online validator."""
    swagger, redoc = f"{DOCS_ASSETS_URL}/swagger-ui-dist", f"{DOCS_ASSETS_URL}/redoc/bundles"
    app.mount(DOCS_ASSETS_URL, StaticFiles(directory=docs_assets_dir()), name="docs-assets")

    async def swagger_ui() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=str(app.openapi_url),
            title=f"{app.title} - Swagger UI",
            swagger_js_url=f"{swagger}/swagger-ui-bundle.js",
            swagger_css_url=f"{swagger}/swagger-ui.css",
            swagger_favicon_url=f"{swagger}/favicon-32x32.png",
            swagger_ui_parameters={"validatorUrl": None},
        )

    async def redoc_ui() -> HTMLResponse:
        return get_redoc_html(
            openapi_url=str(app.openapi_url),
            title=f"{app.title} - ReDoc",
            redoc_js_url=f"{redoc}/redoc.standalone.js",
            redoc_favicon_url=f"{swagger}/favicon-32x32.png",
            with_google_fonts=False,
        )

    for path in ("/docs", "/docs/"):
        app.add_api_route(path, swagger_ui, methods=["GET"], include_in_schema=False)
    for path in ("/redoc", "/redoc/"):
        app.add_api_route(path, redoc_ui, methods=["GET"], include_in_schema=False)


def create_app(settings: Settings | None = None, *, metrics_server: bool = False) -> FastAPI:
    """The FastAPI application, configured by `settings` (default: the environment); the process's
    own app (`app` below) also serves the metrics on the stats-api metrics port."""
    app = FastAPI(
        title="Innotter statistics",
        version="1.0.0",
        lifespan=lifespan,
        redirect_slashes=False,
        docs_url=None,  # FastAPI's own pages load their scripts from a CDN: install_docs serves ours
        redoc_url=None,
    )
    app.state.settings = settings or get_settings()
    app.state.metrics_server = metrics_server
    app.state.verifier = TokenVerifier(app.state.settings)
    app.state.blocked_users = BlockedUsers(app.state.settings)
    install_error_handlers(app)
    app.add_middleware(RetryAfterOn503)
    app.add_middleware(SecurityHeaders)
    if METRICS_ENABLED:
        app.add_middleware(AsgiMetricsMiddleware)  # outermost: times whatever answered
    install_openapi(app)
    app.include_router(router)
    install_docs(app)
    return app


# uvicorn has configured its loggers before it imports this module: from here on they, like every
# process, log JSON lines (observability/logs.py; its access log stays on, as it always was).
configure_logging()
app = create_app(metrics_server=True)
