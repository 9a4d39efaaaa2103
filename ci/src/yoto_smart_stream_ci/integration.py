"""The post-deploy integration suite (develop runs it on dev after every deploy).

Where the smoke test asks "is it up?", this asks "does every feature work end to end?", as a
well-behaved client of the deployed API would use it (real HTTP, the session cookie, presigned
S3 URLs, the linked Yoto account):

1. **full API**: health, readiness, admin login, the admin user lifecycle (create, log in as,
   disable, delete), the Yoto link status, the player list and one player's detail and events;
2. **audio streaming**: upload through a presigned PUT, ``complete``, then the public
   ``/audio/{id}`` (no cookie, as a Yoto player fetches it) redirects to bytes equal to the upload;
3. **card creation**: a streaming MYO card for that audio, created at the Yoto API, listed,
   then deleted again;
4. **token refresh**: the stored Yoto access token is marked expired (through the app's own
   token store, which owns that item), the next player list must refresh it at Yoto, and the
   store must then hold a new, unexpired token.

Everything the suite creates it deletes again, also when a check fails. Player control is left
out on purpose: it would change what a family's real player is doing.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, Protocol

import httpx

from yoto_smart_stream.core.storage.tokens import StoredTokens
from yoto_smart_stream.core.yoto.client import TokenSet
from yoto_smart_stream_ci.smoke import (
    CheckResult,
    Session,
    SmokeFailure,
    SmokeReport,
    describe,
    log_in,
    wait_for_health,
)

TITLE = "Integration test"
AUDIO_PREFIX = b"ID3yoto-integration-"
# Usernames the suite creates start with this, so a leftover is recognisable as ours.
USER_PREFIX = "it-"


class TokenStore(Protocol):
    """The part of the app's ``storage.tokens.TokenStore`` the suite needs (it owns the token
    item)."""

    def load(self) -> StoredTokens | None: ...

    def store(self, tokens: TokenSet) -> None: ...


def _expect(response: httpx.Response, *statuses: int, what: str) -> Any:
    if response.status_code not in statuses:
        raise SmokeFailure(f"{what}: {describe(response)}")
    return response.json() if response.content else None


def run_integration(
    base_url: str,
    *,
    admin_username: str,
    admin_password: str | None,
    tokens: TokenStore,
    cold_start_budget_s: float = 60.0,
    transport: httpx.BaseTransport | None = None,
) -> SmokeReport:
    """Run every check against ``base_url`` (the ApiUrl, stage prefix included)."""
    report = SmokeReport(base_url=base_url, title=TITLE)
    root = base_url.rstrip("/")
    cleanup: list[Callable[[], object]] = []
    with (
        httpx.Client(base_url=root, timeout=30.0, transport=transport) as client,
        httpx.Client(timeout=30.0, transport=transport) as plain,
    ):
        admin = Session(client)
        state: dict[str, Any] = {}

        def check(name: str, run: Callable[[], str]) -> bool:
            try:
                report.checks.append(CheckResult(name, True, run()))
            except (SmokeFailure, httpx.HTTPError) as error:
                report.checks.append(CheckResult(name, False, str(error) or type(error).__name__))
                return False
            return True

        def user_lifecycle() -> str:
            username = f"{USER_PREFIX}{secrets.token_hex(4)}"
            password = secrets.token_urlsafe(18)
            created = admin.request(
                "POST",
                "/api/admin/users",
                json={"username": username, "password": password, "role": "user"},
            )
            _expect(created, 201, what="create user")
            cleanup.append(lambda: admin.request("DELETE", f"/api/admin/users/{username}"))
            listed = _expect(admin.request("GET", "/api/admin/users"), 200, what="list users")
            if username not in {u["username"] for u in listed}:
                raise SmokeFailure(f"the new user {username} is not in the user list")
            member = Session(client)
            log_in(member, username, password)
            forbidden = member.request("GET", "/api/admin/users")
            if forbidden.status_code != 403:
                raise SmokeFailure(f"a plain user may list users: {describe(forbidden)}")
            _expect(
                admin.request("POST", f"/api/admin/users/{username}/disable"),
                200,
                what="disable user",
            )
            after = member.request("GET", "/api/user/session")
            if after.status_code != 401:
                raise SmokeFailure(f"a disabled user's session still works: {describe(after)}")
            _expect(
                admin.request("DELETE", f"/api/admin/users/{username}"), 200, what="delete user"
            )
            cleanup.pop()
            return f"created, logged in as, disabled and deleted {username}"

        def yoto_account() -> str:
            status = _expect(admin.request("GET", "/api/auth/status"), 200, what="link status")
            if not status.get("linked"):
                raise SmokeFailure(
                    "no Yoto account is linked in this environment: link one from the "
                    "dashboard (Link Yoto account) once, then run the suite again"
                )
            players = _expect(admin.request("GET", "/api/players"), 200, what="player list")
            if not players:
                return "linked; the account has no players to inspect"
            player_id = players[0]["id"]
            detail = admin.request("GET", f"/api/players/{player_id}")
            _expect(detail, 200, what="player detail")
            events = admin.request("GET", f"/api/players/{player_id}/events", params={"limit": 5})
            page = _expect(events, 200, what="player events")
            return (
                f"linked; {len(players)} player(s), detail and {len(page['items'])} recent "
                f"event(s) of {player_id}"
            )

        def audio_streaming() -> str:
            payload = AUDIO_PREFIX + secrets.token_bytes(256)
            ticket = _expect(
                admin.request(
                    "POST",
                    "/api/audio/uploads",
                    json={
                        "filename": "integration-test.mp3",
                        "content_type": "audio/mpeg",
                        "size_bytes": len(payload),
                        "title": "Pipeline integration test",
                    },
                ),
                200,
                201,
                what="create upload",
            )
            audio_id = ticket["audio_id"]
            cleanup.append(lambda: admin.request("DELETE", f"/api/audio/{audio_id}"))
            put = plain.request(
                ticket.get("method", "PUT"),
                ticket["upload_url"],
                content=payload,
                headers=ticket.get("headers") or {},
            )
            if put.status_code not in (200, 204):
                raise SmokeFailure(f"presigned upload: {describe(put)}")
            done = _expect(
                admin.request("POST", f"/api/audio/{audio_id}/complete"), 200, what="complete"
            )
            if done["status"] != "ready" or done["size_bytes"] != len(payload):
                raise SmokeFailure(f"complete answered {done!r}")
            listed = _expect(admin.request("GET", "/api/audio"), 200, what="list audio")
            if audio_id not in {a["audio_id"] for a in listed}:
                raise SmokeFailure(f"audio {audio_id} is not in the library")
            # The player's view: no cookie, follow the redirect to the presigned GET.
            redirect = client.get(f"/audio/{audio_id}")
            if redirect.status_code not in (302, 307):
                raise SmokeFailure(f"stream redirect: {describe(redirect)}")
            got = plain.get(redirect.headers["location"])
            if got.status_code != 200 or got.content != payload:
                raise SmokeFailure(
                    f"the streamed audio was HTTP {got.status_code}, {len(got.content)} bytes, "
                    f"not the {len(payload)} uploaded"
                )
            state["audio_id"] = audio_id
            return f"{len(payload)} bytes uploaded, completed and streamed intact ({audio_id})"

        def card_creation() -> str:
            audio_id = state.get("audio_id")
            if audio_id is None:
                raise SmokeFailure("no audio to put on a card (the streaming check failed)")
            card = _expect(
                admin.request(
                    "POST",
                    "/api/cards/streaming",
                    json={"title": "Pipeline integration test", "audio_ids": [audio_id]},
                ),
                201,
                what="create card",
            )
            card_id = card["card_id"]
            cleanup.insert(0, lambda: admin.request("DELETE", f"/api/cards/streaming/{card_id}"))
            cards = _expect(admin.request("GET", "/api/cards/streaming"), 200, what="list cards")
            if card_id not in {c["card_id"] for c in cards}:
                raise SmokeFailure(f"card {card_id} is not in the card list")
            _expect(
                admin.request("DELETE", f"/api/cards/streaming/{card_id}"), 200, what="delete card"
            )
            cleanup.pop(0)
            return f"card {card_id} created at Yoto, listed and deleted"

        def token_refresh() -> str:
            before = tokens.load()
            if before is None:
                raise SmokeFailure("no Yoto tokens are stored (is an account linked?)")
            with _expired(tokens, before):
                _expect(admin.request("GET", "/api/players"), 200, what="player list")
                after = tokens.load()
            if after is None or after.access_token == before.access_token:
                raise SmokeFailure("the API answered without refreshing the expired token")
            if after.expires_at <= time.time():
                raise SmokeFailure("the refreshed token is already expired")
            return (
                f"expired token refreshed at Yoto; the new one is valid for "
                f"{after.expires_at - time.time():.0f}s"
            )

        try:
            steps: list[tuple[str, Callable[[], str]]] = [
                ("health", lambda: wait_for_health(admin, cold_start_budget_s)),
                ("ready", lambda: f"{len(_ready(admin))} dependencies ready"),
                ("admin login", lambda: log_in(admin, admin_username, admin_password)),
                ("user lifecycle", user_lifecycle),
                ("yoto account and players", yoto_account),
                ("audio streaming", audio_streaming),
                ("card creation", card_creation),
                ("token refresh", token_refresh),
            ]
            for index, (name, run) in enumerate(steps):
                # Nothing after the login can pass without it; later checks are independent.
                if not check(name, run) and index < 3:
                    break
        finally:
            for undo in cleanup:
                try:
                    undo()
                except httpx.HTTPError as error:
                    print(f"cleanup failed: {error}", flush=True)
    return report


def _ready(session: Session) -> dict[str, Any]:
    body = _expect(session.request("GET", "/api/ready"), 200, what="ready")
    checks: dict[str, Any] = body.get("checks", {})
    return checks


@contextmanager
def _expired(tokens: TokenStore, current: StoredTokens) -> Iterator[None]:
    """Store ``current`` again with an expiry in the past, so the next API call must refresh.

    The tokens themselves are untouched (the refresh token stays the one Yoto expects); only
    the expiry moves. If the API never refreshes, the original expiry is put back.
    """
    tokens.store(TokenSet(current.access_token, current.refresh_token, time.time() - 60))
    try:
        yield
    finally:
        latest = tokens.load()
        if latest is not None and latest.access_token == current.access_token:
            tokens.store(TokenSet(current.access_token, current.refresh_token, current.expires_at))
