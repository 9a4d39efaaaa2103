"""Teardown against moto: versioned buckets emptied, leftovers outside a stack removed, idempotent."""

from __future__ import annotations

import boto3
import pytest

from tests.support.moto_server import TEST_ACCOUNT_ID, TEST_REGION
from yoto_smart_stream_ci import environments, teardown
from yoto_smart_stream_ci.aws import AwsTarget
from yoto_smart_stream_ci.shared import EMULATOR_FLAG


@pytest.fixture
def target(aws_environ: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> AwsTarget:
    monkeypatch.setenv(EMULATOR_FLAG, "1")
    return AwsTarget.from_environ()


def test_versioned_bucket_and_secrets_without_a_stack_are_removed(target: AwsTarget) -> None:
    env = "pr-77"
    s3 = boto3.client("s3")
    bucket = environments.audio_bucket_name(env, TEST_ACCOUNT_ID, TEST_REGION)
    s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": TEST_REGION})
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    for body in (b"one", b"two"):
        s3.put_object(Bucket=bucket, Key="audio/a.mp3", Body=body)
    s3.delete_object(Bucket=bucket, Key="audio/a.mp3")  # leaves a delete marker
    listed = s3.list_object_versions(Bucket=bucket)
    assert len(listed["Versions"]) == 2
    assert len(listed["DeleteMarkers"]) == 1
    boto3.client("ssm").put_parameter(
        Name=environments.admin_password_parameter(env), Value="x", Type="SecureString"
    )

    report = teardown.teardown(target, env)

    assert report.ok, report.render()
    assert not report.stack_existed
    assert f"emptied bucket {bucket} (3 versions/markers)" in report.actions
    assert f"deleted bucket {bucket}" in report.actions
    assert bucket not in {b["Name"] for b in s3.list_buckets()["Buckets"]}
    assert teardown.remaining_resources(target, env, TEST_ACCOUNT_ID) == []
    again = teardown.teardown(target, env)
    assert again.ok
    assert again.actions == []
    assert "the stack does not exist" in again.render()


def test_forced_prod_teardown_of_nothing_succeeds(target: AwsTarget) -> None:
    report = teardown.teardown(target, "prod", force=True)
    assert report.ok
    assert "Verified: nothing of prod remains." in report.render()
    with pytest.raises(teardown.TeardownRefused):
        teardown.teardown(target, "prod")
