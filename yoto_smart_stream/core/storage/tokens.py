"""The linked Yoto account's tokens: one item (``YOTO`` / ``TOKENS``), shared by every API
Lambda and the MQTT handler.

The item holds the access token, the rotating refresh token, the access token's expiry and,
while a refresh runs, the refresh lock (its owner and until when it holds). Every write that
depends on what another process may have changed meanwhile is conditional on the refresh token
it read; ``yoto.tokens.YotoTokenManager`` builds the refresh protocol on these writes.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from yoto_smart_stream.core.storage import schema
from yoto_smart_stream.core.storage.items import conditional_write, epoch_decimal, plain

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.service_resource import Table

    from yoto_smart_stream.core.yoto.client import TokenSet

LOCK_OWNER = "refresh_lock_owner"
LOCK_UNTIL = "refresh_lock_until"


@dataclass(frozen=True)
class StoredTokens:
    access_token: str
    refresh_token: str
    expires_at: float
    lock_owner: str | None
    lock_until: float | None

    @classmethod
    def from_item(cls, item: dict[str, Any]) -> StoredTokens:
        lock_until = item.get(LOCK_UNTIL)
        return cls(
            access_token=str(item["access_token"]),
            refresh_token=str(item["refresh_token"]),
            expires_at=float(item["access_expires_at"]),
            lock_owner=item.get(LOCK_OWNER),
            lock_until=float(lock_until) if lock_until is not None else None,
        )


class TokenStore:
    """Only this store reads or writes the token item."""

    def __init__(self, table: Table) -> None:
        self._table = table

    def load(self) -> StoredTokens | None:
        item = self._table.get_item(Key=schema.tokens_key(), ConsistentRead=True).get("Item")
        return StoredTokens.from_item(plain(item)) if item else None

    def is_linked(self) -> bool:
        return self.load() is not None

    def store(self, tokens: TokenSet, now: float | None = None) -> None:
        """Freshly issued tokens (device-code login): replaces any previous account."""
        self._table.put_item(Item=self._item(tokens, time.time() if now is None else now))

    def delete(self) -> None:
        """Unlink the Yoto account."""
        self._table.delete_item(Key=schema.tokens_key())

    def take_refresh_lock(self, spent: str, owner: str, now: float, until: float) -> bool:
        """Lock the refresh of ``spent``; False if it was replaced or a live lock is held."""
        return conditional_write(
            lambda: self._table.update_item(
                Key=schema.tokens_key(),
                UpdateExpression="SET #owner = :owner, #until = :until",
                ConditionExpression=(
                    "refresh_token = :spent AND (attribute_not_exists(#until) OR #until < :now)"
                ),
                ExpressionAttributeNames={"#owner": LOCK_OWNER, "#until": LOCK_UNTIL},
                ExpressionAttributeValues={
                    ":owner": owner,
                    ":until": epoch_decimal(until),
                    ":now": epoch_decimal(now),
                    ":spent": spent,
                },
            )
        )

    def replace(self, spent: str, tokens: TokenSet, now: float) -> bool:
        """The refreshed tokens, only if nobody replaced ``spent`` meanwhile (e.g. a new device
        login); the full put also drops the lock."""
        return conditional_write(
            lambda: self._table.put_item(
                Item=self._item(tokens, now),
                ConditionExpression="refresh_token = :spent",
                ExpressionAttributeValues={":spent": spent},
            )
        )

    def release_refresh_lock(self, owner: str) -> bool:
        return conditional_write(
            lambda: self._table.update_item(
                Key=schema.tokens_key(),
                UpdateExpression="REMOVE #owner, #until",
                ConditionExpression="#owner = :owner",
                ExpressionAttributeNames={"#owner": LOCK_OWNER, "#until": LOCK_UNTIL},
                ExpressionAttributeValues={":owner": owner},
            )
        )

    def delete_if_refresh_token(self, spent: str, owner: str) -> bool:
        """Drop a dead refresh token, unless a new login already replaced it or ``owner`` no
        longer holds the refresh lock: a refresh that outlived its lease may have been refused
        because the process that took over spent the token, and that one's result must land."""
        return conditional_write(
            lambda: self._table.delete_item(
                Key=schema.tokens_key(),
                ConditionExpression="refresh_token = :spent AND #owner = :owner",
                ExpressionAttributeNames={"#owner": LOCK_OWNER},
                ExpressionAttributeValues={":spent": spent, ":owner": owner},
            )
        )

    @staticmethod
    def _item(tokens: TokenSet, now: float) -> dict[str, Any]:
        return {
            **schema.tokens_key(),
            "access_token": tokens.access_token,
            "refresh_token": tokens.refresh_token,
            "access_expires_at": epoch_decimal(tokens.expires_at),
            "token_type": tokens.token_type,
            "updated_at": epoch_decimal(now),
        }
