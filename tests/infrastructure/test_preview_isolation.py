"""What the environment template does for per-PR isolation and for the CloudFront origin:
retained task definitions (no deploy role may deregister one), buckets that refuse every
other preview's session, and the origin secret CloudFront sends to the API."""

from __future__ import annotations

import pytest

from tests.infrastructure.conftest import Deployment


@pytest.mark.parametrize("case", ["prod", "dev", "pr-42"])
def test_task_definitions_are_retained_so_no_role_needs_to_deregister_them(
    deployments: dict[str, Deployment], case: str
) -> None:
    """CloudFormation deregisters a replaced or deleted revision with the caller's rights, and
    that right cannot be scoped to an environment; with Retain it never calls it."""
    task_definition = deployments[case].resources["MqttTaskDefinition"]
    assert task_definition["DeletionPolicy"] == "Retain"
    assert task_definition["UpdateReplacePolicy"] == "Retain"
