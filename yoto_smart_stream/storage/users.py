"""App users: one item per user in the ``USER`` partition (see ``schema``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from yoto_smart_stream.storage import schema
from yoto_smart_stream.storage.items import now_epoch, plain

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.service_resource import Table

ROLES = ("admin", "user")


@dataclass(frozen=True)
class UserRecord:
    username: str
    password_hash: str
    role: str
    disabled: bool
    created_at: int
    failed_logins: int = 0
    locked_until: int = 0
    # Bumped on logout and disable; sessions carry it, so older sessions stop working.
    session_version: int = 0

    @classmethod
    def from_item(cls, item: dict[str, Any]) -> UserRecord:
        return cls(
            username=str(item["username"]),
            password_hash=str(item["password_hash"]),
            role=str(item["role"]),
            disabled=bool(item.get("disabled", False)),
            created_at=int(item.get("created_at", 0)),
            failed_logins=int(item.get("failed_logins", 0)),
            locked_until=int(item.get("locked_until", 0)),
            session_version=int(item.get("session_version", 0)),
        )


def _condition_failed(exc: ClientError) -> bool:
    return exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException"


class UserStore:
    def __init__(self, table: Table) -> None:
        self._table = table

    def get(self, username: str) -> UserRecord | None:
        item = self._table.get_item(Key=schema.user_key(username), ConsistentRead=True).get("Item")
        return UserRecord.from_item(item) if item else None

    def list(self) -> list[UserRecord]:
        """Every user: one Query of the USER partition (paged), never a Scan."""
        from boto3.dynamodb.conditions import Key  # first use pays for boto3, not the cold import

        users: list[UserRecord] = []
        kwargs: dict[str, Any] = {
            "KeyConditionExpression": Key(schema.PARTITION_KEY).eq(schema.USER_PK)
        }
        while True:
            page = self._table.query(**kwargs)
            users.extend(UserRecord.from_item(item) for item in page.get("Items", []))
            if "LastEvaluatedKey" not in page:
                return users
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def any_admin(self) -> bool:
        return any(u.role == "admin" for u in self.list())

    def create(self, username: str, password_hash: str, role: str) -> bool:
        """Create the user; False if the name is taken."""
        try:
            self._table.put_item(
                Item={
                    **schema.user_key(username),
                    "username": username,
                    "password_hash": password_hash,
                    "role": role,
                    "disabled": False,
                    "created_at": now_epoch(),
                    "session_version": 0,
                },
                ConditionExpression="attribute_not_exists(PK)",
            )
        except ClientError as exc:
            if _condition_failed(exc):
                return False
            raise
        return True

    def record_failed_login(self, username: str, max_failures: int, lockout_seconds: int) -> int:
        """Count a failed login; lock the account once ``max_failures`` is reached.

        Returns the epoch second the lock ends (0 if not locked). The counter is an atomic ADD,
        so parallel guesses cannot slip past the limit.
        """
        try:
            item = self._table.update_item(
                Key=schema.user_key(username),
                UpdateExpression="ADD failed_logins :one",
                ConditionExpression="attribute_exists(PK)",
                ExpressionAttributeValues={":one": 1},
                ReturnValues="ALL_NEW",
            )["Attributes"]
        except ClientError as exc:
            if _condition_failed(exc):
                return 0
            raise
        if int(plain(item.get("failed_logins", 0))) < max_failures:
            return 0
        locked_until = now_epoch() + lockout_seconds
        self._table.update_item(
            Key=schema.user_key(username),
            UpdateExpression="SET locked_until = :until, failed_logins = :zero",
            ExpressionAttributeValues={":until": locked_until, ":zero": 0},
        )
        return locked_until

    def record_successful_login(self, username: str, password_hash: str | None = None) -> None:
        """Reset the failure counter (and store an upgraded hash if argon2 asked for one)."""
        expression = "SET failed_logins = :zero, locked_until = :zero"
        values: dict[str, Any] = {":zero": 0}
        if password_hash:
            expression += ", password_hash = :hash"
            values[":hash"] = password_hash
        self._table.update_item(
            Key=schema.user_key(username),
            UpdateExpression=expression,
            ExpressionAttributeValues=values,
        )

    def set_disabled(self, username: str, disabled: bool) -> bool:
        try:
            self._table.update_item(
                Key=schema.user_key(username),
                UpdateExpression="SET disabled = :d ADD session_version :one",
                ConditionExpression="attribute_exists(PK)",
                ExpressionAttributeValues={":d": disabled, ":one": 1},
            )
        except ClientError as exc:
            if _condition_failed(exc):
                return False
            raise
        return True

    def end_sessions(self, username: str) -> None:
        try:
            self._table.update_item(
                Key=schema.user_key(username),
                UpdateExpression="ADD session_version :one",
                ConditionExpression="attribute_exists(PK)",
                ExpressionAttributeValues={":one": 1},
            )
        except ClientError as exc:
            if not _condition_failed(exc):
                raise

    def delete(self, username: str) -> bool:
        try:
            self._table.delete_item(
                Key=schema.user_key(username), ConditionExpression="attribute_exists(PK)"
            )
        except ClientError as exc:
            if _condition_failed(exc):
                return False
            raise
        return True
