"""Audio metadata (``AUDIO`` partition) and streaming cards (``CARD`` partition)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from typing import TYPE_CHECKING, Any, Literal

from yoto_smart_stream.core.storage import schema
from yoto_smart_stream.core.storage.items import conditional_write, plain, query_partition

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.service_resource import Table

# Audio ids are uuid4 hex: 32 lowercase hex characters (anything else names no item).
AUDIO_ID_PATTERN = r"^[0-9a-f]{32}$"
AudioStatus = Literal["pending", "ready"]


@dataclass(frozen=True)
class AudioRecord:
    audio_id: str
    title: str
    filename: str
    content_type: str
    size_bytes: int
    status: AudioStatus
    created_at: int
    # Older items have no owner: only admins may change those.
    uploaded_by: str | None = None

    @classmethod
    def from_item(cls, item: dict[str, Any]) -> AudioRecord:
        return cls(
            audio_id=str(item["audio_id"]),
            title=str(item["title"]),
            filename=str(item["filename"]),
            content_type=str(item["content_type"]),
            size_bytes=int(item["size_bytes"]),
            status="ready" if item.get("status") == "ready" else "pending",
            created_at=int(item.get("created_at", 0)),
            uploaded_by=str(item["uploaded_by"]) if item.get("uploaded_by") else None,
        )

    def ready(self, size_bytes: int) -> AudioRecord:
        return replace(self, status="ready", size_bytes=size_bytes)


@dataclass(frozen=True)
class CardRecord:
    card_id: str
    title: str
    audio_ids: list[str]
    created_at: int
    # Older items have no owner: only admins may change those.
    created_by: str | None = None

    @classmethod
    def from_item(cls, item: dict[str, Any]) -> CardRecord:
        return cls(
            card_id=str(item["card_id"]),
            title=str(item.get("title", "")),
            audio_ids=[str(a) for a in item.get("audio_ids", [])],
            created_at=int(item.get("created_at", 0)),
            created_by=str(item["created_by"]) if item.get("created_by") else None,
        )


def _attributes(record: AudioRecord | CardRecord) -> dict[str, Any]:
    # DynamoDB stores no None: an absent owner is an absent attribute.
    return {k: v for k, v in asdict(record).items() if v is not None}


class AudioStore:
    def __init__(self, table: Table) -> None:
        self._table = table

    def create(self, audio: AudioRecord) -> None:
        self._table.put_item(
            Item={**schema.audio_key(audio.audio_id), **_attributes(audio)},
            ConditionExpression="attribute_not_exists(PK)",
        )

    def get(self, audio_id: str) -> AudioRecord | None:
        item = self._table.get_item(Key=schema.audio_key(audio_id)).get("Item")
        return AudioRecord.from_item(plain(item)) if item else None

    def list(self) -> list[AudioRecord]:
        return [AudioRecord.from_item(i) for i in query_partition(self._table, schema.AUDIO_PK)]

    def mark_ready(self, audio_id: str, size_bytes: int) -> bool:
        # Conditional: an item deleted meanwhile must not come back as a partial one.
        return conditional_write(
            lambda: self._table.update_item(
                Key=schema.audio_key(audio_id),
                UpdateExpression="SET #status = :ready, size_bytes = :size",
                ConditionExpression="attribute_exists(PK)",
                ExpressionAttributeNames={"#status": "status"},
                ExpressionAttributeValues={":ready": "ready", ":size": size_bytes},
            )
        )

    def delete(self, audio_id: str) -> None:
        self._table.delete_item(Key=schema.audio_key(audio_id))


class CardStore:
    def __init__(self, table: Table) -> None:
        self._table = table

    def put(self, card: CardRecord) -> None:
        self._table.put_item(Item={**schema.card_key(card.card_id), **_attributes(card)})

    def get(self, card_id: str) -> CardRecord | None:
        item = self._table.get_item(Key=schema.card_key(card_id)).get("Item")
        return CardRecord.from_item(plain(item)) if item else None

    def list(self) -> list[CardRecord]:
        return [CardRecord.from_item(i) for i in query_partition(self._table, schema.CARD_PK)]

    def delete(self, card_id: str) -> bool:
        return conditional_write(
            lambda: self._table.delete_item(
                Key=schema.card_key(card_id), ConditionExpression="attribute_exists(PK)"
            )
        )
