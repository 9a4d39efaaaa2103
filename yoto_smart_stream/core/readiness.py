"""Readiness of the storage an environment needs: its table and its audio bucket."""

from __future__ import annotations

from botocore.exceptions import BotoCoreError, ClientError

from yoto_smart_stream.core.aws import AwsClients
from yoto_smart_stream.core.storage import schema


def storage_checks(aws: AwsClients, bucket: str) -> dict[str, str]:
    """``ok`` or ``failed: <error type>`` per part; never the error's text (it may name
    resources, and anonymous callers read this)."""
    checks: dict[str, str] = {}
    try:
        # A keyed read proves the table exists and the role may read it (no DescribeTable
        # permission needed).
        aws.table.get_item(Key=schema.tokens_key(), ProjectionExpression=schema.PARTITION_KEY)
        checks["dynamodb"] = "ok"
    except (ClientError, BotoCoreError) as exc:
        checks["dynamodb"] = f"failed: {type(exc).__name__}"
    try:
        aws.s3.head_bucket(Bucket=bucket)
        checks["s3"] = "ok"
    except (ClientError, BotoCoreError, ValueError) as exc:
        checks["s3"] = f"failed: {type(exc).__name__}"
    return checks
