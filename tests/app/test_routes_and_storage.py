"""Every protected route rejects anonymous calls; request paths never Scan the table."""

from __future__ import annotations

import re
from typing import Any

import httpx
from fastapi.routing import APIRoute, iter_route_contexts

from tests.app.conftest import Stack
from tests.app.test_audio_and_cards import upload
from tests.app.test_yoto_and_players import PLAYERS, write_event
from yoto_smart_stream.api.deferred import include_every_router
from yoto_smart_stream.core.aws import aws_clients

# (method, path) pairs anyone may call. Everything else must answer 401 without a session.
PUBLIC = {
    ("GET", "/api/health"),
    ("GET", "/api/ready"),
    ("POST", "/api/user/login"),
    ("GET", "/audio/{audio_id}"),  # Yoto players fetch trackUrl without our cookie
    ("GET", "/"),  # the dashboard page (its policy header follows the settings)
    ("GET", "/index.html"),
}
# The JSON 404 for unknown /api paths answers every method and reveals nothing.
UNKNOWN_API_PATH = "/api/{unknown:path}"


def test_every_non_public_route_rejects_an_unauthenticated_call(stack: Stack) -> None:
    public_seen: set[tuple[str, str]] = set()
    protected: list[tuple[str, str, int]] = []
    # Routers are included on first use; this test walks every route.
    include_every_router(stack.server.app)
    with stack.client() as client:
        # FastAPI keeps included routers nested; iter_route_contexts yields each route with
        # its full path (prefix included).
        for route in iter_route_contexts(stack.server.app.routes):
            if not isinstance(route.original_route, APIRoute) or route.path == UNKNOWN_API_PATH:
                continue
            assert route.path is not None
            assert route.methods
            # 32 zeros fit every id pattern, so only authentication can stop the call.
            path = re.sub(r"\{[^}]+\}", "0" * 32, route.path)
            for method in sorted(route.methods):
                if (method, route.path) in PUBLIC:
                    public_seen.add((method, route.path))
                    continue
                response = client.request(method, path, json={})
                protected.append((method, route.path, response.status_code))
                assert response.status_code == 401, (method, route.path, response.text)
                assert response.json()["detail"]
    assert public_seen == PUBLIC  # the allow-list names real routes, nothing more
    assert len(protected) >= 20
    assert stack.yoto.requests == []  # rejected before anything reached Yoto


def test_request_paths_never_scan(stack: Stack, admin: httpx.Client) -> None:
    operations: list[str] = []

    def record(model: Any, **kwargs: Any) -> None:
        operations.append(model.name)

    # The served app shares this process's cached clients, so the hook sees its calls.
    aws_clients(stack.server.settings).dynamodb.meta.events.register("before-call.dynamodb", record)
    stack.link_yoto(expires_in=30)  # forces a refresh (lock + conditional write) on first use
    stack.yoto.set_players(PLAYERS)
    write_event(stack.table_name, "kitchen1", "2026-11-25T07:00:00Z", 10)
    admin.post("/api/admin/users", json={"username": "kid", "password": "twelve chars!"})
    tour = [
        ("GET", "/api/ready", None),
        ("GET", "/api/user/session", None),
        ("GET", "/api/admin/users", None),
        ("POST", "/api/admin/users/kid/disable", None),
        ("DELETE", "/api/admin/users/kid", None),
        ("GET", "/api/auth/status", None),
        ("POST", "/api/auth/start", None),
        ("POST", "/api/auth/poll", None),
        ("GET", "/api/players", None),
        ("GET", "/api/players/kitchen1", None),
        ("POST", "/api/players/kitchen1/control", {"action": "stop"}),
        ("GET", "/api/players/kitchen1/events", None),
        ("GET", "/api/audio", None),
        ("GET", "/api/cards/streaming", None),
    ]
    for method, path, body in tour:
        response = admin.request(method, path, json=body)
        assert response.status_code < 400, (path, response.text)
    audio_id = upload(admin)
    assert admin.post(f"/api/audio/{audio_id}/complete").status_code == 200
    card = admin.post("/api/cards/streaming", json={"title": "t", "audio_ids": [audio_id]})
    assert card.status_code == 201
    assert admin.delete(f"/api/cards/streaming/{card.json()['card_id']}").status_code == 200
    assert httpx.get(f"{stack.base_url}/audio/{audio_id}").status_code == 307
    assert admin.delete(f"/api/audio/{audio_id}").status_code == 200
    assert admin.post("/api/user/logout").status_code == 200

    assert "Scan" not in operations
    # The hook really saw the traffic: keyed reads, partition queries, conditional writes.
    assert {"GetItem", "Query", "PutItem", "UpdateItem", "DeleteItem"} <= set(operations)
    assert stack.yoto.refresh_uses == 1
