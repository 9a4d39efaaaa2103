"""Teardown against moto: versioned buckets emptied, leftovers outside a stack removed, idempotent,
and a forced teardown of a deployed prod removes the data its stack retains."""

from __future__ import annotations

from pathlib import Path

import boto3
import pytest

from tests.support.moto_server import TEST_ACCOUNT_ID, TEST_REGION
from tests.support.oci import build_oci_tarball
from tests.support.pipeline_cli import REPO_ROOT, PipelineRunner
from tests.support.residue import client, remaining_of
from yoto_smart_stream_ci import environments, images, teardown
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


def _tags(repository: str) -> dict[str, str]:
    listed = boto3.client("ecr").list_images(repositoryName=repository)["imageIds"]
    return {i["imageTag"]: i["imageDigest"] for i in listed if "imageTag" in i}


def test_teardown_removes_only_its_own_image_tags_from_a_long_lived_repository(
    target: AwsTarget, tmp_path: Path
) -> None:
    """dev's repository is the bootstrap's and outlives a teardown of dev; a preview's is its
    own (tests/pipeline/test_preview_images.py) and goes with it."""
    (tmp_path / "app").mkdir()
    (tmp_path / "app" / "main.py").write_text("print('same image for everyone')\n")
    tarball = tmp_path / "image.tar"
    digest = build_oci_tarball(tmp_path / "app", tarball)
    uris = {
        env: images.register_oci_image(target, env, "0123456789abcdef", tarball)
        for env in ("pr-4", "dev")
    }
    dev = environments.ecr_repository("dev")
    assert uris["dev"].endswith(f"/{dev}@{digest}")
    assert uris["pr-4"].endswith(f"/{environments.ecr_repository('pr-4')}@{digest}")
    assert _tags(dev) == {"dev-0123456789ab": digest}

    report = teardown.teardown(target, "dev")

    assert report.ok, report.render()
    assert f"deleted 1 image tag(s) of dev from {dev}" in report.actions
    assert _tags(dev) == {}
    assert dev in {
        r["repositoryName"] for r in boto3.client("ecr").describe_repositories()["repositories"]
    }
    assert _tags(environments.ecr_repository("pr-4")) == {"pr-4-0123456789ab": digest}
    assert teardown.teardown(target, "pr-4").ok


def test_a_real_account_without_the_bootstrap_repository_is_told_to_deploy_it(
    aws_environ: dict[str, str], tmp_path: Path
) -> None:
    # A region the emulator has never seen holds no repository, as an account before bootstrap.
    real = AwsTarget(
        region="ca-central-1", endpoint_url=aws_environ["AWS_ENDPOINT_URL"], emulated=False
    )
    repository = environments.ecr_repository("dev")
    with pytest.raises(RuntimeError, match=f"{repository} does not exist: deploy infrastructure"):
        images.ecr_login(real, "dev", tmp_path / "password")
    assert not (tmp_path / "password").exists()
    assert real.client("ecr").describe_repositories()["repositories"] == []
    # A preview's repository is its own: the pipeline creates it, in a real account too.
    images.ecr_login(real, "pr-7", tmp_path / "password")
    (created,) = real.client("ecr").describe_repositories()["repositories"]
    assert created["repositoryName"] == environments.ecr_repository("pr-7")
    real.client("ecr").delete_repository(repositoryName=created["repositoryName"], force=True)


def test_forced_teardown_of_a_deployed_prod_removes_its_retained_data(
    built_package: Path, endpoint: str, tmp_path: Path
) -> None:
    """A real prod stack: deletion-protected, retained table and retained audio bucket."""
    tarball = tmp_path / "mqtt.tar"
    build_oci_tarball(REPO_ROOT / "mqtt", tarball)
    runner = PipelineRunner(endpoint)
    deployed = runner.run(
        "deploy", "--env", "prod", "--oci-tarball", str(tarball),
        "--build-dir", str(built_package), "--commit", "prod00000001",
    )  # fmt: skip
    assert deployed.returncode == 0, deployed.stdout[-3000:] + deployed.stderr[-3000:]
    table = environments.table_name("prod")
    described = client(endpoint, "dynamodb").describe_table(TableName=table)["Table"]
    assert described["DeletionProtectionEnabled"] is True
    bucket = environments.audio_bucket_name("prod", TEST_ACCOUNT_ID, TEST_REGION)
    client(endpoint, "s3").put_object(Bucket=bucket, Key="audio/a.mp3", Body=b"family audio")

    refused = runner.run("teardown", "--env", "prod")
    assert refused.returncode == 2, refused.stdout + refused.stderr
    assert remaining_of(endpoint, "prod") != []

    torn = runner.run("teardown", "--env", "prod", "--force")

    assert torn.returncode == 0, torn.stdout + torn.stderr
    out = torn.stdout
    assert f"turned off deletion protection of table {table}" in out
    assert f"deleted table {table} (the stack deletion retained it)" in out
    assert f"deleted bucket {bucket}" in out
    assert "Verified: nothing of prod remains." in out
    assert remaining_of(endpoint, "prod") == []
