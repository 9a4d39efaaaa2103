"""The family's Yoto players: list, status, control, and recent MQTT events."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Path, Query, status
from pydantic import BaseModel, ConfigDict, Field

from yoto_smart_stream.dependencies import AwsDep, CurrentUser, YotoApiDep
from yoto_smart_stream.errors import error_responses
from yoto_smart_stream.storage.events import CURSOR_PATTERN, recent_events

router = APIRouter(prefix="/api/players", tags=["players"], responses=error_responses(401, 503))
# Routes that ask Yoto: 409 while no account is linked, 404 for an unknown player, 502 for a
# nonsense answer.
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


class Player(BaseModel):
    id: str
    name: str | None = None
    online: bool | None = None
    device_type: str | None = None


class PlayerDetail(Player):
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


def _find(api: YotoApiDep, player_id: str) -> dict[str, Any]:
    for device in api.list_players():
        if device["deviceId"] == player_id:
            return device
    raise HTTPException(status.HTTP_404_NOT_FOUND, f"No player {player_id!r} in this family.")


@router.get("", response_model=list[Player], responses=YOTO_RESPONSES)
def list_players(user: CurrentUser, api: YotoApiDep) -> list[Player]:
    return [_player(d) for d in api.list_players()]


@router.get("/{player_id}", response_model=PlayerDetail, responses=YOTO_RESPONSES)
def get_player(player_id: PlayerId, user: CurrentUser, api: YotoApiDep) -> PlayerDetail:
    device = _find(api, player_id)
    return PlayerDetail(**_player(device).model_dump(), status=api.get_player_status(player_id))


@router.post(
    "/{player_id}/control",
    response_model=ControlResult,
    responses={**YOTO_RESPONSES, **error_responses(400, 403, 413)},
)
def control(
    player_id: PlayerId, body: ControlRequest, user: CurrentUser, api: YotoApiDep
) -> ControlResult:
    _find(api, player_id)
    payload = {"volume": body.volume} if isinstance(body, VolumeControl) else {}
    api.send_command(player_id, COMMANDS[body.action], payload)
    return ControlResult(status="sent", action=body.action)


@router.get("/{player_id}/events", response_model=EventPageOut)
def events(
    player_id: PlayerId,
    user: CurrentUser,
    aws: AwsDep,
    limit: Annotated[int, Query(ge=1, le=100)] = 25,
    cursor: Annotated[str | None, Query(pattern=CURSOR_PATTERN)] = None,
) -> EventPageOut:
    """Newest first, from the MQTT handler's items; pass ``next_cursor`` for the next page."""
    page = recent_events(aws.table, player_id, limit, cursor)
    return EventPageOut(items=[PlayerEvent(**i) for i in page.items], next_cursor=page.next_cursor)
