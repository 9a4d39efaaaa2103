"""Reading player events the MQTT handler writes (item schema in ``schema``)."""

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


@dataclass(frozen=True)
class EventPage:
    items: list[dict[str, Any]]
    next_cursor: str | None


def encode_cursor(sort_key: str) -> str:
    return sort_key.removeprefix(schema.EVENT_SK_PREFIX).encode().hex()


def decode_cursor(cursor: str) -> str:
    """The sort key to start after. Never outside the player's events: the prefix is ours, so
    a made-up cursor only moves the start (DynamoDB refuses a start key outside the query)."""
    return schema.EVENT_SK_PREFIX + bytes.fromhex(cursor).decode("utf-8", errors="replace")


def recent_events(table: Table, player_id: str, limit: int, cursor: str | None) -> EventPage:
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
    page = table.query(**kwargs)
    items = [
        {name: plain(item[name]) for name in schema.EVENT_ATTRIBUTES if name in item}
        for item in page.get("Items", [])
    ]
    last = page.get("LastEvaluatedKey")
    return EventPage(
        items=items, next_cursor=encode_cursor(str(last[schema.SORT_KEY])) if last else None
    )


def latest_states(table: Table, player_ids: list[str]) -> dict[str, dict[str, Any]]:
    """Each player's ``STATE`` item (the MQTT handler's merged latest event fields), by id.

    One BatchGetItem by key per 100 players; players the handler has not heard from are absent.
    """
    if not player_ids:
        return {}
    # The client behind the Table resource converts DynamoDB types to plain Python itself.
    client = table.meta.client
    found: dict[str, dict[str, Any]] = {}
    unique = list(dict.fromkeys(player_ids))
    for start in range(0, len(unique), 100):
        request: dict[str, Any] = {
            table.name: {"Keys": [schema.player_state_key(p) for p in unique[start : start + 100]]}
        }
        while request:
            answer = client.batch_get_item(RequestItems=request)
            for item in answer.get("Responses", {}).get(table.name, []):
                state = plain(item)
                player_id = str(state.get("player_id") or "")
                if player_id:
                    found[player_id] = state
            request = answer.get("UnprocessedKeys") or {}
    return found
