"""The family's Yoto players: list, status, control, and recent MQTT events."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Path, Query, status
from pydantic import BaseModel, Field, model_validator

from yoto_smart_stream.dependencies import AwsDep, CurrentUser, YotoApiDep
from yoto_smart_stream.storage.events import InvalidCursorError, recent_events

router = APIRouter(prefix="/api/players", tags=["players"])

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


class ControlRequest(BaseModel):
    action: Literal["play", "pause", "stop", "volume"]
    volume: int | None = Field(default=None, ge=0, le=100, strict=True)

    @model_validator(mode="after")
    def volume_only_with_volume_action(self) -> ControlRequest:
        if self.action == "volume" and self.volume is None:
            raise ValueError("action 'volume' needs a 'volume' from 0 to 100")
        if self.action != "volume" and self.volume is not None:
            raise ValueError(f"action {self.action!r} takes no 'volume'")
        return self


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


@router.get("", response_model=list[Player])
def list_players(user: CurrentUser, api: YotoApiDep) -> list[Player]:
    return [_player(d) for d in api.list_players()]


@router.get("/{player_id}", response_model=PlayerDetail)
def get_player(player_id: PlayerId, user: CurrentUser, api: YotoApiDep) -> PlayerDetail:
    device = _find(api, player_id)
    return PlayerDetail(**_player(device).model_dump(), status=api.get_player_status(player_id))


@router.post("/{player_id}/control", response_model=ControlResult)
def control(
    player_id: PlayerId, body: ControlRequest, user: CurrentUser, api: YotoApiDep
) -> ControlResult:
    _find(api, player_id)
    payload = {"volume": body.volume} if body.action == "volume" else {}
    api.send_command(player_id, COMMANDS[body.action], payload)
    return ControlResult(status="sent", action=body.action)


@router.get("/{player_id}/events", response_model=EventPageOut)
def events(
    player_id: PlayerId,
    user: CurrentUser,
    aws: AwsDep,
    limit: Annotated[int, Query(ge=1, le=100)] = 25,
    cursor: Annotated[str | None, Query(max_length=2048)] = None,
) -> EventPageOut:
    """Newest first, from the MQTT handler's items; pass ``next_cursor`` for the next page."""
    try:
        page = recent_events(aws.table, player_id, limit, cursor)
    except InvalidCursorError as exc:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, str(exc)) from exc
    return EventPageOut(items=[PlayerEvent(**i) for i in page.items], next_cursor=page.next_cursor)
