"""Failed sign-in counters (OWASP ASVS V2.2): one item per throttle key, in DynamoDB so every
Lambda sees the same counts.

Each key counts failures in a fixed window: the first failure starts the window
(``window_ends``), later ones ``ADD`` to it atomically, and a failure after the window ends
starts a new one. ``expires_at`` (the table's TTL attribute) lets DynamoDB remove dead windows.
Keys are hashed, so no user name or address is stored in a key.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import TYPE_CHECKING

from yoto_smart_stream.core.storage import schema
from yoto_smart_stream.core.storage.items import conditional_write, plain

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.service_resource import Table


@dataclass(frozen=True)
class ThrottleWindow:
    failures: int
    window_ends: int


class ThrottleContentionError(Exception):
    """Parallel requests kept changing one throttle window; the failure was not counted."""


def throttle_digest(*parts: str) -> str:
    return hashlib.sha256("\x00".join(parts).encode()).hexdigest()[:40]


class LoginThrottleStore:
    def __init__(self, table: Table) -> None:
        self._table = table

    def get(self, digest: str, now: int) -> ThrottleWindow | None:
        """The live window for ``digest``, or None if there is none (or it has ended)."""
        item = self._table.get_item(Key=schema.throttle_key(digest), ConsistentRead=True).get(
            "Item"
        )
        if not item:
            return None
        window = ThrottleWindow(int(plain(item["failures"])), int(plain(item["window_ends"])))
        return window if window.window_ends > now else None

    def record_failure(self, digest: str, now: int, window_seconds: int) -> None:
        # Counted in the live window, or in a new one; a parallel request may start (or clear)
        # the window in between, so each write is conditional and the pair is tried again.
        for _ in range(3):
            if self._add_failure(digest, now) or self._start_window(digest, now, window_seconds):
                return
        raise ThrottleContentionError(
            "The sign-in throttle window kept changing under this request; try again."
        )

    def _start_window(self, digest: str, now: int, window_seconds: int) -> bool:
        """A new window with this failure; False if a live one exists (a parallel request)."""
        return conditional_write(
            lambda: self._table.put_item(
                Item={
                    **schema.throttle_key(digest),
                    "failures": 1,
                    "window_ends": now + window_seconds,
                    schema.TTL_ATTRIBUTE: now + window_seconds,
                },
                ConditionExpression="attribute_not_exists(PK) OR window_ends <= :now",
                ExpressionAttributeValues={":now": now},
            )
        )

    def _add_failure(self, digest: str, now: int) -> bool:
        """Count one failure in the live window; False if there is none."""
        return conditional_write(
            lambda: self._table.update_item(
                Key=schema.throttle_key(digest),
                UpdateExpression="ADD failures :one",
                ConditionExpression="window_ends > :now",
                ExpressionAttributeValues={":one": 1, ":now": now},
            )
        )

    def clear(self, digest: str) -> None:
        self._table.delete_item(Key=schema.throttle_key(digest))
