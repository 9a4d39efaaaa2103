"""Helpers for turning DynamoDB items into plain JSON-able values."""

from __future__ import annotations

import time
from decimal import Decimal
from typing import Any


def plain(value: Any) -> Any:
    """DynamoDB returns numbers as Decimal and sets as set; JSON wants int/float and lists."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set):
        return [plain(v) for v in value]
    return value


def now_epoch() -> int:
    return int(time.time())
