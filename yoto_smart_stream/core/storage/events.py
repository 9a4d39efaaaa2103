"""Reading player events and latest states the MQTT handler writes (item schema in ``schema``;
the handler's ``yoto_mqtt.store`` owns the writes)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from yoto_smart_stream.core.storage import schema
from yoto_smart_stream.core.storage.items import plain

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.service_resource import Table


# A cursor is the hex of the UTF-8 sort key after "EVENT#": opaque to callers, and every value
# this pattern allows is a position the server accepts (the schema says exactly what works).
CURSOR_PATTERN = r"^(?:[0-9a-f]{2}){1,128}$"


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


@dataclass(frozen=True)
class PlayerEventRecord:
    # Written by another process: every field is optional so one odd item cannot break a page.
    player_id: str | None
    event_utc: str | None
    topic: str | None
    kind: str | None
    data: dict[str, Any] | None
    received_at: str | None
    expires_at: int | None

    @classmethod
    def from_item(cls, item: dict[str, Any]) -> PlayerEventRecord:
        data = item.get("data")
        expires_at = item.get(schema.TTL_ATTRIBUTE)
        return cls(
            player_id=_text(item.get("player_id")),
            event_utc=_text(item.get("event_utc")),
            topic=_text(item.get("topic")),
            kind=_text(item.get("kind")),
            data=data if isinstance(data, dict) else None,
            received_at=_text(item.get("received_at")),
            expires_at=int(expires_at) if isinstance(expires_at, int | float) else None,
        )


@dataclass(frozen=True)
class EventPage:
    items: list[PlayerEventRecord]
    next_cursor: str | None


def encode_cursor(sort_key: str) -> str:
    return sort_key.removeprefix(schema.EVENT_SK_PREFIX).encode().hex()


def decode_cursor(cursor: str) -> str:
    """The sort key to start after. Never outside the player's events: the prefix is ours, so
    a made-up cursor only moves the start (DynamoDB refuses a start key outside the query)."""
    return schema.EVENT_SK_PREFIX + bytes.fromhex(cursor).decode("utf-8", errors="replace")


class PlayerEventStore:
    """Reads only: the MQTT handler writes these items."""

    def __init__(self, table: Table) -> None:
        self._table = table

    def recent(self, player_id: str, limit: int, cursor: str | None) -> EventPage:
        """Newest first: one Query of the player's partition, sort key descending."""
        from boto3.dynamodb.conditions import Key  # first use pays for boto3, not the cold import

        kwargs: dict[str, Any] = {
            "KeyConditionExpression": Key(schema.PARTITION_KEY).eq(schema.player_pk(player_id))
            & Key(schema.SORT_KEY).begins_with(schema.EVENT_SK_PREFIX),
            "ScanIndexForward": False,
            "Limit": limit,
        }
        if cursor:
            kwargs["ExclusiveStartKey"] = {
                schema.PARTITION_KEY: schema.player_pk(player_id),
                schema.SORT_KEY: decode_cursor(cursor),
            }
        page = self._table.query(**kwargs)
        items = [PlayerEventRecord.from_item(plain(item)) for item in page.get("Items", [])]
        last = page.get("LastEvaluatedKey")
        return EventPage(
            items=items, next_cursor=encode_cursor(str(last[schema.SORT_KEY])) if last else None
        )

    def latest_states(self, player_ids: list[str]) -> dict[str, dict[str, Any]]:
        """Each player's ``STATE`` item (the MQTT handler's merged latest event fields), by id.

        Left a mapping, not a record: its fields are whatever the players last reported (Yoto's
        payload, untrusted and open-ended); the players router reads the few it shows, checked.

        One BatchGetItem by key per 100 players; players the handler has not heard from are absent.
        """
        if not player_ids:
            return {}
        # The client behind the Table resource converts DynamoDB types to plain Python itself.
        client = self._table.meta.client
        found: dict[str, dict[str, Any]] = {}
        unique = list(dict.fromkeys(player_ids))
        for start in range(0, len(unique), 100):
            request: dict[str, Any] = {
                self._table.name: {
                    "Keys": [schema.player_state_key(p) for p in unique[start : start + 100]]
                }
            }
            while request:
                answer = client.batch_get_item(RequestItems=request)
                for item in answer.get("Responses", {}).get(self._table.name, []):
                    state = plain(item)
                    player_id = str(state.get("player_id") or "")
                    if player_id:
                        found[player_id] = state
                request = answer.get("UnprocessedKeys") or {}
        return found
