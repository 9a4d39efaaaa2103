"""Audio metadata (``AUDIO`` partition) and streaming cards (``CARD`` partition)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from yoto_smart_stream.core.storage import schema
from yoto_smart_stream.core.storage.items import plain

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.service_resource import Table


def _query_partition(table: Table, pk: str) -> list[dict[str, Any]]:
    from boto3.dynamodb.conditions import Key  # first use pays for boto3, not the cold import

    items: list[dict[str, Any]] = []
    kwargs: dict[str, Any] = {"KeyConditionExpression": Key(schema.PARTITION_KEY).eq(pk)}
    while True:
        page = table.query(**kwargs)
        items.extend(plain(item) for item in page.get("Items", []))
        if "LastEvaluatedKey" not in page:
            return items
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def _without_keys(item: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in item.items() if k not in (schema.PARTITION_KEY, schema.SORT_KEY)}


class AudioStore:
    def __init__(self, table: Table) -> None:
        self._table = table

    def put(self, audio_id: str, attributes: dict[str, Any]) -> None:
        self._table.put_item(
            Item={**schema.audio_key(audio_id), "audio_id": audio_id, **attributes},
            ConditionExpression="attribute_not_exists(PK)",
        )

    def get(self, audio_id: str) -> dict[str, Any] | None:
        item = self._table.get_item(Key=schema.audio_key(audio_id)).get("Item")
        return _without_keys(plain(item)) if item else None

    def list(self) -> list[dict[str, Any]]:
        return [_without_keys(i) for i in _query_partition(self._table, schema.AUDIO_PK)]

    def mark_ready(self, audio_id: str, size_bytes: int) -> None:
        # Conditional: an item deleted meanwhile must not come back as a partial one.
        try:
            self._table.update_item(
                Key=schema.audio_key(audio_id),
                UpdateExpression="SET #status = :ready, size_bytes = :size",
                ConditionExpression="attribute_exists(PK)",
                ExpressionAttributeNames={"#status": "status"},
                ExpressionAttributeValues={":ready": "ready", ":size": size_bytes},
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
                raise

    def delete(self, audio_id: str) -> None:
        self._table.delete_item(Key=schema.audio_key(audio_id))


class CardStore:
    def __init__(self, table: Table) -> None:
        self._table = table

    def put(self, card_id: str, attributes: dict[str, Any]) -> None:
        self._table.put_item(Item={**schema.card_key(card_id), "card_id": card_id, **attributes})

    def get(self, card_id: str) -> dict[str, Any] | None:
        item = self._table.get_item(Key=schema.card_key(card_id)).get("Item")
        return _without_keys(plain(item)) if item else None

    def list(self) -> list[dict[str, Any]]:
        return [_without_keys(i) for i in _query_partition(self._table, schema.CARD_PK)]

    def delete(self, card_id: str) -> bool:
        try:
            self._table.delete_item(
                Key=schema.card_key(card_id), ConditionExpression="attribute_exists(PK)"
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
                return False
            raise
        return True
