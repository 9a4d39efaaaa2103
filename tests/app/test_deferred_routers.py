"""Routers included on first use (yoto_smart_stream/api/deferred.py) still add up to the app."""

from __future__ import annotations

import importlib

from fastapi.routing import APIRoute, iter_route_contexts

from yoto_smart_stream.api.deferred import DeferredRouter, include_every_router
from yoto_smart_stream.api.main import ROUTERS, create_app
from yoto_smart_stream.core.settings import Settings


def test_every_route_lives_under_its_routers_prefixes() -> None:
    """A route outside its router's prefixes would never be reached before something else
    included the router: each prefix list must cover its router's routes."""
    app = create_app(Settings())
    include_every_router(app)
    prefixes = {module: DeferredRouter(app, module, paths) for module, paths in ROUTERS}
    seen: dict[str, int] = dict.fromkeys(prefixes, 0)
    for context in iter_route_contexts(app.router.routes):
        route = context.original_route
        if not isinstance(route, APIRoute) or route.endpoint.__module__ not in prefixes:
            continue
        assert context.path is not None
        assert prefixes[route.endpoint.__module__].covers(context.path), context.path
        seen[route.endpoint.__module__] += 1
    assert all(seen.values()), seen  # every router module was found and has routes


def test_prefixes_are_whole_path_segments() -> None:
    deferred = DeferredRouter(create_app(Settings()), "unused", ("/api/user",))
    assert deferred.covers("/api/user")
    assert deferred.covers("/api/user/login")
    assert not deferred.covers("/api/users")
    assert not deferred.covers("/api")


def test_including_keeps_the_matching_order() -> None:
    app = create_app(Settings())
    before = [route for route in app.router.routes if isinstance(route, DeferredRouter)]
    assert [route.module for route in before] == [module for module, _ in ROUTERS]
    include_every_router(app)
    assert not any(isinstance(route, DeferredRouter) for route in app.router.routes)
    modules = [
        context.original_route.endpoint.__module__
        for context in iter_route_contexts(app.router.routes)
        if isinstance(context.original_route, APIRoute)
    ]
    first_seen = list(dict.fromkeys(m for m in modules if m in dict(ROUTERS)))
    assert first_seen == [module for module, _ in ROUTERS]
    # The catch-all for unknown /api paths still comes after every router.
    assert modules.index("yoto_smart_stream.api.main") > max(
        i for i, m in enumerate(modules) if m in dict(ROUTERS)
    )


def test_the_openapi_document_of_a_fresh_app_lists_every_router() -> None:
    document = create_app(Settings(debug=True)).openapi()
    for module, _ in ROUTERS:
        router = importlib.import_module(module).router
        paths = {context.path for context in iter_route_contexts(router.routes) if context.path}
        assert paths & set(document["paths"]), module
