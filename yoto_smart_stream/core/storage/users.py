"""App users: one item per user in the ``USER`` partition (see ``schema``)."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from yoto_smart_stream.core.storage import schema
from yoto_smart_stream.core.storage.items import conditional_write, now_epoch, query_partition

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.service_resource import Table


@dataclass(frozen=True)
class UserRecord:
    username: str
    password_hash: str
    role: str
    disabled: bool
    created_at: int
    # Random, new at creation and on logout, disable and enable; sessions carry it, so older sessions
    # stop working, and a deleted user's session never fits a re-created user of that name
    # (a counter starting at 0 would). Empty on items written before it existed.
    session_epoch: str = ""

    @classmethod
    def from_item(cls, item: dict[str, Any]) -> UserRecord:
        return cls(
            username=str(item["username"]),
            password_hash=str(item["password_hash"]),
            role=str(item["role"]),
            disabled=bool(item.get("disabled", False)),
            created_at=int(item.get("created_at", 0)),
            session_epoch=str(item.get("session_epoch", "")),
        )


def new_session_epoch() -> str:
    return secrets.token_urlsafe(16)


class UserStore:
    def __init__(self, table: Table) -> None:
        self._table = table

    def get(self, username: str) -> UserRecord | None:
        item = self._table.get_item(Key=schema.user_key(username), ConsistentRead=True).get("Item")
        return UserRecord.from_item(item) if item else None

    def list(self) -> list[UserRecord]:
        """Every user: one Query of the USER partition (paged), never a Scan."""
        return [UserRecord.from_item(i) for i in query_partition(self._table, schema.USER_PK)]

    def any_admin(self) -> bool:
        return any(u.role == "admin" for u in self.list())

    def create(self, username: str, password_hash: str, role: str) -> bool:
        """Create the user; False if the name is taken."""
        return conditional_write(
            lambda: self._table.put_item(
                Item={
                    **schema.user_key(username),
                    "username": username,
                    "password_hash": password_hash,
                    "role": role,
                    "disabled": False,
                    "created_at": now_epoch(),
                    "session_epoch": new_session_epoch(),
                },
                ConditionExpression="attribute_not_exists(PK)",
            )
        )

    def store_upgraded_hash(self, username: str, password_hash: str) -> None:
        """Keep the rehash argon2 asked for (its parameters changed since the user was made)."""
        # A user deleted meanwhile must not come back as a partial item.
        conditional_write(
            lambda: self._table.update_item(
                Key=schema.user_key(username),
                UpdateExpression="SET password_hash = :hash",
                ConditionExpression="attribute_exists(PK)",
                ExpressionAttributeValues={":hash": password_hash},
            )
        )

    def set_disabled(self, username: str, disabled: bool) -> bool:
        return conditional_write(
            lambda: self._table.update_item(
                Key=schema.user_key(username),
                UpdateExpression="SET disabled = :d, session_epoch = :epoch",
                ConditionExpression="attribute_exists(PK)",
                ExpressionAttributeValues={":d": disabled, ":epoch": new_session_epoch()},
            )
        )

    def end_sessions(self, username: str) -> None:
        conditional_write(
            lambda: self._table.update_item(
                Key=schema.user_key(username),
                UpdateExpression="SET session_epoch = :epoch",
                ConditionExpression="attribute_exists(PK)",
                ExpressionAttributeValues={":epoch": new_session_epoch()},
            )
        )

    def delete(self, username: str) -> bool:
        return conditional_write(
            lambda: self._table.delete_item(
                Key=schema.user_key(username), ConditionExpression="attribute_exists(PK)"
            )
        )
