"""A fake Yoto cloud (OAuth server + REST API) over HTTP on 127.0.0.1.

It follows ``docs/yoto-api.md``: the device-code flow, rotating refresh tokens (a
refresh token works once; reusing it is rejected with ``invalid_grant`` as a rotating server
would), bearer-token REST for players and MYO content. Tests steer it with knobs::

    with running_yoto_fake() as yoto:
        tokens = yoto.issue_tokens()              # seed a linked account
        yoto.set_players([{"deviceId": "p1", "name": "Kitchen"}])
        yoto.set_player_state("p1", volume=35, playback="playing", battery=80)
        yoto.events_payload("p1")                # what p1 publishes on device/p1/data/events
        yoto.set_outage("down")                   # every request answers 503
        yoto.refresh_uses                         # successful refresh-token spends
        yoto.valid_access_tokens()                # e.g. the MQTT broker password

Both servers share one port: auth paths live under ``/oauth/...`` and REST paths under the
rest, so ``yoto.base_url`` serves as both YOTO_AUTH_BASE_URL and YOTO_API_BASE_URL
(``yoto.settings_env()`` returns both).
"""

from __future__ import annotations

import json
import secrets
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal
from urllib.parse import parse_qs, unquote, urlsplit

DEFAULT_CLIENT_ID = "fake-yoto-client-id"
DEVICE_CODE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
Playback = Literal["playing", "paused", "stopped"]
PollOutcome = Literal["authorization_pending", "slow_down", "expired_token", "access_denied"]
Outage = Literal["down", "error", "hang", "garbage"] | None
# Commands the REST command path accepts (mirrors the MQTT command topics).
KNOWN_COMMANDS = ("card/pause", "card/resume", "card/stop", "card/start", "volume/set")


@dataclass
class IssuedTokens:
    access_token: str
    refresh_token: str
    expires_in: int

    def as_json(self) -> dict[str, Any]:
        return {
            "access_token": self.access_token,
            "refresh_token": self.refresh_token,
            "expires_in": self.expires_in,
            "token_type": "Bearer",
        }


@dataclass
class _DeviceCode:
    device_code: str
    user_code: str
    expires_at: float
    approved: bool = False
    last_poll: float = 0.0


@dataclass
class FakePlayer:
    """What one player reports: REST status fields and the MQTT events payload's fields."""

    online: bool = True
    volume: int = 50
    playback: Playback = "stopped"
    card_id: str | None = None
    chapter_title: str | None = None
    track_title: str | None = None
    battery: int = 80
    charging: bool = False
    changed_at: float = field(default_factory=time.time)

    def rest_status(self, device_id: str) -> dict[str, Any]:
        """``GET /device-v2/{id}/status`` fields as the public client reads them."""
        return {
            "deviceId": device_id,
            "isOnline": self.online,
            "userVolumePercentage": self.volume,
            "batteryLevelPercentage": self.battery,
            "isCharging": self.charging,
            "activeCard": self.card_id or "none",
            # 0 none, 1 physical card, 2 remote (started from the app)
            "cardInsertionState": 2 if self.card_id else 0,
        }

    def apply(self, command: str, payload: dict[str, Any]) -> None:
        """A command as the player would carry it out (only an online player hears one)."""
        if not self.online:
            return
        if command == "volume/set" and isinstance(payload.get("volume"), int):
            self.volume = payload["volume"]
        elif command == "card/pause" and self.playback == "playing":
            self.playback = "paused"
        elif command == "card/resume" and self.card_id:
            self.playback = "playing"
        elif command == "card/stop":
            self.playback = "stopped"
        elif command == "card/start" and isinstance(payload.get("uri"), str):
            self.card_id = payload["uri"].rsplit("/", 1)[-1]
            self.playback = "playing"
        self.changed_at = time.time()


@dataclass
class FakeYotoState:
    client_id: str = DEFAULT_CLIENT_ID
    access_token_ttl: int = 3600
    # Access token -> expiry (epoch seconds). Revoked tokens are removed.
    access_tokens: dict[str, float] = field(default_factory=dict)
    # Refresh tokens that can still be spent (each exactly once).
    refresh_tokens: set[str] = field(default_factory=set)
    spent_refresh_tokens: set[str] = field(default_factory=set)
    refresh_uses: int = 0
    refresh_rejections: int = 0
    device_codes: dict[str, _DeviceCode] = field(default_factory=dict)
    forced_poll_outcomes: list[PollOutcome] = field(default_factory=list)
    minimum_poll_interval: float = 0.0
    players: list[dict[str, Any]] = field(default_factory=list)
    # Raw status fields that override what the player's state reports (odd firmware, tests).
    statuses: dict[str, dict[str, Any]] = field(default_factory=dict)
    player_states: dict[str, FakePlayer] = field(default_factory=dict)
    # Players whose status call answers 500 (one broken player among working ones).
    failing_statuses: set[str] = field(default_factory=set)
    commands: list[tuple[str, str, dict[str, Any]]] = field(default_factory=list)
    content: dict[str, dict[str, Any]] = field(default_factory=dict)
    outage: Outage = None
    hang_seconds: float = 5.0
    refresh_delay_seconds: float = 0.0
    requests: list[tuple[str, str]] = field(default_factory=list)


class FakeYoto:
    """Handle to a running fake: the knobs tests turn and the counters they read."""

    def __init__(self, base_url: str, state: FakeYotoState, lock: threading.Lock) -> None:
        self.base_url = base_url
        self.state = state
        self._lock = lock

    # -- wiring ----------------------------------------------------------------------------

    @property
    def client_id(self) -> str:
        return self.state.client_id

    def settings_env(self) -> dict[str, str]:
        """Environment variables that point ``Settings`` at this fake."""
        return {
            "YOTO_API_BASE_URL": self.base_url,
            "YOTO_AUTH_BASE_URL": self.base_url,
            "YOTO_CLIENT_ID": self.client_id,
        }

    # -- tokens ----------------------------------------------------------------------------

    def issue_tokens(self, expires_in: int | None = None) -> IssuedTokens:
        """Issue an access + refresh token pair as a completed login would."""
        with self._lock:
            return self._issue_locked(expires_in)

    def _issue_locked(self, expires_in: int | None = None) -> IssuedTokens:
        ttl = self.state.access_token_ttl if expires_in is None else expires_in
        tokens = IssuedTokens(
            access_token="yat_" + secrets.token_urlsafe(24),
            refresh_token="yrt_" + secrets.token_urlsafe(24),
            expires_in=ttl,
        )
        self.state.access_tokens[tokens.access_token] = time.time() + ttl
        self.state.refresh_tokens.add(tokens.refresh_token)
        return tokens

    def valid_access_tokens(self) -> list[str]:
        """Access tokens the fake currently accepts (usable as the MQTT broker password)."""
        now = time.time()
        with self._lock:
            return [t for t, exp in self.state.access_tokens.items() if exp > now]

    def is_valid_access_token(self, token: str) -> bool:
        return token in self.valid_access_tokens()

    def expire_access_tokens(self) -> None:
        """Every issued access token expires now (Yoto would answer 401)."""
        with self._lock:
            for token in self.state.access_tokens:
                self.state.access_tokens[token] = 0.0

    def revoke_access_tokens(self) -> None:
        with self._lock:
            self.state.access_tokens.clear()

    def revoke_refresh_tokens(self) -> None:
        with self._lock:
            self.state.refresh_tokens.clear()

    @property
    def refresh_uses(self) -> int:
        """How many refresh tokens were successfully spent."""
        return self.state.refresh_uses

    @property
    def refresh_rejections(self) -> int:
        """How many refresh attempts were rejected (reused, revoked or unknown token)."""
        return self.state.refresh_rejections

    def set_refresh_delay(self, seconds: float) -> None:
        """Make the refresh grant slow, so concurrent refreshers overlap."""
        self.state.refresh_delay_seconds = seconds

    # -- device-code flow ------------------------------------------------------------------

    def approve_device_login(self, user_code: str | None = None) -> None:
        """The user enters the code at verification_uri (the latest code if none given)."""
        with self._lock:
            codes = list(self.state.device_codes.values())
            if user_code is not None:
                codes = [c for c in codes if c.user_code == user_code]
            if not codes:
                raise LookupError("no such device code")
            codes[-1].approved = True

    def force_poll_outcomes(self, *outcomes: PollOutcome) -> None:
        """The next polls answer these errors, in order, whatever the code's state."""
        with self._lock:
            self.state.forced_poll_outcomes.extend(outcomes)

    def expire_device_codes(self) -> None:
        with self._lock:
            for code in self.state.device_codes.values():
                code.expires_at = 0.0

    # -- REST data -------------------------------------------------------------------------

    def set_players(self, players: list[dict[str, Any]]) -> None:
        with self._lock:
            self.state.players = [dict(p) for p in players]
            for player in self.state.players:
                if isinstance(player.get("deviceId"), str):
                    self.state.player_states.setdefault(
                        player["deviceId"], FakePlayer(online=player.get("online", True))
                    ).online = player.get("online", True)

    def set_status(self, device_id: str, status: dict[str, Any]) -> None:
        """Raw REST status fields that override the player's own (odd or partial firmware)."""
        with self._lock:
            self.state.statuses[device_id] = dict(status)

    def set_player_state(
        self,
        device_id: str,
        *,
        online: bool | None = None,
        volume: int | None = None,
        playback: Playback | None = None,
        card_id: str | None = None,
        chapter_title: str | None = None,
        track_title: str | None = None,
        battery: int | None = None,
        charging: bool | None = None,
    ) -> None:
        """What the player is doing; ``online`` also changes its entry in the device list."""
        changes = {
            "online": online,
            "volume": volume,
            "playback": playback,
            "card_id": card_id,
            "chapter_title": chapter_title,
            "track_title": track_title,
            "battery": battery,
            "charging": charging,
        }
        with self._lock:
            player = self.state.player_states.setdefault(device_id, FakePlayer())
            for name, value in changes.items():
                if value is not None:
                    setattr(player, name, value)
            player.changed_at = time.time()
            if online is not None:
                for entry in self.state.players:
                    if entry.get("deviceId") == device_id:
                        entry["online"] = online

    def fail_status_of(self, device_id: str) -> None:
        """This player's status call answers 500 from now on; the others keep working."""
        with self._lock:
            self.state.failing_statuses.add(device_id)

    def player_state(self, device_id: str) -> FakePlayer:
        with self._lock:
            return self.state.player_states[device_id]

    def events_payload(self, device_id: str) -> dict[str, Any]:
        """The JSON the player publishes on ``device/{id}/data/events`` (docs/yoto-api.md fields)."""
        with self._lock:
            player = self.state.player_states[device_id]
            payload: dict[str, Any] = {
                "playbackStatus": player.playback,
                "volume": player.volume,
                "volumeMax": 100,
                "eventUtc": int(player.changed_at),
            }
            optional = {
                "cardId": player.card_id,
                "chapterTitle": player.chapter_title,
                "trackTitle": player.track_title,
            }
            payload.update({k: v for k, v in optional.items() if v is not None})
            return payload

    @property
    def commands(self) -> list[tuple[str, str, dict[str, Any]]]:
        """Commands received: (device id, command such as ``card/pause``, JSON body)."""
        return list(self.state.commands)

    @property
    def content(self) -> dict[str, dict[str, Any]]:
        """MYO cards by card id, as last written through ``POST /content``."""
        return dict(self.state.content)

    def set_outage(self, outage: Outage, hang_seconds: float = 5.0) -> None:
        """``down``: every request answers 503; ``error``: 500; ``hang``: no answer for a while;
        ``garbage``: 200 with an HTML body."""
        self.state.outage = outage
        self.state.hang_seconds = hang_seconds

    @property
    def requests(self) -> list[tuple[str, str]]:
        return list(self.state.requests)


def _handler_class(state: FakeYotoState, lock: threading.Lock, fake: FakeYoto) -> type:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            """Silence per-request logging."""

        def _reply(self, status: int, body: Any = None) -> None:
            data = b"" if body is None else json.dumps(body).encode()
            self._reply_raw(status, data, "application/json")

        def _reply_raw(self, status: int, data: bytes, content_type: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _body(self) -> bytes:
            length = int(self.headers.get("Content-Length") or 0)
            return self.rfile.read(length) if length else b""

        def _dispatch(self, method: str) -> None:
            path = urlsplit(self.path).path
            body = self._body()
            with lock:
                state.requests.append((method, path))
            if state.outage == "down":
                return self._reply(503, {"error": "service_unavailable"})
            if state.outage == "error":
                return self._reply(500, {"error": "internal"})
            if state.outage == "garbage":
                return self._reply_raw(200, b"<html>maintenance</html>", "text/html")
            if state.outage == "hang":
                time.sleep(state.hang_seconds)
                return self._reply(503, {"error": "service_unavailable"})
            if path == "/oauth/device/code" and method == "POST":
                return self._device_code(parse_qs(body.decode()))
            if path == "/oauth/token" and method == "POST":
                return self._token(parse_qs(body.decode()))
            if not self._authorized():
                return self._reply(401, {"error": "unauthorized"})
            return self._rest(method, path, body)

        def do_GET(self) -> None:
            self._dispatch("GET")

        def do_POST(self) -> None:
            self._dispatch("POST")

        def do_PUT(self) -> None:
            self._dispatch("PUT")

        def do_DELETE(self) -> None:
            self._dispatch("DELETE")

        # -- auth --------------------------------------------------------------------------

        def _device_code(self, form: dict[str, list[str]]) -> None:
            if form.get("client_id", [""])[0] != state.client_id:
                return self._reply(401, {"error": "invalid_client"})
            code = _DeviceCode(
                device_code=secrets.token_urlsafe(24),
                user_code=secrets.token_hex(4).upper(),
                expires_at=time.time() + 900,
            )
            with lock:
                state.device_codes[code.device_code] = code
            self._reply(
                200,
                {
                    "device_code": code.device_code,
                    "user_code": code.user_code,
                    "verification_uri": f"{fake.base_url}/activate",
                    "verification_uri_complete": f"{fake.base_url}/activate?user_code={code.user_code}",
                    "expires_in": 900,
                    "interval": 5,
                },
            )

        def _token(self, form: dict[str, list[str]]) -> None:
            if form.get("client_id", [""])[0] != state.client_id:
                return self._reply(401, {"error": "invalid_client"})
            grant = form.get("grant_type", [""])[0]
            if grant == DEVICE_CODE_GRANT:
                return self._poll(form.get("device_code", [""])[0])
            if grant == "refresh_token":
                return self._refresh(form.get("refresh_token", [""])[0])
            return self._reply(400, {"error": "unsupported_grant_type"})

        def _poll(self, device_code: str) -> None:
            with lock:
                if state.forced_poll_outcomes:
                    return self._reply(403, {"error": state.forced_poll_outcomes.pop(0)})
                code = state.device_codes.get(device_code)
                if code is None or code.expires_at <= time.time():
                    return self._reply(403, {"error": "expired_token"})
                now = time.time()
                too_fast = now - code.last_poll < state.minimum_poll_interval
                code.last_poll = now
                if too_fast:
                    return self._reply(429, {"error": "slow_down"})
                if not code.approved:
                    return self._reply(403, {"error": "authorization_pending"})
                del state.device_codes[device_code]
                tokens = fake._issue_locked()
            self._reply(200, tokens.as_json())

        def _refresh(self, refresh_token: str) -> None:
            if state.refresh_delay_seconds:
                time.sleep(state.refresh_delay_seconds)
            with lock:
                if refresh_token not in state.refresh_tokens:
                    state.refresh_rejections += 1
                    return self._reply(403, {"error": "invalid_grant"})
                # Rotation: the spent token never works again.
                state.refresh_tokens.discard(refresh_token)
                state.spent_refresh_tokens.add(refresh_token)
                state.refresh_uses += 1
                tokens = fake._issue_locked()
            self._reply(200, tokens.as_json())

        def _authorized(self) -> bool:
            header = self.headers.get("Authorization", "")
            if not header.startswith("Bearer "):
                return False
            token = header.removeprefix("Bearer ")
            with lock:
                return state.access_tokens.get(token, 0.0) > time.time()

        # -- REST --------------------------------------------------------------------------

        def _rest(self, method: str, path: str, body: bytes) -> None:
            parts = [unquote(p) for p in path.strip("/").split("/")]
            with lock:
                known = {p.get("deviceId") for p in state.players}
                if method == "GET" and parts == ["device-v2", "devices", "mine"]:
                    return self._reply(200, {"devices": state.players})
                if len(parts) == 3 and parts[0] == "device-v2" and parts[2] == "status":
                    if method != "GET" or parts[1] not in known:
                        return self._reply(404, {"error": "not_found"})
                    if parts[1] in state.failing_statuses:
                        return self._reply(500, {"error": "internal"})
                    player = state.player_states.get(parts[1]) or FakePlayer()
                    status = player.rest_status(parts[1])
                    return self._reply(200, {**status, **state.statuses.get(parts[1], {})})
                if len(parts) >= 4 and parts[0] == "device-v2" and parts[2] == "command":
                    command = "/".join(parts[3:])
                    if method != "POST" or parts[1] not in known or command not in KNOWN_COMMANDS:
                        return self._reply(404, {"error": "not_found"})
                    payload = json.loads(body or b"{}")
                    state.commands.append((parts[1], command, payload))
                    state.player_states.setdefault(parts[1], FakePlayer()).apply(command, payload)
                    return self._reply(200, {"status": "ok"})
                if parts == ["content"] and method == "POST":
                    return self._create_content(json.loads(body or b"{}"))
                if parts == ["content", "mine"] and method == "GET":
                    return self._reply(200, {"cards": list(state.content.values())})
                if len(parts) == 2 and parts[0] == "content" and method == "DELETE":
                    if state.content.pop(parts[1], None) is None:
                        return self._reply(404, {"error": "not_found"})
                    return self._reply(200, {"status": "ok"})
            return self._reply(404, {"error": "not_found"})

        def _create_content(self, content: dict[str, Any]) -> None:
            chapters = content.get("content", {}).get("chapters")
            if not content.get("title") or not isinstance(chapters, list):
                return self._reply(400, {"error": "title and content.chapters are required"})
            card_id = content.get("cardId") or secrets.token_hex(3)
            if content.get("cardId") and card_id not in state.content:
                return self._reply(404, {"error": "not_found"})
            card = {**content, "cardId": card_id}
            state.content[card_id] = card
            self._reply(200, {"card": card})

    return Handler


@contextmanager
def running_yoto_fake(client_id: str = DEFAULT_CLIENT_ID) -> Iterator[FakeYoto]:
    """Serve a fresh fake Yoto cloud on a free loopback port for the duration of the block."""
    state = FakeYotoState(client_id=client_id)
    lock = threading.Lock()
    server = ThreadingHTTPServer(("127.0.0.1", 0), BaseHTTPRequestHandler)
    server.daemon_threads = True
    fake = FakeYoto(f"http://127.0.0.1:{server.server_address[1]}", state, lock)
    server.RequestHandlerClass = _handler_class(state, lock, fake)
    thread = threading.Thread(target=server.serve_forever, name="yoto-fake", daemon=True)
    thread.start()
    try:
        yield fake
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
