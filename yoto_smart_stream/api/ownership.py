"""Who may change an item: its owner (uploader or creator) or an admin."""

from __future__ import annotations

from yoto_smart_stream.core.storage.users import UserRecord


def may_change(user: UserRecord, owner: str | None) -> bool:
    """The owner or an admin. Items without an owner: admins only."""
    return user.role == "admin" or (owner is not None and owner == user.username)
