"""Each preview's MQTT image lives in its own ECR repository, created by the pipeline tagged
with the preview's Environment, so one PR's session cannot delete another's images, and
teardown removes the repository with the preview."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import boto3
import pytest

from tests.support.iam_policy import (
    Request,
    Resolver,
    deploy_role_statements,
    is_allowed,
)
from tests.support.moto_server import TEST_ACCOUNT_ID, TEST_REGION
from tests.support.oci import build_oci_tarball
from tests.support.pipeline_cli import REPO_ROOT
from tests.support.template import load_template
from yoto_smart_stream_ci import environments, images, teardown
from yoto_smart_stream_ci.aws import AwsTarget
from yoto_smart_stream_ci.shared import EMULATOR_FLAG

BOOTSTRAP = REPO_ROOT / "infrastructure" / "bootstrap" / "template.yaml"
PREVIEW_ROLE_ID = "AROA3XFRBF23PREVIEW00"
ATTACKER, VICTIM = "pr-42", "pr-7"
IMAGE_ACTIONS = [
    "ecr:BatchDeleteImage",
    "ecr:PutImage",
    "ecr:BatchGetImage",
    "ecr:DeleteRepository",
    "ecr:PutLifecyclePolicy",
]


@pytest.fixture
def target(aws_environ: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> AwsTarget:
    monkeypatch.setenv(EMULATOR_FLAG, "1")
    return AwsTarget.from_environ()


@pytest.fixture(scope="module")
def preview_statements() -> list[dict[str, Any]]:
    template = load_template(BOOTSTRAP)
    resolver = Resolver(
        template, {"GitHubRepository": "earchibald/yoto-smart-stream"}, TEST_ACCOUNT_ID, TEST_REGION
    )
    return deploy_role_statements(template, "PreviewDeployRole", resolver)


def _repository_request(action: str, env: str, session: str) -> Request:
    """``action`` on ``env``'s repository by the preview-role session ``session``, with the
    repository's real tags (as moto holds them) in the request context, as AWS supplies them."""
    ecr = boto3.client("ecr")
    repository = ecr.describe_repositories(repositoryNames=[environments.ecr_repository(env)])[
        "repositories"
    ][0]
    tags = ecr.list_tags_for_resource(resourceArn=repository["repositoryArn"])["tags"]
    context = {"aws:userid": f"{PREVIEW_ROLE_ID}:{session}"}
    context |= {f"aws:ResourceTag/{t['Key']}": t["Value"] for t in tags}
    return Request(action, repository["repositoryArn"], context)


def test_a_preview_session_cannot_touch_another_previews_images(
    target: AwsTarget, preview_statements: list[dict[str, Any]]
) -> None:
    for env in (ATTACKER, VICTIM):
        images.ensure_repository(target, env)
    attacks = [_repository_request(a, VICTIM, ATTACKER) for a in IMAGE_ACTIONS]
    assert [a for a in attacks if is_allowed(preview_statements, a)] == []
    retag = _repository_request("ecr:TagResource", VICTIM, ATTACKER)
    context = {**retag.context, "aws:RequestTag/Environment": ATTACKER}
    assert not is_allowed(preview_statements, Request(retag.action, retag.resource, context))
    own = [_repository_request(a, VICTIM, VICTIM) for a in IMAGE_ACTIONS]
    assert [a for a in own if not is_allowed(preview_statements, a)] == []
    cleanup = [_repository_request(a, VICTIM, "stale-cleanup") for a in IMAGE_ACTIONS]
    assert [a for a in cleanup if not is_allowed(preview_statements, a)] == []


def test_a_preview_repository_is_created_tagged_and_removed_by_teardown(
    target: AwsTarget, tmp_path: Path
) -> None:
    (tmp_path / "app").mkdir()
    (tmp_path / "app" / "main.py").write_text("print('same image for everyone')\n")
    tarball = tmp_path / "image.tar"
    digest = build_oci_tarball(tmp_path / "app", tarball)
    envs = ("pr-5", "pr-55")
    uris = {
        env: images.register_oci_image(target, env, "0123456789abcdef", tarball) for env in envs
    }
    ecr = boto3.client("ecr")
    for env in envs:
        repository = environments.ecr_repository(env)
        assert uris[env].endswith(f"/{repository}@{digest}")
        (described,) = ecr.describe_repositories(repositoryNames=[repository])["repositories"]
        tags = ecr.list_tags_for_resource(resourceArn=described["repositoryArn"])["tags"]
        assert {t["Key"]: t["Value"] for t in tags} == environments.stack_tags(env)
    assert environments.ecr_repository("pr-5") != environments.ecr_repository("pr-55")

    report = teardown.teardown(target, "pr-5")

    assert report.ok, report.render()
    assert f"deleted ECR repository {environments.ecr_repository('pr-5')}" in report.actions
    names = {r["repositoryName"] for r in ecr.describe_repositories()["repositories"]}
    assert environments.ecr_repository("pr-5") not in names
    assert environments.ecr_repository("pr-55") in names  # pr-55 pushed the same image
    assert teardown.remaining_resources(target, "pr-55", TEST_ACCOUNT_ID) == [
        f"ECR repository {environments.ecr_repository('pr-55')}"
    ]
    assert teardown.teardown(target, "pr-55").ok
    assert teardown.remaining_resources(target, "pr-55", TEST_ACCOUNT_ID) == []


def test_retained_task_definition_revisions_are_not_leftovers() -> None:
    """The app template retains task definitions (no deploy role may deregister one), so the
    tag search after a teardown finds them and must not fail the teardown for them."""
    revision = (
        f"arn:aws:ecs:{TEST_REGION}:{TEST_ACCOUNT_ID}:task-definition/yoto-smart-stream-pr-7-mqtt:3"
    )
    cluster = f"arn:aws:ecs:{TEST_REGION}:{TEST_ACCOUNT_ID}:cluster/yoto-smart-stream-pr-7"
    assert teardown.is_task_definition(revision)
    assert not teardown.is_task_definition(cluster)
    assert not teardown.is_task_definition("arn:aws:s3:::task-definition/x")
