"""Yoto tokens in DynamoDB, shared by every API Lambda and the MQTT handler.

One item (``schema.tokens_key()``) holds the access token, the refresh token and the access
token's expiry. Yoto rotates refresh tokens: spending one returns a new one and the old one may
stop working. So two processes must never both spend the same refresh token. A refresh first
takes a lock with a conditional write (only if the stored refresh token is still the one it
read and no unexpired lock exists); the process that loses waits briefly and re-reads the
winner's new tokens. The new tokens are written only if the stored refresh token is still the
one that was spent, which also drops the lock.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from yoto_smart_stream.core.settings import Settings
from yoto_smart_stream.core.storage import schema
from yoto_smart_stream.core.yoto.client import (
    TokenSet,
    YotoAuthClient,
    YotoNotLinkedError,
    YotoRefreshRejectedError,
    YotoUnavailableError,
)

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.service_resource import Table

LOCK_OWNER = "refresh_lock_owner"
LOCK_UNTIL = "refresh_lock_until"


def _conditional_check_failed(exc: ClientError) -> bool:
    return exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException"


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


class YotoTokenManager:
    """Hands out a valid Yoto access token, refreshing it safely across processes.

    ``get_access_token()`` refreshes when the token is within ``refresh_margin_seconds`` of
    expiry. ``force_refresh(rejected)`` refreshes after Yoto answered 401, unless another
    process already replaced the rejected token.
    """

    def __init__(
        self,
        table: Table,
        auth: YotoAuthClient,
        *,
        refresh_margin_seconds: float = 300,
        lock_seconds: float = 30,
        wait_seconds: float = 10,
        poll_interval_seconds: float = 0.1,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._table = table
        self._auth = auth
        self._margin = refresh_margin_seconds
        self._lock_seconds = lock_seconds
        self._wait_seconds = wait_seconds
        self._poll_interval = poll_interval_seconds
        self._clock = clock
        self._sleep = sleep
        # Unique per manager, so a lock is only ever released by the process that took it.
        self._owner = uuid.uuid4().hex

    @classmethod
    def from_settings(
        cls, settings: Settings, table: Table, auth: YotoAuthClient
    ) -> YotoTokenManager:
        return cls(
            table,
            auth,
            refresh_margin_seconds=settings.token_refresh_margin_seconds,
            lock_seconds=settings.token_refresh_lock_seconds,
            wait_seconds=settings.token_refresh_wait_seconds,
        )

    # -- storage ---------------------------------------------------------------------------

    def load(self) -> StoredTokens | None:
        item = self._table.get_item(Key=schema.tokens_key(), ConsistentRead=True).get("Item")
        return StoredTokens.from_item(item) if item else None

    def store(self, tokens: TokenSet) -> None:
        """Save freshly issued tokens (device-code login); replaces any previous account."""
        self._table.put_item(Item=self._item(tokens))

    def forget(self) -> None:
        """Unlink the Yoto account."""
        self._table.delete_item(Key=schema.tokens_key())

    def is_linked(self) -> bool:
        return self.load() is not None

    def _item(self, tokens: TokenSet) -> dict[str, Any]:
        return {
            **schema.tokens_key(),
            "access_token": tokens.access_token,
            "refresh_token": tokens.refresh_token,
            "access_expires_at": Decimal(str(round(tokens.expires_at, 3))),
            "token_type": tokens.token_type,
            "updated_at": Decimal(str(round(self._clock(), 3))),
        }

    # -- public API ------------------------------------------------------------------------

    def get_access_token(self) -> str:
        current = self._require()
        if self._usable(current):
            return current.access_token
        return self._refresh(current)

    def force_refresh(self, rejected_access_token: str) -> str:
        current = self._require()
        if current.access_token != rejected_access_token and self._usable(current):
            return current.access_token  # someone else already refreshed
        return self._refresh(current)

    # -- internals -------------------------------------------------------------------------

    def _require(self) -> StoredTokens:
        current = self.load()
        if current is None:
            raise YotoNotLinkedError(
                "No Yoto account is linked yet; an admin can link it under Yoto account."
            )
        return current

    def _usable(self, tokens: StoredTokens) -> bool:
        return tokens.expires_at - self._margin > self._clock()

    def _refresh(self, current: StoredTokens) -> str:
        deadline = self._clock() + self._wait_seconds
        seen_access_token = current.access_token
        while True:
            if self._try_lock(current):
                return self._refresh_locked(current)
            self._sleep(self._poll_interval)
            latest = self._require()
            if latest.access_token != seen_access_token and self._usable(latest):
                return latest.access_token  # the lock holder finished
            if self._clock() > deadline:
                raise YotoUnavailableError(
                    "Another process is refreshing the Yoto token and has not finished; "
                    "try again shortly."
                )
            current = latest

    def _try_lock(self, current: StoredTokens) -> bool:
        now = self._clock()
        try:
            self._table.update_item(
                Key=schema.tokens_key(),
                UpdateExpression="SET #owner = :owner, #until = :until",
                ConditionExpression=(
                    "refresh_token = :spent AND (attribute_not_exists(#until) OR #until < :now)"
                ),
                ExpressionAttributeNames={"#owner": LOCK_OWNER, "#until": LOCK_UNTIL},
                ExpressionAttributeValues={
                    ":owner": self._owner,
                    ":until": Decimal(str(round(now + self._lock_seconds, 3))),
                    ":now": Decimal(str(round(now, 3))),
                    ":spent": current.refresh_token,
                },
            )
        except ClientError as exc:
            if _conditional_check_failed(exc):
                return False
            raise
        return True

    def _refresh_locked(self, current: StoredTokens) -> str:
        try:
            tokens = self._auth.refresh(current.refresh_token)
        except YotoRefreshRejectedError:
            # The refresh token is dead: drop it so the API says "not linked" from now on.
            self._delete_if_refresh_token(current.refresh_token)
            raise
        except BaseException:
            self._release_lock()
            raise
        try:
            # Written only if nobody replaced the tokens meanwhile (e.g. a new device login);
            # the full put also removes the lock attributes.
            self._table.put_item(
                Item=self._item(tokens),
                ConditionExpression="refresh_token = :spent",
                ExpressionAttributeValues={":spent": current.refresh_token},
            )
        except ClientError as exc:
            if not _conditional_check_failed(exc):
                raise
        return tokens.access_token

    def _release_lock(self) -> None:
        try:
            self._table.update_item(
                Key=schema.tokens_key(),
                UpdateExpression="REMOVE #owner, #until",
                ConditionExpression="#owner = :owner",
                ExpressionAttributeNames={"#owner": LOCK_OWNER, "#until": LOCK_UNTIL},
                ExpressionAttributeValues={":owner": self._owner},
            )
        except ClientError as exc:
            if not _conditional_check_failed(exc):
                raise

    def _delete_if_refresh_token(self, refresh_token: str) -> None:
        try:
            self._table.delete_item(
                Key=schema.tokens_key(),
                ConditionExpression="refresh_token = :spent",
                ExpressionAttributeValues={":spent": refresh_token},
            )
        except ClientError as exc:
            if not _conditional_check_failed(exc):
                raise
