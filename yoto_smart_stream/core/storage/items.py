"""What every store shares: plain values out of DynamoDB, one conditional write, one paged
partition query."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from yoto_smart_stream.core.storage import schema

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.service_resource import Table


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


def epoch_decimal(seconds: float) -> Decimal:
    """Epoch seconds as DynamoDB stores them (millisecond precision, exact)."""
    return Decimal(str(round(seconds, 3)))


def conditional_write(write: Callable[[], object]) -> bool:
    """Run one conditional write: True if it was applied, False if its condition did not hold.

    Every other error propagates. The one place ``ConditionalCheckFailedException`` is read.
    """
    try:
        write()
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
            return False
        raise
    return True


def query_partition(table: Table, partition: str) -> Iterator[dict[str, Any]]:
    """Every item of one partition, as plain values: one paged Query, never a Scan."""
    from boto3.dynamodb.conditions import Key  # first use pays for boto3, not the cold import

    kwargs: dict[str, Any] = {"KeyConditionExpression": Key(schema.PARTITION_KEY).eq(partition)}
    while True:
        page = table.query(**kwargs)
        yield from (plain(item) for item in page.get("Items", []))
        if "LastEvaluatedKey" not in page:
            return
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
