"""Single-table DynamoDB item schema, shared by the API and the MQTT handler.

Key schema (the table has only ``PK`` (HASH) and ``SK`` (RANGE), both strings, plus the TTL
attribute ``expires_at``). Every request path reads by key or queries one partition; nothing
scans.

| Item                | PK                  | SK                              | Notes                                   |
|---------------------|---------------------|---------------------------------|-----------------------------------------|
| App user            | ``USER``            | ``USER#<username>``             | argon2 hash, role, disabled, epoch      |
| Yoto tokens         | ``YOTO``            | ``TOKENS``                      | access/refresh token, expiry, lock      |
| Device-code login   | ``YOTO``            | ``DEVICE_CODE``                 | pending device code, ``expires_at``     |
| Audio metadata      | ``AUDIO``           | ``AUDIO#<audio_id>``            | S3 key, title, content type, size       |
| Streaming card      | ``CARD``            | ``CARD#<card_id>``              | Yoto card id, title, audio ids          |
| Player event        | ``PLAYER#<id>``     | ``EVENT#<event_utc>#<digest>``  | TTL ``expires_at``; digest = idempotency |
| Player latest state | ``PLAYER#<id>``     | ``STATE``                       | last event fields, ``updated_at``       |
| Sign-in throttle    | ``THROTTLE#<hash>`` | ``WINDOW``                      | failures, ``window_ends``, TTL          |

Event sort keys start with a sortable UTC timestamp so a query with
``ScanIndexForward=False`` returns newest first. The digest is a hash of the topic and the raw
payload, so a redelivered QoS 1 message writes the same key again instead of a new item.

Player event attributes (written by the MQTT handler, read by ``GET /api/players/{id}/events``):
``player_id`` (str), ``event_utc`` (ISO 8601 UTC, from the payload's ``eventUtc`` or the receive
time), ``topic`` (str), ``kind`` (``events`` | ``status`` | ``response``), ``data`` (map: the
validated payload fields), ``received_at`` (ISO 8601 UTC) and ``expires_at`` (epoch seconds).
"""

from __future__ import annotations

import hashlib

PARTITION_KEY = "PK"
SORT_KEY = "SK"
TTL_ATTRIBUTE = "expires_at"

USER_PK = "USER"
YOTO_PK = "YOTO"
TOKENS_SK = "TOKENS"
DEVICE_CODE_SK = "DEVICE_CODE"
AUDIO_PK = "AUDIO"
CARD_PK = "CARD"
PLAYER_STATE_SK = "STATE"
EVENT_SK_PREFIX = "EVENT#"
EVENT_TTL_SECONDS = 14 * 24 * 3600
THROTTLE_PK_PREFIX = "THROTTLE#"
THROTTLE_SK = "WINDOW"


def user_key(username: str) -> dict[str, str]:
    return {PARTITION_KEY: USER_PK, SORT_KEY: f"USER#{username}"}


def tokens_key() -> dict[str, str]:
    return {PARTITION_KEY: YOTO_PK, SORT_KEY: TOKENS_SK}


def device_code_key() -> dict[str, str]:
    return {PARTITION_KEY: YOTO_PK, SORT_KEY: DEVICE_CODE_SK}


def audio_key(audio_id: str) -> dict[str, str]:
    return {PARTITION_KEY: AUDIO_PK, SORT_KEY: f"AUDIO#{audio_id}"}


def card_key(card_id: str) -> dict[str, str]:
    return {PARTITION_KEY: CARD_PK, SORT_KEY: f"CARD#{card_id}"}


def throttle_key(digest: str) -> dict[str, str]:
    # One partition per key: a flood of guesses against one key never heats a shared partition.
    return {PARTITION_KEY: f"{THROTTLE_PK_PREFIX}{digest}", SORT_KEY: THROTTLE_SK}


def player_pk(player_id: str) -> str:
    return f"PLAYER#{player_id}"


def player_state_key(player_id: str) -> dict[str, str]:
    return {PARTITION_KEY: player_pk(player_id), SORT_KEY: PLAYER_STATE_SK}


def event_digest(topic: str, payload: bytes) -> str:
    return hashlib.sha256(topic.encode() + b"\x00" + payload).hexdigest()[:32]


EVENT_ATTRIBUTES = ("player_id", "event_utc", "topic", "kind", "data", "received_at", TTL_ATTRIBUTE)


def event_key(player_id: str, event_utc: str, digest: str) -> dict[str, str]:
    return {PARTITION_KEY: player_pk(player_id), SORT_KEY: f"{EVENT_SK_PREFIX}{event_utc}#{digest}"}
