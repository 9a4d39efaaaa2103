"""The CloudFront origin secret: written once by the pipeline before the stack that names it,
never overwritten (CloudFront and the app must agree), never printed, removed by teardown."""

from __future__ import annotations

import boto3
import pytest

from yoto_smart_stream_ci import deploy, environments, teardown
from yoto_smart_stream_ci.aws import AwsTarget
from yoto_smart_stream_ci.shared import EMULATOR_FLAG


@pytest.fixture
def target(aws_environ: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> AwsTarget:
    monkeypatch.setenv(EMULATOR_FLAG, "1")
    return AwsTarget.from_environ()


def test_the_origin_secret_is_written_once_and_never_printed(
    target: AwsTarget, capsys: pytest.CaptureFixture[str]
) -> None:
    env = "pr-31"
    name = environments.cloudfront_origin_secret_parameter(env)
    ssm = boto3.client("ssm")

    deploy.ensure_secrets(target, env, None)
    first = ssm.get_parameter(Name=name)["Parameter"]
    deploy.ensure_secrets(target, env, None)
    second = ssm.get_parameter(Name=name)["Parameter"]

    # A String: CloudFormation's {{resolve:ssm:...}} (CloudFront takes no SecureString).
    assert first["Type"] == "String"
    assert len(first["Value"]) >= 43  # 32 random bytes, URL-safe base64
    assert second["Value"] == first["Value"]
    assert second["Version"] == first["Version"]
    tags = ssm.list_tags_for_resource(ResourceType="Parameter", ResourceId=name)["TagList"]
    assert {t["Key"]: t["Value"] for t in tags} == environments.stack_tags(env)
    printed = capsys.readouterr()
    assert first["Value"] not in printed.out + printed.err

    report = teardown.teardown(target, env)
    assert report.ok, report.render()
    assert ssm.get_parameters(Names=[name])["InvalidParameters"] == [name]
