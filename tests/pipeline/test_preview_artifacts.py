"""Each preview's packaged code and release records land under its own session's prefix of the
shared artifacts bucket, and its teardown (or main's stale-cleanup) removes exactly those.

Against moto, as the preview role's sessions: the pipeline's `sam package` and deploy record
run with credentials of a session named pr-<N> (moto's STS returns them, and its
GetCallerIdentity the UserId AWS would), then the bootstrap's policies are evaluated on the very
keys the bucket holds, with that session's aws:userid, as IAM would evaluate them.
"""

from __future__ import annotations

import contextlib
import json
import textwrap
from pathlib import Path
from typing import Any

import boto3
import pytest

from tests.support.env_stacks import emulated_target
from tests.support.iam_policy import Request, Resolver, deploy_role_statements, is_allowed
from tests.support.moto_server import TEST_ACCOUNT_ID, TEST_REGION
from tests.support.pipeline_cli import REPO_ROOT
from tests.support.template import load_template
from yoto_smart_stream_ci import deploy, environments, release, teardown
from yoto_smart_stream_ci.aws import AwsTarget

BOOTSTRAP = REPO_ROOT / "infrastructure" / "bootstrap" / "template.yaml"
PREVIEW_ROLE = environments.deploy_role_name("pr-1")
ARTIFACTS = environments.artifact_bucket_name(TEST_ACCOUNT_ID, TEST_REGION)
OBJECT_ACTIONS = ["s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:DeleteObjectVersion"]
TRUST = {
    "Version": "2012-10-17",
    "Statement": [
        {"Effect": "Allow", "Principal": {"AWS": TEST_ACCOUNT_ID}, "Action": "sts:AssumeRole"}
    ],
}


@pytest.fixture(scope="module")
def policies() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The preview role's statements and the artifacts bucket's policy, resolved."""
    template = load_template(BOOTSTRAP)
    resolver = Resolver(
        template, {"GitHubRepository": "earchibald/yoto-smart-stream"}, TEST_ACCOUNT_ID, TEST_REGION
    )
    bucket_policy = resolver.resolve(template["Resources"]["ArtifactBucketPolicy"])
    return (
        deploy_role_statements(template, "PreviewDeployRole", resolver),
        bucket_policy["Properties"]["PolicyDocument"]["Statement"],
    )


@pytest.fixture
def as_session(endpoint: str, monkeypatch: pytest.MonkeyPatch) -> Any:
    """``as_session(name)``: the pipeline's target with credentials of the preview-role session
    ``name``, assumed through moto's STS (the bucket is created as an administrator first).
    The credentials go into the environment, where the pipeline reads them, so the last
    session switched to is the one every target acts as."""
    admin = emulated_target(endpoint, monkeypatch)
    iam = admin.client("iam")
    with contextlib.suppress(iam.exceptions.EntityAlreadyExistsException):
        iam.create_role(RoleName=PREVIEW_ROLE, AssumeRolePolicyDocument=json.dumps(TRUST))
    role_arn = f"arn:aws:iam::{TEST_ACCOUNT_ID}:role/{PREVIEW_ROLE}"
    deploy.ensure_artifact_bucket(admin)
    admin.client("s3").put_bucket_versioning(
        Bucket=ARTIFACTS, VersioningConfiguration={"Status": "Enabled"}
    )
    sts = admin.client("sts")

    def switch(name: str) -> AwsTarget:
        credentials = sts.assume_role(RoleArn=role_arn, RoleSessionName=name)["Credentials"]
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", credentials["AccessKeyId"])
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", credentials["SecretAccessKey"])
        monkeypatch.setenv("AWS_SESSION_TOKEN", credentials["SessionToken"])
        return AwsTarget.from_environ()

    return switch


def _built_function(tmp_path: Path) -> Path:
    """The smallest `sam build` output: one function whose code `sam package` zips."""
    build = tmp_path / "build"
    (build / "Fn").mkdir(parents=True)
    (build / "Fn" / "app.py").write_text("def handler(event, context):\n    return event\n")
    (build / "template.yaml").write_text(
        textwrap.dedent(
            """\
            Transform: AWS::Serverless-2016-10-31
            Resources:
              Fn:
                Type: AWS::Serverless::Function
                Properties:
                  CodeUri: Fn
                  Handler: app.handler
                  Runtime: python3.13
            """
        )
    )
    return build


def _deploy_artifacts(target: AwsTarget, env: str, tmp_path: Path) -> list[str]:
    """What a preview deploy writes to the artifacts bucket: packaged code, deploy record."""
    workdir = tmp_path / env
    workdir.mkdir()
    deploy.package(target, env, _built_function(tmp_path / f"{env}-src"), workdir)
    release.record_deploy(target, env, commit="0123456789ab")
    return _keys_of(env)


def _keys_of(env: str) -> list[str]:
    listed = boto3.client("s3").list_object_versions(Bucket=ARTIFACTS)
    keys = [v["Key"] for v in listed.get("Versions", []) + listed.get("DeleteMarkers", [])]
    return sorted({k for k in keys if k.split("/")[1:2] and k.split("/")[1].endswith(f":{env}")})


def _allowed(policies: Any, user_id: str, keys: list[str]) -> list[str]:
    """The object actions on ``keys`` IAM allows the session whose aws:userid (its STS UserId)
    is ``user_id``."""
    identity, bucket_policy = policies
    context = {
        "aws:userid": user_id,
        "aws:PrincipalArn": f"arn:aws:iam::{TEST_ACCOUNT_ID}:role/{PREVIEW_ROLE}",
    }
    return [
        f"{action} {key}"
        for key in keys
        for action in OBJECT_ACTIONS
        if is_allowed(
            identity, Request(action, f"arn:aws:s3:::{ARTIFACTS}/{key}", context), bucket_policy
        )
    ]


def test_a_preview_deploy_writes_only_under_its_own_session_prefix_and_teardown_removes_it(
    as_session: Any, policies: Any, tmp_path: Path
) -> None:
    victim = as_session("pr-7")
    victim_id = victim.caller_user_id()
    victim_keys = _deploy_artifacts(victim, "pr-7", tmp_path)
    attacker = as_session("pr-42")
    attacker_id = attacker.caller_user_id()
    attacker_keys = _deploy_artifacts(attacker, "pr-42", tmp_path)

    # The code zip and the deploy record, both under previews/<the session's aws:userid>/.
    assert victim_id.endswith(":pr-7")
    assert attacker_id.endswith(":pr-42")
    for user_id, keys in ((victim_id, victim_keys), (attacker_id, attacker_keys)):
        prefix = f"{environments.PREVIEW_ARTIFACT_ROOT}{user_id}/"
        assert any(k.endswith("releases/last-deploy.json") for k in keys), keys
        assert any("/releases/" not in k for k in keys), keys  # what sam package uploaded
        assert all(k.startswith(prefix) for k in keys), (prefix, keys)

    # Evaluated on those very keys: pr-42 can neither read, overwrite nor delete pr-7's,
    # and can do all of it on its own.
    assert _allowed(policies, attacker_id, victim_keys) == []
    assert len(_allowed(policies, attacker_id, attacker_keys)) == len(attacker_keys) * 4

    # pr-7's own teardown (pr-cleanup.yml, session pr-7) removes its artifacts, not pr-42's.
    victim = as_session("pr-7")
    report = teardown.teardown(victim, "pr-7")
    assert report.ok, report.render()
    assert any("packaged artifacts of pr-7" in a for a in report.actions), report.actions
    assert _keys_of("pr-7") == []
    assert _keys_of("pr-42") == attacker_keys

    # main's stale-cleanup (the same role, another session) finds pr-42's record and removes
    # its artifacts, and the policies let it.
    cleanup = as_session("stale-cleanup")
    assert release.last_deploy(cleanup, "pr-42") is not None
    removals = [
        a for a in _allowed(policies, cleanup.caller_user_id(), attacker_keys) if "Delete" in a
    ]
    assert len(removals) == len(attacker_keys) * 2
    swept = teardown.teardown(cleanup, "pr-42")
    assert swept.ok, swept.render()
    assert _keys_of("pr-42") == []
