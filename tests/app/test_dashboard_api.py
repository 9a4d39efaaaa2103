"""Endpoints the dashboard needs: enabling users, rewriting a card's tracks, the page's policy."""

from __future__ import annotations

import re

import httpx

from tests.app.conftest import Stack
from tests.app.test_audio_and_cards import upload


def test_an_admin_enables_a_disabled_user(stack: Stack, admin: httpx.Client) -> None:
    password = "a long enough password"
    admin.post(
        "/api/admin/users", json={"username": "grandma", "password": password}
    ).raise_for_status()
    assert admin.post("/api/admin/users/grandma/disable").json()["disabled"] is True
    with stack.client() as grandma:
        refused = grandma.post(
            "/api/user/login", json={"username": "grandma", "password": password}
        )
        assert refused.status_code == 401
    enabled = admin.post("/api/admin/users/grandma/enable")
    assert enabled.status_code == 200
    assert enabled.json()["disabled"] is False
    with stack.client() as grandma:
        again = grandma.post("/api/user/login", json={"username": "grandma", "password": password})
        assert again.status_code == 200, again.text
    assert admin.post("/api/admin/users/nobody/enable").status_code == 404


def test_only_admins_enable_users(stack: Stack, admin: httpx.Client) -> None:
    password = "a long enough password"
    admin.post("/api/admin/users", json={"username": "kid", "password": password})
    with stack.client() as kid:
        kid.post("/api/user/login", json={"username": "kid", "password": password})
        assert kid.post("/api/admin/users/kid/enable").status_code == 403


def _ready(admin: httpx.Client) -> str:
    audio_id = upload(admin)
    admin.post(f"/api/audio/{audio_id}/complete").raise_for_status()
    return audio_id


def _track_urls(stack: Stack, card_id: str) -> list[str]:
    card = stack.yoto.content[card_id]
    return [t["trackUrl"] for c in card["content"]["chapters"] for t in c["tracks"]]


def test_editing_a_card_rewrites_the_same_yoto_card_in_the_new_order(
    stack: Stack, admin: httpx.Client
) -> None:
    stack.link_yoto()
    first, second, third = (_ready(admin) for _ in range(3))
    created = admin.post(
        "/api/cards/streaming", json={"title": "Bedtime", "audio_ids": [first, second, third]}
    ).json()
    card_id = created["card_id"]
    assert [u.rsplit("/", 1)[-1] for u in _track_urls(stack, card_id)] == [first, second, third]

    edited = admin.put(
        f"/api/cards/streaming/{card_id}", json={"title": "Sleepy", "audio_ids": [third, first]}
    )
    assert edited.status_code == 200, edited.text
    assert edited.json()["audio_ids"] == [third, first]
    assert edited.json()["created_at"] == created["created_at"]
    assert list(stack.yoto.content) == [card_id]  # the same card, not a new one
    assert stack.yoto.content[card_id]["title"] == "Sleepy"
    assert [u.rsplit("/", 1)[-1] for u in _track_urls(stack, card_id)] == [third, first]
    listed = admin.get("/api/cards/streaming").json()
    assert [(c["card_id"], c["audio_ids"]) for c in listed] == [(card_id, [third, first])]

    missing = admin.put("/api/cards/streaming/nosuch", json={"title": "x", "audio_ids": [first]})
    assert missing.status_code == 404


def test_dashboard_policy_lets_uploads_reach_this_environments_storage(stack: Stack) -> None:
    """The moto endpoint is plain http: a hard-coded ``https:`` rule would block the upload."""
    endpoint = stack.server.settings.aws_endpoint_url or ""
    assert endpoint.startswith("http://127.0.0.1:")
    for path in ("/", "/index.html"):
        page = httpx.get(f"{stack.base_url}{path}")
        assert page.status_code == 200
        policy = page.headers["content-security-policy"]
        assert f"connect-src 'self' {endpoint};" in policy
        assert "https:;" not in policy
        assert "script-src 'self';" in policy
        assert "object-src 'none'" in policy
        meta = re.search(r'http-equiv="Content-Security-Policy"\s+content="([^"]+)"', page.text)
        assert meta is not None
        assert meta.group(1) == policy
