"""cleanup-stale against the emulator: only pr-* stacks past the limit are torn down."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from tests.pipeline.test_end_to_end import client
from yoto_smart_stream_ci import environments, pipeline
from yoto_smart_stream_ci.aws import AwsTarget
from yoto_smart_stream_ci.shared import EMULATOR_FLAG


def minimal_stack(env: str) -> str:
    parameter = {"Type": "String", "Value": "x", "Name": f"{environments.ssm_prefix(env)}/marker"}
    return json.dumps(
        {"Resources": {"Marker": {"Type": "AWS::SSM::Parameter", "Properties": parameter}}}
    )


def test_old_pr_stacks_are_torn_down_and_others_kept(
    endpoint: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    for key, value in {
        "AWS_ENDPOINT_URL": endpoint,
        EMULATOR_FLAG: "1",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_REGION": "eu-west-2",
    }.items():
        monkeypatch.setenv(key, value)
    cfn = client(endpoint, "cloudformation")
    for env in ("pr-901", "pr-902"):
        cfn.create_stack(
            StackName=environments.stack_name(env),
            TemplateBody=minimal_stack(env),
            Tags=[{"Key": k, "Value": v} for k, v in environments.stack_tags(env).items()],
        )
    created = cfn.describe_stacks(StackName=environments.stack_name("pr-901"))["Stacks"][0]
    later = created["CreationTime"].astimezone(UTC) + timedelta(hours=5)

    none = pipeline.run_cleanup_stale(AwsTarget.from_environ(), max_age_hours=24, now=later)
    assert none == []

    reports = pipeline.run_cleanup_stale(AwsTarget.from_environ(), max_age_hours=4, now=later)
    assert sorted(r.env for r in reports) == ["pr-901", "pr-902"]
    assert all(r.ok and r.stack_existed for r in reports)
    live = [
        s["StackName"]
        for s in cfn.list_stacks()["StackSummaries"]
        if s["StackStatus"] != "DELETE_COMPLETE" and "pr-90" in s["StackName"]
    ]
    assert live == []
    assert datetime.now(UTC) < later
