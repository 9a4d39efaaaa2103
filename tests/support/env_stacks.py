"""Pipeline environments' stacks in a test moto server, created and listed by name and tag as a
deploy leaves them, and the pipeline's view of that emulated account."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import pytest

from tests.support.moto_server import TEST_REGION
from tests.support.residue import client
from yoto_smart_stream_ci import environments
from yoto_smart_stream_ci.aws import AwsTarget
from yoto_smart_stream_ci.shared import EMULATOR_FLAG


def emulated_target(endpoint: str, monkeypatch: pytest.MonkeyPatch) -> AwsTarget:
    """The target the pipeline resolves when pointed at the moto server at ``endpoint``."""
    for key, value in {
        "AWS_ENDPOINT_URL": endpoint,
        EMULATOR_FLAG: "1",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_REGION": TEST_REGION,
    }.items():
        monkeypatch.setenv(key, value)
    return AwsTarget.from_environ()


def create_env_stack(endpoint: str, env: str, template: Mapping[str, Any]) -> str:
    """``env``'s stack, named and tagged as the pipeline names and tags it; returns its name."""
    stack = environments.stack_name(env)
    client(endpoint, "cloudformation").create_stack(
        StackName=stack,
        TemplateBody=json.dumps(template),
        Tags=[{"Key": k, "Value": v} for k, v in environments.stack_tags(env).items()],
    )
    return stack


def live_stacks(endpoint: str, *envs: str) -> list[str]:
    """The stacks of ``envs`` that exist (not DELETE_COMPLETE), sorted."""
    names = {environments.stack_name(env) for env in envs}
    return sorted(
        s["StackName"]
        for s in client(endpoint, "cloudformation").list_stacks()["StackSummaries"]
        if s["StackStatus"] != "DELETE_COMPLETE" and s["StackName"] in names
    )
