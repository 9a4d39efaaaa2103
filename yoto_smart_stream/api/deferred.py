"""Routers imported on first use: a cold Lambda builds only the routes its first request needs.

Importing a router module builds every one of its routes (FastAPI analyses each endpoint's
signature and builds pydantic models for its parameters and responses), and it imports what the
domain needs. That was most of what the app added to a FastAPI hello-world's cold start
(``bench/app_bench.py --importtime``), while the request a cold Lambda serves first, often
``/api/health``, needs one router. ``DeferredRouter`` holds a router's place in the app's route
list and knows the path prefixes its routes live under; the first request under one of them
imports the module and includes the router in that same place, so from then on the app is the
one ``include_router`` would have built, in the same matching order.

Whatever needs every route first calls ``include_every_router``: the OpenAPI document and the
405 answer of the unknown-path route (``main``). ``tests/app/test_deferred_routers.py`` checks
that every route lives under its router's prefixes.
"""

from __future__ import annotations

import importlib
import threading
from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI
from starlette.datastructures import URLPath
from starlette.routing import BaseRoute, Match, get_route_path
from starlette.types import Receive, Scope, Send


class DeferredRouter(BaseRoute):
    """Stands in for ``<module>.router`` until a request arrives under one of ``prefixes``."""

    def __init__(self, app: FastAPI, module: str, prefixes: Sequence[str]) -> None:
        self._app = app
        self.module = module
        self.prefixes = tuple(prefixes)
        self._included: BaseRoute | None = None
        self._lock = threading.Lock()

    def covers(self, path: str) -> bool:
        """Whether ``path`` is one of the prefixes or lies below one (whole segments only)."""
        return any(path == prefix or path.startswith(prefix + "/") for prefix in self.prefixes)

    def include(self) -> BaseRoute:
        """Import the router and put it in this placeholder's place; idempotent."""
        with self._lock:
            if self._included is None:
                router = importlib.import_module(self.module).router
                routes = self._app.router.routes
                # include_router appends; move the included router to where this one stands.
                self._app.include_router(router)
                included = routes.pop()
                routes[next(i for i, route in enumerate(routes) if route is self)] = included
                self._included = included
            return self._included

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        if scope["type"] not in ("http", "websocket") or not self.covers(get_route_path(scope)):
            return Match.NONE, {}
        return self.include().matches(scope)

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        # Only the request that included the router gets here (the router has taken this
        # placeholder's place in the list since), so hand it on.
        await self.include().handle(scope, receive, send)

    def url_path_for(self, name: str, /, **path_params: Any) -> URLPath:
        return self.include().url_path_for(name, **path_params)

    def __repr__(self) -> str:
        return f"DeferredRouter({self.module!r}, prefixes={self.prefixes!r})"


def include_every_router(app: FastAPI) -> None:
    """Include every router still deferred (for whatever needs the whole route list)."""
    for route in list(app.router.routes):
        if isinstance(route, DeferredRouter):
            route.include()
