"""Security baseline: private encrypted TLS-only buckets, least-privilege roles, no secrets in
parameters, and the outputs the pipeline reads."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.infrastructure.conftest import Deployment
from tests.support.sam_template import substitute
from tests.support.template import load_template
from yoto_smart_stream_ci import environments

CASES = ["prod", "dev", "pr-42", "pr-42-no-cloudfront"]
# The one action IAM accepts only with Resource "*" (it has no resource-level permissions).
RESOURCE_WILDCARD_ALLOWED = {"ecr:GetAuthorizationToken"}


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _allow_statements(deployment: Deployment) -> Iterator[tuple[str, dict[str, Any]]]:
    for lid, resource in deployment.resources.items():
        props = resource.get("Properties", {})
        documents = [p["PolicyDocument"] for p in props.get("Policies", [])]
        if resource["Type"] in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"):
            documents.append(props["PolicyDocument"])
        for document in documents:
            for statement in _as_list(document["Statement"]):
                if statement["Effect"] == "Allow":
                    yield lid, statement


@pytest.mark.parametrize("case", CASES)
def test_roles_grant_no_wildcard_actions_and_scope_resources(
    deployments: dict[str, Deployment], case: str
) -> None:
    deployment = deployments[case]
    statements = list(_allow_statements(deployment))
    assert len(statements) >= 6
    for lid, statement in statements:
        actions = _as_list(statement["Action"])
        assert all("*" not in action for action in actions), (lid, actions)
        if "*" in _as_list(statement["Resource"]):
            assert set(actions) <= RESOURCE_WILDCARD_ALLOWED, (lid, statement)
    for role in deployment.of_type("AWS::IAM::Role").values():
        assert not role["Properties"].get("ManagedPolicyArns"), (
            "managed policies grant '*' resources"
        )


def test_mqtt_task_role_has_only_the_table_actions_it_needs(pr: Deployment) -> None:
    (statement,) = (s for lid, s in _allow_statements(pr) if lid == "MqttTaskRole")
    assert sorted(statement["Action"]) == [
        "dynamodb:BatchWriteItem",
        "dynamodb:DeleteItem",
        "dynamodb:GetItem",
        "dynamodb:PutItem",
        "dynamodb:UpdateItem",
    ]
    assert statement["Resource"] == {"Fn::GetAtt": ["Table", "Arn"]}
    # Only the Yoto token and player partitions: never the users' password hashes.
    assert statement["Condition"] == {
        "ForAllValues:StringLike": {"dynamodb:LeadingKeys": ["YOTO", "PLAYER#*"]}
    }


def test_api_role_has_only_the_table_actions_the_app_calls(pr: Deployment) -> None:
    (statement,) = (
        s
        for lid, s in _allow_statements(pr)
        if lid == "ApiFunctionRole" and s["Sid"] == "TableReadWrite"
    )
    assert sorted(statement["Action"]) == [
        "dynamodb:DeleteItem",
        "dynamodb:GetItem",
        "dynamodb:PutItem",
        "dynamodb:Query",
        "dynamodb:UpdateItem",
    ]
    assert statement["Resource"] == {"Fn::GetAtt": ["Table", "Arn"]}


@pytest.mark.parametrize("case", ["prod", "pr-42", "pr-42-no-cloudfront"])
def test_api_reads_only_its_own_environments_secrets(
    deployments: dict[str, Deployment], case: str
) -> None:
    deployment = deployments[case]
    ssm = [
        s
        for lid, s in _allow_statements(deployment)
        if lid == "ApiFunctionRole" and "ssm" in str(s["Action"])
    ]
    assert [s["Action"] for s in ssm] == ["ssm:GetParameter"]
    resources = [substitute(r, deployment.parameters) for r in ssm[0]["Resource"]]
    arn = "arn:aws:ssm:eu-west-2:123456789012:parameter"
    env = deployment.env
    # Exactly the parameters the function names: the smoke principal's credential among them,
    # the CloudFront origin secret only behind CloudFront, nothing else under the env's prefix.
    expected = [
        arn + environments.session_key_parameter(env),
        arn + environments.admin_password_parameter(env),
        arn + environments.smoke_credential_parameter(env),
    ]
    if case != "pr-42-no-cloudfront":
        expected.append(arn + environments.cloudfront_origin_secret_parameter(env))
    assert resources == expected
    variables = deployment.props("ApiFunction")["Environment"]["Variables"]
    named = {
        substitute(variables[v], deployment.parameters)
        for v in variables
        if v.endswith("_PARAMETER")
    }
    assert {r.removeprefix(arn) for r in resources} == named


@pytest.mark.parametrize("case", ["prod", "dev", "pr-42"])
def test_mqtt_execution_role_pulls_only_from_its_scopes_repository(
    deployments: dict[str, Deployment], case: str
) -> None:
    """Each deploy scope has its own ECR repository (infrastructure/bootstrap); the task runs
    the image from there, and its execution role can pull from nowhere else."""
    deployment = deployments[case]
    pulls = [
        s
        for lid, s in _allow_statements(deployment)
        if lid == "MqttExecutionRole" and "ecr:BatchGetImage" in _as_list(s["Action"])
    ]
    repository = environments.ecr_repository(deployment.env)
    assert [substitute(s["Resource"], deployment.parameters) for s in pulls] == [
        f"arn:aws:ecr:eu-west-2:123456789012:repository/{repository}"
    ]
    container = deployment.props("MqttTaskDefinition")["ContainerDefinitions"][0]
    assert container["Image"].split("@")[0].endswith(f"/{repository}")


@pytest.mark.parametrize("case", CASES)
def test_every_bucket_is_private_encrypted_and_tls_only(
    deployments: dict[str, Deployment], case: str
) -> None:
    deployment = deployments[case]
    policies = {
        p["Properties"]["Bucket"]["Ref"]: p["Properties"]["PolicyDocument"]
        for p in deployment.of_type("AWS::S3::BucketPolicy").values()
    }
    buckets = deployment.of_type("AWS::S3::Bucket")
    assert set(buckets) == {"AudioBucket", "DashboardBucket"}
    for lid, bucket in buckets.items():
        props = bucket["Properties"]
        assert props["PublicAccessBlockConfiguration"] == {
            "BlockPublicAcls": True,
            "BlockPublicPolicy": True,
            "IgnorePublicAcls": True,
            "RestrictPublicBuckets": True,
        }
        rules = props["BucketEncryption"]["ServerSideEncryptionConfiguration"]
        assert rules[0]["ServerSideEncryptionByDefault"]["SSEAlgorithm"] in ("AES256", "aws:kms")
        deny = [s for s in policies[lid]["Statement"] if s["Effect"] == "Deny"]
        assert deny
        assert deny[0]["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
        assert deny[0]["Principal"] == "*"


def test_no_secret_is_a_template_parameter() -> None:
    parameters = load_template()["Parameters"]
    for name in parameters:
        lowered = name.lower()
        assert not any(word in lowered for word in ("password", "secret", "signingkey", "token")), (
            name
        )


@pytest.mark.parametrize("case", CASES)
def test_outputs_the_pipeline_reads(deployments: dict[str, Deployment], case: str) -> None:
    outputs = set(deployments[case].outputs)
    assert {
        "ApiUrl",
        "DashboardUrl",
        "TableName",
        "AudioBucketName",
        "DashboardBucketName",
        "EcsClusterName",
        "EcsServiceName",
    } <= outputs
    assert ("DistributionId" in outputs) == (
        deployments[case].parameters["EnableCloudFront"] == "true"
    )


@pytest.mark.parametrize("case", ["prod", "pr-42"])
def test_cloudfront_uses_managed_policies_and_one_distribution(
    deployments: dict[str, Deployment], case: str
) -> None:
    deployment = deployments[case]
    for custom in (
        "AWS::CloudFront::CachePolicy",
        "AWS::CloudFront::OriginRequestPolicy",
        "AWS::CloudFront::ResponseHeadersPolicy",
    ):
        assert not deployment.of_type(custom), "custom policies are capped at 20 per account"
    assert len(deployment.of_type("AWS::CloudFront::Distribution")) == 1
    assert len(deployment.of_type("AWS::CloudFront::OriginAccessControl")) == 1


@pytest.mark.parametrize("case", CASES)
def test_every_role_carries_the_scope_permissions_boundary(
    deployments: dict[str, Deployment], case: str
) -> None:
    """infrastructure/bootstrap's deploy roles may create roles only inside this boundary."""
    deployment = deployments[case]
    roles = deployment.of_type("AWS::IAM::Role")
    assert len(roles) == 3
    expected = environments.permissions_boundary_arn(deployment.env, "123456789012")
    for lid, role in roles.items():
        assert substitute(role["Properties"]["PermissionsBoundary"], deployment.parameters) == (
            expected
        ), lid
