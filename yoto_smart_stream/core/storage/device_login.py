"""The pending Yoto device login (one item: ``YOTO`` / ``DEVICE_CODE``, expiring by TTL)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from yoto_smart_stream.core.storage import schema
from yoto_smart_stream.core.storage.items import conditional_write, plain

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.service_resource import Table


@dataclass(frozen=True)
class PendingLogin:
    device_code: str
    interval: int


class DeviceLoginStore:
    """The device code stays server-side; only this store reads or writes its item."""

    def __init__(self, table: Table) -> None:
        self._table = table

    def start(self, device_code: str, interval: int, expires_in: int) -> None:
        self._table.put_item(
            Item={
                **schema.device_code_key(),
                "device_code": device_code,
                "interval": interval,
                schema.TTL_ATTRIBUTE: int(time.time()) + expires_in,
            }
        )

    def pending(self) -> PendingLogin | None:
        """The login in progress, or None when none was started or its code expired."""
        found = self._table.get_item(Key=schema.device_code_key(), ConsistentRead=True).get("Item")
        if not found:
            return None
        item = plain(found)
        # DynamoDB's TTL deletes lazily, so an expired item may still be there.
        if int(item[schema.TTL_ATTRIBUTE]) <= time.time():
            return None
        return PendingLogin(
            device_code=str(item["device_code"]), interval=int(item.get("interval", 5))
        )

    def set_interval(self, interval: int) -> bool:
        """False if the login ended meanwhile: a finished login must not come back as an item
        without its device code."""
        return conditional_write(
            lambda: self._table.update_item(
                Key=schema.device_code_key(),
                UpdateExpression="SET #interval = :interval",
                ConditionExpression="attribute_exists(PK)",
                ExpressionAttributeNames={"#interval": "interval"},
                ExpressionAttributeValues={":interval": interval},
            )
        )

    def finish(self) -> None:
        self._table.delete_item(Key=schema.device_code_key())
