"""The family's Yoto players: list, status, control, and recent MQTT events."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated, Any, Literal, get_args

from fastapi import APIRouter, HTTPException, Path, Query, status
from pydantic import BaseModel, ConfigDict, Field

from yoto_smart_stream.api.dependencies import (
    CardStoreDep,
    CurrentUser,
    PlayerEventStoreDep,
    YotoApiDep,
)
from yoto_smart_stream.api.errors import error_responses
from yoto_smart_stream.core.storage.events import CURSOR_PATTERN
from yoto_smart_stream.core.yoto.client import YotoApiClient, YotoError

router = APIRouter(prefix="/api/players", tags=["players"], responses=error_responses(401, 503))
# Routes that ask Yoto: 409 while no account is linked (or the player is offline), 404 for an
# unknown player, 502 for a nonsense answer.
YOTO_RESPONSES = error_responses(404, 409, 502)

# Yoto device ids are short alphanumerics; anything else (dots, slashes) never reaches Yoto.
PLAYER_ID_PATTERN = r"^[A-Za-z0-9_-]{1,64}$"
PlayerId = Annotated[str, Path(pattern=PLAYER_ID_PATTERN, description="Yoto device id")]

# Our action names -> the Yoto command (the MQTT command topics' names).
COMMANDS = {
    "play": "card/resume",
    "pause": "card/pause",
    "stop": "card/stop",
    "volume": "volume/set",
}


# MQTT ``playbackStatus`` values the dashboard shows as words; anything else is "unknown".
Playback = Literal["playing", "paused", "stopped"]
PLAYBACK_STATES: tuple[Playback, ...] = get_args(Playback)


class Player(BaseModel):
    id: str
    name: str | None = None
    online: bool | None = None
    device_type: str | None = None


class PlayerState(Player):
    """What a parent wants at a glance. Every field is None when Yoto does not report it.

    Volume, battery and the inserted card come from Yoto's REST status; playback and the track
    from the MQTT handler's latest-state item (Yoto reports those only over MQTT).
    """

    volume: int | None = Field(default=None, ge=0, le=100)
    playback: Playback | None = None
    card_id: str | None = None
    # Set when the card is one of our streaming cards.
    card_title: str | None = None
    track_title: str | None = None
    chapter_title: str | None = None
    battery_percent: int | None = Field(default=None, ge=0, le=100)
    charging: bool | None = None
    # When the MQTT handler last heard from the player (ISO 8601 UTC).
    heard_at: str | None = None
    # False when Yoto's status call failed for this player (the rest of the list still shows).
    status_available: bool = True


class PlayerDetail(PlayerState):
    status: dict[str, Any] = Field(default_factory=dict)


# Two shapes told apart by "action", so the OpenAPI schema itself says that "volume" (0-100)
# comes with the volume action and with no other.
class PlaybackControl(BaseModel):
    model_config = ConfigDict(extra="forbid")
    action: Literal["play", "pause", "stop"]


class VolumeControl(BaseModel):
    model_config = ConfigDict(extra="forbid")
    action: Literal["volume"]
    volume: int = Field(ge=0, le=100, strict=True)


ControlRequest = Annotated[PlaybackControl | VolumeControl, Field(discriminator="action")]


class ControlResult(BaseModel):
    status: str
    action: str


class PlayerEvent(BaseModel):
    # Written by another process: every field is optional so one odd item cannot break a page.
    player_id: str | None = None
    event_utc: str | None = None
    topic: str | None = None
    kind: str | None = None
    data: dict[str, Any] | None = None
    received_at: str | None = None
    expires_at: int | None = None


class EventPageOut(BaseModel):
    items: list[PlayerEvent]
    next_cursor: str | None


def _player(device: dict[str, Any]) -> Player:
    online = device.get("online")
    return Player(
        id=str(device["deviceId"]),
        name=device.get("name") if isinstance(device.get("name"), str) else None,
        online=online if isinstance(online, bool) else None,
        device_type=device.get("deviceType") if isinstance(device.get("deviceType"), str) else None,
    )


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value.strip() else None


def _percent(value: Any) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return int(value) if 0 <= value <= 100 else None


def _state(
    device: dict[str, Any],
    status: dict[str, Any] | None,
    heard: dict[str, Any] | None,
    card_titles: dict[str, str],
) -> PlayerState:
    """Merge the device entry, its REST status and the MQTT latest state (all untrusted)."""
    base = _player(device)
    rest = status or {}
    mqtt = heard or {}
    online = rest.get("isOnline")
    if isinstance(online, bool):
        base.online = online
    word = (_text(mqtt.get("playbackStatus")) or "").lower()
    volume = _percent(rest.get("userVolumePercentage"))
    card_id = _text(rest.get("activeCard")) or _text(mqtt.get("cardId"))
    if card_id == "none":  # Yoto's word for "no card in the slot"
        card_id = None
    charging = rest.get("isCharging")
    return PlayerState(
        **base.model_dump(),
        volume=volume if volume is not None else _percent(mqtt.get("volume")),
        playback=next((p for p in PLAYBACK_STATES if p == word), None),
        card_id=card_id,
        card_title=card_titles.get(card_id) if card_id else None,
        track_title=_text(mqtt.get("trackTitle")),
        chapter_title=_text(mqtt.get("chapterTitle")),
        battery_percent=_percent(rest.get("batteryLevelPercentage")),
        charging=charging if isinstance(charging, bool) else None,
        heard_at=_text(mqtt.get("last_event_utc")),
        status_available=status is not None,
    )


def _status_or_none(api: YotoApiClient, player_id: str) -> dict[str, Any] | None:
    try:
        return api.get_player_status(player_id)
    except YotoError:
        return None


def _card_titles(cards: CardStoreDep) -> dict[str, str]:
    return {c.card_id: c.title for c in cards.list() if c.title}


def _find(api: YotoApiDep, player_id: str) -> dict[str, Any]:
    for device in api.list_players():
        if device["deviceId"] == player_id:
            return device
    raise HTTPException(status.HTTP_404_NOT_FOUND, f"No player {player_id!r} in this family.")


@router.get("", response_model=list[PlayerState], responses=YOTO_RESPONSES)
def list_players(
    user: CurrentUser, api: YotoApiDep, store: PlayerEventStoreDep, cards: CardStoreDep
) -> list[PlayerState]:
    """Every player with its state; one player's failed status call does not hide the rest."""
    devices = api.list_players()
    heard = store.latest_states([str(d["deviceId"]) for d in devices])
    titles = _card_titles(cards)
    return [
        _state(d, _status_or_none(api, str(d["deviceId"])), heard.get(str(d["deviceId"])), titles)
        for d in devices
    ]


@router.get("/{player_id}", response_model=PlayerDetail, responses=YOTO_RESPONSES)
def get_player(
    player_id: PlayerId,
    user: CurrentUser,
    api: YotoApiDep,
    store: PlayerEventStoreDep,
    cards: CardStoreDep,
) -> PlayerDetail:
    device = _find(api, player_id)
    status_body = api.get_player_status(player_id)
    heard = store.latest_states([player_id]).get(player_id)
    state = _state(device, status_body, heard, _card_titles(cards))
    return PlayerDetail(**state.model_dump(), status=status_body)


@router.post(
    "/{player_id}/control",
    response_model=ControlResult,
    responses={**YOTO_RESPONSES, **error_responses(400, 403, 413)},
)
def control(
    player_id: PlayerId, body: ControlRequest, user: CurrentUser, api: YotoApiDep
) -> ControlResult:
    device = _find(api, player_id)
    if device.get("online") is False:
        # Yoto would take the command and nothing would hear it: say so instead of "sent".
        name = _text(device.get("name")) or "This player"
        raise HTTPException(
            status.HTTP_409_CONFLICT,
            f"{name} is offline, so it cannot hear this. Switch it on and try again.",
        )
    payload = {"volume": body.volume} if isinstance(body, VolumeControl) else {}
    api.send_command(player_id, COMMANDS[body.action], payload)
    return ControlResult(status="sent", action=body.action)


@router.get("/{player_id}/events", response_model=EventPageOut)
def events(
    player_id: PlayerId,
    user: CurrentUser,
    store: PlayerEventStoreDep,
    limit: Annotated[int, Query(ge=1, le=100)] = 25,
    cursor: Annotated[str | None, Query(pattern=CURSOR_PATTERN)] = None,
) -> EventPageOut:
    """Newest first, from the MQTT handler's items; pass ``next_cursor`` for the next page."""
    page = store.recent(player_id, limit, cursor)
    return EventPageOut(
        items=[PlayerEvent(**asdict(e)) for e in page.items], next_cursor=page.next_cursor
    )
