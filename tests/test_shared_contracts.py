"""Contracts that more than one part of the system relies on."""

from __future__ import annotations

import boto3
import pytest

from tests.support.template import create_table_from_template, table_properties
from yoto_smart_stream.core.storage import schema
from yoto_smart_stream_ci import environments


def test_template_table_uses_the_schema_module_keys() -> None:
    props = table_properties()
    keys = {k["KeyType"]: k["AttributeName"] for k in props["KeySchema"]}
    assert keys == {"HASH": schema.PARTITION_KEY, "RANGE": schema.SORT_KEY}
    assert props["TimeToLiveSpecification"]["AttributeName"] == schema.TTL_ATTRIBUTE


def test_table_fixture_is_created_in_moto(aws_environ: dict[str, str]) -> None:
    client = boto3.client("dynamodb")
    create_table_from_template(client, "contract-table")
    described = client.describe_table(TableName="contract-table")["Table"]
    assert {k["AttributeName"] for k in described["KeySchema"]} == {"PK", "SK"}
    ttl = client.describe_time_to_live(TableName="contract-table")
    assert ttl["TimeToLiveDescription"]["AttributeName"] == "expires_at"


@pytest.mark.parametrize("name", ["prod", "dev", "pr-1", "pr-42", "pr-9999999"])
def test_valid_environment_names(name: str) -> None:
    assert environments.validate_env(name) == name


@pytest.mark.parametrize(
    "name",
    [
        "PR-1",
        "pr-",
        "pr-01x",
        "pr-01",
        "pr-0",
        "prod;rm",
        "../prod",
        "",
        "pr-42 ",
        " dev",
        "pr-" + "9" * 8,
        "p" * 10_000,
        "staging",
        "pr-4\n2",
        "prod\n",
    ],
)
def test_invalid_environment_names_are_rejected(name: str) -> None:
    with pytest.raises(environments.EnvironmentNameError, match="environment name"):
        environments.validate_env(name)


def test_longest_bucket_name_fits_s3_limit() -> None:
    longest = environments.dashboard_bucket_name("pr-9999999", "123456789012", "ap-southeast-2")
    assert len(longest) <= 63, longest
