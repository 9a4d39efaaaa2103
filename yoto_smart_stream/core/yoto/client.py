"""HTTP clients for the Yoto cloud (the contract: ``docs/yoto-api.md``).

Two clients, both synchronous httpx (FastAPI runs sync routes in its thread pool, and the MQTT
handler calls them from its own threads):

- ``YotoAuthClient`` speaks to ``login.yotoplay.com``: device-code start and poll, refresh.
- ``YotoApiClient`` speaks to ``api.yotoplay.com`` with a bearer token from an
  ``AccessTokenProvider`` (``yoto_smart_stream.core.yoto.tokens.YotoTokenManager``); on a 401 it
  forces one refresh and retries once.

Every failure surfaces as a ``YotoError`` subclass carrying the HTTP status the API should
answer with (502/503 for outages), so no Yoto problem becomes a 500.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, Protocol
from urllib.parse import quote

if TYPE_CHECKING:
    import httpx

DEVICE_CODE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
DEVICE_CODE_SCOPE = "profile offline_access"


class YotoClientSettings(Protocol):
    """What the clients are built from: the API's ``Settings`` or the handler's
    ``SharedSettings`` (both read the same variables)."""

    @property
    def yoto_api_base_url(self) -> str: ...
    @property
    def yoto_auth_base_url(self) -> str: ...
    @property
    def yoto_client_id(self) -> str: ...
    @property
    def yoto_audience(self) -> str: ...
    @property
    def yoto_timeout_seconds(self) -> float: ...


class YotoError(Exception):
    """A Yoto call failed; ``status_code`` is what our API answers with."""

    status_code = 502


class YotoUnavailableError(YotoError):
    """Yoto could not be reached, timed out or answered 5xx."""

    status_code = 503


class YotoResponseError(YotoError):
    """Yoto answered, but not with something we can use."""

    status_code = 502


class YotoNotFoundError(YotoError):
    """Yoto does not know the player or card."""

    status_code = 404


class YotoAuthRejectedError(YotoError):
    """Yoto rejected the access token even after a forced refresh."""

    status_code = 502


class YotoNotLinkedError(YotoError):
    """No Yoto account is linked yet (or its refresh token was rejected and dropped)."""

    status_code = 409


class YotoRefreshRejectedError(YotoNotLinkedError):
    """Yoto rejected the refresh token (revoked, or spent elsewhere): link the account again."""


@dataclass(frozen=True)
class TokenSet:
    access_token: str
    refresh_token: str
    # Epoch seconds at which the access token stops working.
    expires_at: float
    token_type: str = "Bearer"  # noqa: S105 - the OAuth scheme name, not a secret


@dataclass(frozen=True)
class DeviceCode:
    device_code: str
    user_code: str
    verification_uri: str
    verification_uri_complete: str | None
    expires_in: int
    interval: int


PollStatus = Literal["authorized", "authorization_pending", "slow_down", "expired_token", "denied"]


@dataclass(frozen=True)
class DevicePollResult:
    status: PollStatus
    tokens: TokenSet | None = None


class AccessTokenProvider(Protocol):
    """A valid Yoto access token on demand: ``yoto.tokens.YotoTokenManager`` (shared tokens and
    the refresh lock). The one Protocol for it: the REST client and the MQTT handler both take
    it."""

    def get_access_token(self) -> str: ...

    def force_refresh(self, rejected_access_token: str) -> str: ...


def _send(http: httpx.Client, method: str, url: str, **kwargs: Any) -> httpx.Response:
    import httpx  # loaded with the first client (_http_client); a lookup from then on

    try:
        response = http.request(method, url, **kwargs)
    except httpx.TimeoutException as exc:
        raise YotoUnavailableError("Yoto did not answer in time; try again shortly.") from exc
    except httpx.TransportError as exc:
        raise YotoUnavailableError("Yoto is unreachable; try again shortly.") from exc
    if response.status_code >= 500:
        raise YotoUnavailableError(
            f"Yoto is having trouble (it answered HTTP {response.status_code}); try again shortly."
        )
    return response


def _json_object(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError as exc:
        raise YotoResponseError("Yoto answered with something that is not JSON.") from exc
    if not isinstance(body, dict):
        raise YotoResponseError("Yoto answered with unexpected JSON (not an object).")
    return body


def _http_client(timeout: float) -> httpx.Client:
    # httpx is imported with the first client, not with this module: the API imports the
    # Yoto clients' types and errors at cold start (dependencies, exception handlers), and a
    # cold Lambda's first request often needs no Yoto call (bench/app_bench.py --importtime).
    import httpx

    return httpx.Client(timeout=httpx.Timeout(timeout), follow_redirects=False)


class YotoAuthClient:
    """Client for the Yoto OAuth server (device-code flow and refresh)."""

    def __init__(
        self,
        *,
        base_url: str,
        client_id: str,
        audience: str,
        timeout: float = 10.0,
        http: httpx.Client | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._base_url = base_url.rstrip("/")
        self._client_id = client_id
        self._audience = audience
        self._http = http or _http_client(timeout)
        self._clock = clock

    @classmethod
    def from_settings(cls, settings: YotoClientSettings) -> YotoAuthClient:
        return cls(
            base_url=settings.yoto_auth_base_url,
            client_id=settings.yoto_client_id,
            audience=settings.yoto_audience,
            timeout=settings.yoto_timeout_seconds,
        )

    def close(self) -> None:
        self._http.close()

    def _require_client_id(self) -> None:
        if not self._client_id:
            raise YotoNotLinkedError("YOTO_CLIENT_ID is not configured for this environment.")

    def start_device_code(self) -> DeviceCode:
        self._require_client_id()
        response = _send(
            self._http,
            "POST",
            f"{self._base_url}/oauth/device/code",
            data={
                "client_id": self._client_id,
                "scope": DEVICE_CODE_SCOPE,
                "audience": self._audience,
            },
        )
        body = _json_object(response)
        if response.status_code != 200:
            raise YotoResponseError(
                f"Yoto refused to start a device login: {body.get('error', response.status_code)}."
            )
        try:
            return DeviceCode(
                device_code=str(body["device_code"]),
                user_code=str(body["user_code"]),
                verification_uri=str(body["verification_uri"]),
                verification_uri_complete=body.get("verification_uri_complete"),
                expires_in=int(body["expires_in"]),
                interval=int(body.get("interval", 5)),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise YotoResponseError("Yoto's device-code answer is missing fields.") from exc

    def poll_device_code(self, device_code: str) -> DevicePollResult:
        """One non-blocking poll of the token endpoint."""
        self._require_client_id()
        response = _send(
            self._http,
            "POST",
            f"{self._base_url}/oauth/token",
            data={
                "grant_type": DEVICE_CODE_GRANT,
                "device_code": device_code,
                "client_id": self._client_id,
            },
        )
        body = _json_object(response)
        if response.status_code == 200:
            return DevicePollResult(status="authorized", tokens=self._token_set(body))
        error = body.get("error")
        if error in ("authorization_pending", "slow_down", "expired_token"):
            return DevicePollResult(status=error)
        if error == "access_denied":
            return DevicePollResult(status="denied")
        raise YotoResponseError(
            f"Yoto rejected the device-code poll: {error or response.status_code}."
        )

    def refresh(self, refresh_token: str) -> TokenSet:
        """Spend ``refresh_token``; the answer carries a NEW refresh token that must be stored."""
        self._require_client_id()
        response = _send(
            self._http,
            "POST",
            f"{self._base_url}/oauth/token",
            data={
                "grant_type": "refresh_token",
                "refresh_token": refresh_token,
                "client_id": self._client_id,
                "audience": self._audience,
            },
        )
        body = _json_object(response)
        if response.status_code == 200:
            return self._token_set(body, previous_refresh_token=refresh_token)
        if response.status_code in (400, 401, 403):
            raise YotoRefreshRejectedError(
                "Yoto rejected the stored refresh token; link the Yoto account again."
            )
        raise YotoResponseError(f"Yoto refused the token refresh (HTTP {response.status_code}).")

    def _token_set(self, body: dict[str, Any], previous_refresh_token: str = "") -> TokenSet:
        try:
            access_token = str(body["access_token"])
            expires_in = float(body["expires_in"])
        except (KeyError, TypeError, ValueError) as exc:
            raise YotoResponseError("Yoto's token answer is missing fields.") from exc
        # A server that does not rotate refresh tokens omits it; keep the old one then.
        refresh_token = str(body.get("refresh_token") or previous_refresh_token)
        if not refresh_token:
            raise YotoResponseError("Yoto's token answer has no refresh token (offline_access).")
        return TokenSet(
            access_token=access_token,
            refresh_token=refresh_token,
            expires_at=self._clock() + expires_in,
            token_type=str(body.get("token_type", "Bearer")),
        )


def _segment(value: str) -> str:
    """Quote one path segment so an id can never add path components."""
    return quote(value, safe="")


class YotoApiClient:
    """Client for the Yoto REST API, authenticated by an ``AccessTokenProvider``."""

    def __init__(
        self,
        *,
        base_url: str,
        tokens: AccessTokenProvider,
        timeout: float = 10.0,
        http: httpx.Client | None = None,
    ) -> None:
        self._base_url = base_url.rstrip("/")
        self._tokens = tokens
        self._http = http or _http_client(timeout)

    @classmethod
    def from_settings(
        cls, settings: YotoClientSettings, tokens: AccessTokenProvider
    ) -> YotoApiClient:
        return cls(
            base_url=settings.yoto_api_base_url,
            tokens=tokens,
            timeout=settings.yoto_timeout_seconds,
        )

    def close(self) -> None:
        self._http.close()

    def _request(self, method: str, path: str, json: Any = None) -> httpx.Response:
        url = f"{self._base_url}{path}"
        token = self._tokens.get_access_token()
        response = _send(
            self._http, method, url, json=json, headers={"Authorization": f"Bearer {token}"}
        )
        if response.status_code == 401:
            # The token may have been revoked or expired early: refresh once and retry.
            token = self._tokens.force_refresh(token)
            response = _send(
                self._http, method, url, json=json, headers={"Authorization": f"Bearer {token}"}
            )
            if response.status_code == 401:
                raise YotoAuthRejectedError("Yoto rejected our access token even after a refresh.")
        if response.status_code == 404:
            raise YotoNotFoundError("Yoto does not know that player or card.")
        if response.status_code >= 400:
            raise YotoResponseError(f"Yoto refused the request (HTTP {response.status_code}).")
        return response

    def list_players(self) -> list[dict[str, Any]]:
        """``GET /device-v2/devices/mine``: the family's players."""
        body = _json_object(self._request("GET", "/device-v2/devices/mine"))
        devices = body.get("devices")
        if not isinstance(devices, list):
            raise YotoResponseError("Yoto's player list has no 'devices' array.")
        return [d for d in devices if isinstance(d, dict) and isinstance(d.get("deviceId"), str)]

    def get_player_status(self, device_id: str) -> dict[str, Any]:
        """``GET /device-v2/{deviceId}/status``."""
        return _json_object(self._request("GET", f"/device-v2/{_segment(device_id)}/status"))

    def send_command(
        self, device_id: str, command: str, payload: dict[str, Any] | None = None
    ) -> None:
        """``POST /device-v2/{deviceId}/command/{command}``.

        UNCONFIRMED in docs/yoto-api.md: the REST command path mirrors the MQTT command topics
        (``card/pause``, ``volume/set`` ...), as the documented ``.../command/status`` does. A
        Lambda cannot hold the MQTT session, so commands go over REST.
        """
        path = "/".join(_segment(part) for part in command.split("/"))
        self._request(
            "POST", f"/device-v2/{_segment(device_id)}/command/{path}", json=payload or {}
        )

    def create_content(self, content: dict[str, Any]) -> dict[str, Any]:
        """``POST /content``: create (or, with ``cardId``, update) a MYO playlist."""
        body = _json_object(self._request("POST", "/content", json=content))
        card = body.get("card", body)
        if not isinstance(card, dict) or not isinstance(card.get("cardId"), str):
            raise YotoResponseError("Yoto's create-content answer has no cardId.")
        return card

    def delete_content(self, card_id: str) -> None:
        """``DELETE /content/{cardId}``."""
        self._request("DELETE", f"/content/{_segment(card_id)}")
