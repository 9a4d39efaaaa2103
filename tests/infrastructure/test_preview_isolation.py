"""What the environment template does for per-PR isolation and for the CloudFront origin:
retained task definitions (no deploy role may deregister one), buckets that refuse every
other preview's session, and the origin secret CloudFront sends to the API."""

from __future__ import annotations

from typing import Any

import pytest

from tests.infrastructure.conftest import Deployment, _deployment
from tests.support.iam_policy import (
    Request,
    Resolver,
    deploy_role_statements,
    is_allowed,
)
from tests.support.moto_server import TEST_ACCOUNT_ID, TEST_REGION
from tests.support.sam_template import substitute
from tests.support.template import REPO_ROOT, load_template
from yoto_smart_stream_ci import environments

BOOTSTRAP_TEMPLATE = REPO_ROOT / "infrastructure" / "bootstrap" / "template.yaml"


@pytest.mark.parametrize("case", ["prod", "dev", "pr-42"])
def test_task_definitions_are_retained_so_no_role_needs_to_deregister_them(
    deployments: dict[str, Deployment], case: str
) -> None:
    """CloudFormation deregisters a replaced or deleted revision with the caller's rights, and
    that right cannot be scoped to an environment; with Retain it never calls it."""
    task_definition = deployments[case].resources["MqttTaskDefinition"]
    assert task_definition["DeletionPolicy"] == "Retain"
    assert task_definition["UpdateReplacePolicy"] == "Retain"


# ------------------------------------------------------------------ buckets refuse other PRs

PREVIEW_ROLE_ID = "AROA3XFRBF23PREVIEW00"
STALE_CLEANUP = "stale-cleanup"
BUCKET_ACTIONS_ON_OBJECTS = ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"]
BUCKET_ACTIONS_ON_BUCKETS = [
    "s3:ListBucket",
    "s3:DeleteBucket",
    "s3:PutBucketPolicy",
    "s3:DeleteBucketPolicy",
]


@pytest.fixture(scope="module")
def preview_role() -> list[dict[str, Any]]:
    template = load_template(BOOTSTRAP_TEMPLATE)
    resolver = Resolver(
        template, {"GitHubRepository": "earchibald/yoto-smart-stream"}, TEST_ACCOUNT_ID, TEST_REGION
    )
    return deploy_role_statements(template, "PreviewDeployRole", resolver)


def _bucket_requests(env: str, session_name: str) -> list[tuple[str, Request]]:
    """Every bucket and object request against ``env``'s buckets by a preview-role session."""
    context = {
        "aws:userid": f"{PREVIEW_ROLE_ID}:{session_name}",
        "aws:PrincipalArn": (
            f"arn:aws:iam::{TEST_ACCOUNT_ID}:role/{environments.deploy_role_name('pr-1')}"
        ),
    }
    requests = []
    for logical_id, name in (
        ("AudioBucket", environments.audio_bucket_name(env, TEST_ACCOUNT_ID, TEST_REGION)),
        ("DashboardBucket", environments.dashboard_bucket_name(env, TEST_ACCOUNT_ID, TEST_REGION)),
    ):
        requests += [
            (logical_id, Request(a, f"arn:aws:s3:::{name}/audio/track.mp3", context))
            for a in BUCKET_ACTIONS_ON_OBJECTS
        ]
        requests += [
            (logical_id, Request(a, f"arn:aws:s3:::{name}", context))
            for a in BUCKET_ACTIONS_ON_BUCKETS
        ]
    return requests


def _bucket_policies(deployment: Deployment) -> dict[str, list[dict[str, Any]]]:
    """Each bucket's policy statements, resolved as CloudFormation would for ``deployment``."""
    attributes = {
        f"{lid}.Arn": f"arn:aws:s3:::{substitute(r['Properties']['BucketName'], deployment.parameters)}"
        for lid, r in deployment.of_type("AWS::S3::Bucket").items()
    }
    attributes["Distribution"] = "E2ABCDEF123456"

    def resolve(node: Any) -> Any:
        if isinstance(node, dict) and set(node) == {"Fn::GetAtt"}:
            return attributes[".".join(node["Fn::GetAtt"])]
        if isinstance(node, dict) and set(node) == {"Fn::Sub"}:
            return substitute(node, deployment.parameters, attributes)
        if isinstance(node, dict):
            return {k: resolve(v) for k, v in node.items()}
        if isinstance(node, list):
            return [resolve(v) for v in node]
        return node

    return {
        policy["Properties"]["Bucket"]["Ref"]: resolve(policy["Properties"]["PolicyDocument"])[
            "Statement"
        ]
        for policy in deployment.of_type("AWS::S3::BucketPolicy").values()
    }


def _refused(
    deployment: Deployment, identity: list[dict[str, Any]], session_name: str
) -> list[bool]:
    policies = _bucket_policies(deployment)
    return [
        not is_allowed(identity, request, policies[logical_id])
        for logical_id, request in _bucket_requests(deployment.env, session_name)
    ]


def test_a_preview_session_cannot_touch_another_previews_buckets(
    preview_role: list[dict[str, Any]],
) -> None:
    """The preview role's own policies allow every pr-* bucket (S3 gives no bucket tag to
    compare with the session), so pr-7's bucket policies refuse pr-42's session."""
    victim = _deployment("pr-7")
    assert all(_refused(victim, preview_role, "pr-42"))
    assert all(_refused(victim, preview_role, "pr-70"))  # pr-7 is a prefix of pr-70
    # pr-7's own deploy and teardown, and main's clean-up of stale previews, still work.
    assert not any(_refused(victim, preview_role, "pr-7"))
    assert not any(_refused(victim, preview_role, STALE_CLEANUP))


@pytest.mark.parametrize("case", ["prod", "dev"])
def test_no_preview_session_reaches_prod_or_dev_buckets(
    deployments: dict[str, Deployment], preview_role: list[dict[str, Any]], case: str
) -> None:
    for name in ("pr-42", STALE_CLEANUP, case):
        assert all(_refused(deployments[case], preview_role, name)), name
    # The bucket policy refuses them even without the role's own denies.
    assert all(
        _refused(
            deployments[case],
            [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}],
            STALE_CLEANUP,
        )
    )


# -------------------------------------------------- the shared artifacts bucket (sam package)

ARTIFACT_OBJECT_ACTIONS = [
    "s3:GetObject",
    "s3:GetObjectVersion",
    "s3:PutObject",
    "s3:DeleteObject",
    "s3:DeleteObjectVersion",
]
ARTIFACTS = environments.artifact_bucket_name(TEST_ACCOUNT_ID, TEST_REGION)


def _session(name: str) -> dict[str, str]:
    """The request context of the preview-role session ``name``, as IAM builds it."""
    return {
        "aws:userid": f"{PREVIEW_ROLE_ID}:{name}",
        "aws:PrincipalArn": (
            f"arn:aws:iam::{TEST_ACCOUNT_ID}:role/{environments.deploy_role_name('pr-1')}"
        ),
    }


def _artifact_keys(env: str, *, legacy: bool) -> list[str]:
    """Where ``env``'s packaged code and release records live: the prefix the pipeline computes
    for it as the preview role (any session of it) and, with ``legacy``, for a preview the
    pr-<N>/ prefix previews were packaged under before."""
    prefix = environments.artifact_prefix(env, f"{PREVIEW_ROLE_ID}:{STALE_CLEANUP}")
    keys = [f"{prefix}0123abcd", f"{prefix}releases/last-deploy.json"]
    return keys + ([f"{env}/0123abcd"] if legacy and env.startswith("pr-") else [])


def _artifact_requests(env: str, session_name: str, *, legacy: bool = True) -> list[Request]:
    """Every object action on ``env``'s artifacts, and listing its versions, by ``session_name``."""
    context = _session(session_name)
    requests = [
        Request(action, f"arn:aws:s3:::{ARTIFACTS}/{key}", context)
        for key in _artifact_keys(env, legacy=legacy)
        for action in ARTIFACT_OBJECT_ACTIONS
    ]
    prefix = environments.artifact_prefix(env, context["aws:userid"])
    listing = {**context, "s3:prefix": prefix}
    return [*requests, Request("s3:ListBucketVersions", f"arn:aws:s3:::{ARTIFACTS}", listing)]


@pytest.fixture(scope="module")
def artifact_bucket_policy() -> list[dict[str, Any]]:
    template = load_template(BOOTSTRAP_TEMPLATE)
    resolver = Resolver(
        template, {"GitHubRepository": "earchibald/yoto-smart-stream"}, TEST_ACCOUNT_ID, TEST_REGION
    )
    policy = resolver.resolve(template["Resources"]["ArtifactBucketPolicy"])
    statements: list[dict[str, Any]] = policy["Properties"]["PolicyDocument"]["Statement"]
    return statements


def _allowed(
    identity: list[dict[str, Any]], bucket_policy: list[dict[str, Any]], requests: list[Request]
) -> list[str]:
    return [f"{r.action} {r.resource}" for r in requests if is_allowed(identity, r, bucket_policy)]


@pytest.mark.parametrize("attacker", ["pr-42", "pr-70"])  # pr-7 is a prefix of pr-70
def test_a_preview_session_cannot_read_write_or_delete_another_previews_artifacts(
    preview_role: list[dict[str, Any]], artifact_bucket_policy: list[dict[str, Any]], attacker: str
) -> None:
    """One bucket holds every environment's `sam package` output; pr-42's session can read,
    overwrite and delete only its own (issue 12, item 8)."""
    assert (
        _allowed(preview_role, artifact_bucket_policy, _artifact_requests("pr-7", attacker)) == []
    )
    # Its own deploy and teardown still work: every action, and listing its own versions.
    own = _artifact_requests(attacker, attacker, legacy=False)
    assert len(_allowed(preview_role, artifact_bucket_policy, own)) == len(own)


@pytest.mark.parametrize("victim", ["prod", "dev"])
def test_no_preview_session_reaches_prod_or_dev_artifacts(
    preview_role: list[dict[str, Any]], artifact_bucket_policy: list[dict[str, Any]], victim: str
) -> None:
    for session in ("pr-42", STALE_CLEANUP, victim):
        requests = _artifact_requests(victim, session)
        assert _allowed(preview_role, artifact_bucket_policy, requests) == [], session


def test_the_artifact_bucket_refuses_other_previews_even_to_an_allow_everything_role(
    artifact_bucket_policy: list[dict[str, Any]],
) -> None:
    """The bucket policy holds by itself, as the environments' own bucket policies do."""
    everything = [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]
    objects = [
        r for r in _artifact_requests("pr-7", "pr-42") if r.action != "s3:ListBucketVersions"
    ]
    assert _allowed(everything, artifact_bucket_policy, objects) == []
    own = _artifact_requests("pr-42", "pr-42", legacy=False)
    assert len(_allowed(everything, artifact_bucket_policy, own)) == len(own)


def test_stale_cleanup_reads_and_removes_every_previews_artifacts_and_writes_none(
    preview_role: list[dict[str, Any]], artifact_bucket_policy: list[dict[str, Any]]
) -> None:
    requests = _artifact_requests("pr-7", STALE_CLEANUP, legacy=False)
    allowed = _allowed(preview_role, artifact_bucket_policy, requests)
    expected = [f"{r.action} {r.resource}" for r in requests if r.action != "s3:PutObject"]
    assert sorted(allowed) == sorted(expected)
    listing = Request(
        "s3:ListBucketVersions",
        f"arn:aws:s3:::{ARTIFACTS}",
        {**_session(STALE_CLEANUP), "s3:prefix": "previews/"},
    )
    assert is_allowed(preview_role, listing, artifact_bucket_policy)
    wide = Request("s3:ListBucketVersions", listing.resource, {**listing.context, "s3:prefix": ""})
    assert not is_allowed(preview_role, wide, artifact_bucket_policy)


def test_the_lifecycle_rule_expires_every_previews_artifacts_and_never_prods_or_devs() -> None:
    rules = load_template(BOOTSTRAP_TEMPLATE)["Resources"]["ArtifactBucket"]["Properties"][
        "LifecycleConfiguration"
    ]["Rules"]
    expiring = [r["Prefix"] for r in rules if r["Status"] == "Enabled" and "ExpirationInDays" in r]
    preview = environments.artifact_prefix("pr-7", f"{PREVIEW_ROLE_ID}:pr-7")
    assert any(preview.startswith(prefix) for prefix in expiring), expiring
    for env in ("prod", "dev"):
        kept = environments.artifact_prefix(env, f"{PREVIEW_ROLE_ID}:{env}")
        assert not any(kept.startswith(prefix) for prefix in expiring), (env, expiring)


# ------------------------------------------------------------ CloudFront -> API origin secret
# moto does not run CloudFront, so these check the rendered template: what CloudFormation
# would hand to CloudFront and to the function for each environment.

ORIGIN_SECRET_REFERENCE = "{{resolve:ssm:%s}}"


@pytest.mark.parametrize("case", ["prod", "pr-42"])
def test_cloudfront_sends_the_origin_secret_the_api_reads(
    deployments: dict[str, Deployment], case: str
) -> None:
    deployment = deployments[case]
    parameter = environments.cloudfront_origin_secret_parameter(deployment.env)
    origins = {
        o["Id"]: o for o in deployment.props("Distribution")["DistributionConfig"]["Origins"]
    }
    headers = origins["api"].get("OriginCustomHeaders", [])
    assert [h["HeaderName"] for h in headers] == ["X-Origin-Verify"]
    # A dynamic reference: the value never appears in the template, the parameters or a log.
    value = substitute(headers[0]["HeaderValue"], deployment.parameters)
    assert value == ORIGIN_SECRET_REFERENCE % parameter
    assert "OriginCustomHeaders" not in origins["dashboard"]  # S3 needs no secret
    variables = deployment.props("ApiFunction")["Environment"]["Variables"]
    assert substitute(variables["CLOUDFRONT_ORIGIN_SECRET_PARAMETER"], deployment.parameters) == (
        parameter
    )


def test_without_cloudfront_the_api_trusts_no_viewer_address_header(
    deployments: dict[str, Deployment],
) -> None:
    for case in ("dev", "pr-42-no-cloudfront"):
        variables = deployments[case].props("ApiFunction")["Environment"]["Variables"]
        assert "CLOUDFRONT_ORIGIN_SECRET_PARAMETER" not in variables
