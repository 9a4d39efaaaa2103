"""The repository's templates, read by the pipeline's own loader, so fixtures follow their schema."""

from __future__ import annotations

import copy
from functools import cache
from pathlib import Path
from typing import Any

from yoto_smart_stream_ci import cloudformation

REPO_ROOT = Path(__file__).resolve().parents[2]
TEMPLATE_PATH = REPO_ROOT / "infrastructure" / "template.yaml"
TABLE_LOGICAL_ID = "Table"


@cache
def _parsed(path: Path) -> dict[str, Any]:
    return cloudformation.load_template(path)


def load_template(path: Path = TEMPLATE_PATH) -> dict[str, Any]:
    """A fresh copy each call (parsed once per path), so no test sees another's changes."""
    return copy.deepcopy(_parsed(path))


def table_properties() -> dict[str, Any]:
    return dict(load_template()["Resources"][TABLE_LOGICAL_ID]["Properties"])


def create_table_from_template(dynamodb_client: Any, table_name: str) -> None:
    """Create ``table_name`` with the template's own key schema, billing mode and TTL."""
    props = table_properties()
    dynamodb_client.create_table(
        TableName=table_name,
        AttributeDefinitions=props["AttributeDefinitions"],
        KeySchema=props["KeySchema"],
        BillingMode=props.get("BillingMode", "PAY_PER_REQUEST"),
        **(
            {"GlobalSecondaryIndexes": props["GlobalSecondaryIndexes"]}
            if "GlobalSecondaryIndexes" in props
            else {}
        ),
    )
    ttl = props.get("TimeToLiveSpecification")
    if ttl:
        dynamodb_client.update_time_to_live(
            TableName=table_name,
            TimeToLiveSpecification={"AttributeName": ttl["AttributeName"], "Enabled": True},
        )
