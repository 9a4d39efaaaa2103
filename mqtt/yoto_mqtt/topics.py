"""Yoto MQTT topic names: what to subscribe to, what a received topic means, what to request.

Two generations exist (docs/yoto-api.md): ``device/{id}/data/events|status`` (current) and
``device/{id}/events|status`` (older documentation and clients), plus ``device/{id}/response``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

EventKind = Literal["events", "status", "response"]

_KINDS: tuple[EventKind, ...] = ("events", "status", "response")


@dataclass(frozen=True)
class PlayerTopic:
    player_id: str
    kind: EventKind


def subscription_topics(player_id: str) -> list[str]:
    """Every topic a player's events, status and command responses may arrive on."""
    return [
        f"device/{player_id}/data/events",
        f"device/{player_id}/data/status",
        f"device/{player_id}/events",
        f"device/{player_id}/status",
        f"device/{player_id}/response",
    ]


def request_topics(player_id: str) -> list[str]:
    """Topics that ask the player to (keep) push(ing) events and status."""
    return [
        f"device/{player_id}/command/events/request",
        f"device/{player_id}/command/status/request",
    ]


def parse_topic(topic: str) -> PlayerTopic | None:
    """Map a received topic to its player and kind; None for anything we did not subscribe to."""
    parts = topic.split("/")
    if len(parts) == 4 and parts[0] == "device" and parts[2] == "data":
        kind = parts[3]
        if kind in ("events", "status"):
            return _player_topic(parts[1], kind)
    if len(parts) == 3 and parts[0] == "device":
        kind = parts[2]
        if kind in _KINDS:
            return _player_topic(parts[1], kind)
    return None


def _player_topic(player_id: str, kind: str) -> PlayerTopic | None:
    if not player_id or player_id in ("+", "#"):
        return None
    for known in _KINDS:
        if kind == known:
            return PlayerTopic(player_id=player_id, kind=known)
    return None
