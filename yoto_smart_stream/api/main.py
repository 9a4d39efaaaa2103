"""The FastAPI application factory."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute, iter_route_contexts
from fastapi.staticfiles import StaticFiles
from starlette.routing import compile_path

from yoto_smart_stream.api import dashboard
from yoto_smart_stream.api.deferred import DeferredRouter, include_every_router
from yoto_smart_stream.api.dependencies import settings_dependency
from yoto_smart_stream.api.errors import validation_error
from yoto_smart_stream.api.middleware import BodyLimit, CrossSiteGuard
from yoto_smart_stream.api.secrets import SecretUnavailableError
from yoto_smart_stream.core.settings import Settings, get_settings
from yoto_smart_stream.core.yoto.client import YotoError

STATIC_DIR = Path(__file__).resolve().parent / "static"
# One router per domain, in matching order, each with the path prefixes its routes live under:
# a router is imported on the first request under one of them (deferred.py says why).
ROUTERS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("yoto_smart_stream.api.routers.health", ("/api/health", "/api/ready")),
    ("yoto_smart_stream.api.routers.users", ("/api/user", "/api/admin")),
    ("yoto_smart_stream.api.routers.yoto_auth", ("/api/auth",)),
    ("yoto_smart_stream.api.routers.players", ("/api/players",)),
    ("yoto_smart_stream.api.routers.audio", ("/api/audio", "/audio")),
    ("yoto_smart_stream.api.routers.cards", ("/api/cards",)),
)
logger = logging.getLogger("yoto_smart_stream")


async def _yoto_error(request: Request, exc: Exception) -> JSONResponse:
    status_code = exc.status_code if isinstance(exc, YotoError) else 502
    logger.warning("Yoto call failed on %s: %s", request.url.path, exc)
    return JSONResponse(status_code=status_code, content={"detail": str(exc)})


async def _secret_unavailable(request: Request, exc: Exception) -> JSONResponse:
    # The log gets the parameter's name and the AWS error; the (often anonymous) caller does not.
    logger.error("Secret unavailable on %s: %s", request.url.path, exc)
    public = exc.public if isinstance(exc, SecretUnavailableError) else "Unavailable."
    return JSONResponse(status_code=503, content={"detail": public})


async def _aws_error(request: Request, exc: Exception) -> JSONResponse:
    logger.exception("AWS call failed on %s", request.url.path)
    return JSONResponse(
        status_code=503,
        content={"detail": "Storage is unavailable right now; try again shortly."},
    )


async def _unknown_api_path(request: Request, unknown: str) -> JSONResponse:
    # Without this, unknown /api paths would fall through to the dashboard's static files.
    # It matches every method, so it also catches a known path with the wrong method: that
    # is a 405 with the methods the path does take.
    include_every_router(request.app)
    allowed: set[str] = set()
    for context in iter_route_contexts(request.app.router.routes):
        route = context.original_route
        if not isinstance(route, APIRoute) or not route.include_in_schema or not context.path:
            continue
        if compile_path(context.path)[0].match(request.scope["path"]):
            allowed |= route.methods or set()
    if allowed:
        return JSONResponse(
            status_code=405,
            content={"detail": "Method not allowed on this endpoint."},
            headers={"Allow": ", ".join(sorted(allowed))},
        )
    return JSONResponse(status_code=404, content={"detail": "No such API endpoint."})


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the app. ``settings`` overrides the environment (tests and benchmarks)."""
    effective = settings or get_settings()
    app = FastAPI(
        title="Yoto Smart Stream",
        # The interactive docs are a convenience for local debugging only.
        docs_url="/api/docs" if effective.debug else None,
        redoc_url=None,
        openapi_url="/api/openapi.json" if effective.debug else None,
    )
    if settings is not None:
        # async like settings_dependency: FastAPI runs a plain callable in a worker thread, and
        # Mangum gives each invocation a new event loop, so a lambda here cost a new thread per
        # request (the Lambda handler passes its settings).
        async def given_settings() -> Settings:
            return settings

        app.dependency_overrides[settings_dependency] = given_settings
    app.router.routes.extend(DeferredRouter(app, module, prefixes) for module, prefixes in ROUTERS)
    # The OpenAPI document lists every route (FastAPI's documented hook for extending it).
    build_openapi = app.openapi

    def openapi_of_every_router() -> dict[str, Any]:
        include_every_router(app)
        return build_openapi()

    app.openapi = openapi_of_every_router  # type: ignore[method-assign]
    app.add_api_route(
        "/api/{unknown:path}",
        _unknown_api_path,
        methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
        include_in_schema=False,
    )
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(YotoError, _yoto_error)
    app.add_exception_handler(SecretUnavailableError, _secret_unavailable)
    app.add_exception_handler(ClientError, _aws_error)
    app.add_exception_handler(BotoCoreError, _aws_error)
    # Last, so API routes win: locally and in tests the dashboard is same-origin; in AWS
    # CloudFront serves it from S3 instead.
    if STATIC_DIR.is_dir():
        app.include_router(dashboard.router)
        app.mount("/", StaticFiles(directory=STATIC_DIR, html=True), name="dashboard")
    # Added last = outermost: the body limit runs first, then the cross-site check.
    app.add_middleware(CrossSiteGuard, public_url=effective.public_url)
    app.add_middleware(BodyLimit, max_bytes=effective.max_request_body_bytes)
    return app
