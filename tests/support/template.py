"""Read the SAM template the way CloudFormation does, so fixtures follow its schema."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

from cfnlint.decode import decode

REPO_ROOT = Path(__file__).resolve().parents[2]
TEMPLATE_PATH = REPO_ROOT / "infrastructure" / "template.yaml"
TABLE_LOGICAL_ID = "Table"


@cache
def load_template(path: Path = TEMPLATE_PATH) -> dict[str, Any]:
    template, errors = decode(str(path))
    if errors or template is None:
        raise ValueError(f"{path} does not parse: {errors}")
    return dict(template)


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
