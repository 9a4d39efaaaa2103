"""The one-time AWS bootstrap: cfn-lint clean, names from environments.py, and deploy roles that
only this repository can assume and that stay inside their scope (evaluated offline)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import textwrap
from itertools import product
from pathlib import Path
from typing import Any

import pytest

from tests.github.conftest import BOOTSTRAP_TEMPLATE, REPO_ROOT
from tests.support.iam_policy import (
    Request,
    Resolver,
    arn_service,
    is_allowed,
    policy_actions,
    policy_size,
    resource_tags_in_context,
    resource_types,
)
from tests.support.template import load_template
from yoto_smart_stream_ci import environments

REPOSITORY = "earchibald/yoto-smart-stream"
ACCOUNT = "123456789012"
REGION = "eu-west-2"
# The longest commercial region name: policy sizes grow with it.
LONGEST_REGION = "ap-southeast-2"
MANAGED_POLICY_LIMIT = 6144
TRUST_POLICY_LIMIT = 2048
OIDC_AUDIENCE = "sts.amazonaws.com"
# aws:userid of a role session is "<role id>:<session name>"; the role id is AWS-generated.
PREVIEW_ROLE_ID = "AROA3XFRBF23PREVIEW00"
STALE_CLEANUP_SESSION = "stale-cleanup"


def session(name: str) -> dict[str, str]:
    """The request context every call of a preview-role session named ``name`` carries."""
    return {"aws:userid": f"{PREVIEW_ROLE_ID}:{name}"}


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    return load_template(BOOTSTRAP_TEMPLATE)


def _resolver(template: dict[str, Any], region: str = REGION) -> Resolver:
    return Resolver(template, {"GitHubRepository": REPOSITORY}, ACCOUNT, region)


def _role_logical_id(env: str) -> str:
    return f"{environments.deploy_scope(env).capitalize()}DeployRole"


def _role(template: dict[str, Any], env: str) -> dict[str, Any]:
    return _resolver(template).resolve(template["Resources"][_role_logical_id(env)])


def _statements(template: dict[str, Any], env: str) -> list[dict[str, Any]]:
    """Every statement of the role's attached managed policies, resolved."""
    resolver = _resolver(template)
    logical_ids = [
        ref["Ref"]
        for ref in template["Resources"][_role_logical_id(env)]["Properties"]["ManagedPolicyArns"]
    ]
    statements: list[dict[str, Any]] = []
    for logical_id in logical_ids:
        document = resolver.resolve(template["Resources"][logical_id])["Properties"][
            "PolicyDocument"
        ]
        statements += document["Statement"]
    return statements


def _env_resources(env: str) -> list[str]:
    """ARNs of every resource an environment has, named as environments.py names them."""
    arn = f"arn:aws:{{}}:{REGION}:{ACCOUNT}:{{}}"
    stack = environments.stack_name(env)
    table = environments.table_name(env)
    artifacts = environments.artifact_bucket_name(ACCOUNT, REGION)
    buckets = [
        environments.audio_bucket_name(env, ACCOUNT, REGION),
        environments.dashboard_bucket_name(env, ACCOUNT, REGION),
    ]
    return [
        arn.format("cloudformation", f"stack/{stack}/0a1b2c3d-0000-1111-2222-333344445555"),
        arn.format("dynamodb", f"table/{table}"),
        arn.format("dynamodb", f"table/{table}/index/by-player"),
        *[f"arn:aws:s3:::{b}" for b in buckets],
        *[f"arn:aws:s3:::{b}/audio/track.mp3" for b in buckets],
        f"arn:aws:s3:::{artifacts}/{environments.artifact_prefix(env, f'{PREVIEW_ROLE_ID}:{env}')}0123abcd",
        arn.format("lambda", f"function:{environments.api_function_name(env)}"),
        f"arn:aws:iam::{ACCOUNT}:role/{stack}-ApiFunctionRole-AB12CD34EF56",
        f"arn:aws:iam::{ACCOUNT}:role/{stack}-MqttTaskRole-AB12CD34EF56",
        arn.format("logs", f"log-group:{environments.api_log_group_name(env)}"),
        arn.format("logs", f"log-group:{environments.mqtt_log_group_name(env)}:*"),
        arn.format("ssm", f"parameter{environments.session_key_parameter(env)}"),
        arn.format("ssm", f"parameter{environments.admin_password_parameter(env)}"),
        arn.format("ssm", f"parameter{environments.ssm_prefix(env)}"),
        arn.format("ecs", f"cluster/{environments.ecs_cluster_name(env)}"),
        arn.format(
            "ecs",
            f"service/{environments.ecs_cluster_name(env)}/{environments.ecs_service_name(env)}",
        ),
        arn.format("ecs", f"task-definition/{environments.ecs_service_name(env)}:7"),
        arn.format("ecr", f"repository/{environments.ecr_repository(env)}"),
    ]


def _tagged_resources() -> list[str]:
    """Resources with generated ids, recognised only by their Environment tag."""
    return [
        f"arn:aws:ec2:{REGION}:{ACCOUNT}:security-group/sg-0123456789abcdef0",
        f"arn:aws:apigateway:{REGION}::/apis/a1b2c3d4e5",
        f"arn:aws:apigateway:{REGION}::/apis/a1b2c3d4e5/routes/r1",
        f"arn:aws:cloudfront::{ACCOUNT}:distribution/E2ABCDEF123456",
    ]


# Actions IAM cannot scope to a resource (the Service Authorization Reference lists no resource
# type for them), so no policy can point them at prod or away from it. Each is read-only, a
# registry login, or harmless to a running environment; the policy comments say why.
ACCOUNT_WIDE_ACTIONS = {
    "cloudformation:ListStacks",
    "cloudformation:ValidateTemplate",
    "tag:GetResources",
    "dynamodb:ListTables",
    "s3:ListAllMyBuckets",
    "logs:DescribeLogGroups",
    "ec2:DescribeSecurityGroups",
    "ec2:DescribeVpcs",
    "ec2:DescribeSubnets",
    "ec2:DescribeNetworkInterfaces",
    "ecs:DescribeTaskDefinition",
    "ecr:GetAuthorizationToken",
}
# Only prod has CloudFront and an alarm e-mail subscription.
PROD_ONLY_ACCOUNT_WIDE_ACTIONS = {
    "cloudfront:CreateDistribution",
    "cloudfront:CreateOriginAccessControl",
    "sns:GetSubscriptionAttributes",
    "sns:Unsubscribe",
}


def _concrete_actions(statements: list[dict[str, Any]]) -> list[str]:
    """Every resource-level action the policy allows, service wildcards made concrete."""
    destructive = {
        "s3": ["s3:DeleteBucket", "s3:PutBucketPolicy", "s3:DeleteObject", "s3:GetObject"],
        "dynamodb": ["dynamodb:DeleteTable", "dynamodb:Scan", "dynamodb:PutItem"],
        "lambda": ["lambda:UpdateFunctionCode", "lambda:DeleteFunction", "lambda:InvokeFunction"],
    }
    actions: set[str] = set()
    for action in policy_actions(statements):
        service, _, name = action.partition(":")
        actions |= set(destructive.get(service, [])) if name == "*" else {action}
    return sorted(a for a in actions if resource_types(a))


def _attempts(
    actions: list[str], resources: list[str], contexts: list[dict[str, str]]
) -> list[Request]:
    """Every request of an action against a resource of its own service, in every context."""
    return [
        Request(action, resource, context)
        for action, resource, context in product(actions, resources, contexts)
        if action.split(":")[0] == arn_service(resource)
    ]


def _contexts(env: str, template: dict[str, Any]) -> list[dict[str, str]]:
    """Request contexts an attacker controls, each naming ``env`` as the target."""
    own_boundary = _resolver(template).ref("PreviewBoundary")
    return [
        {},
        session("pr-42"),
        session(STALE_CLEANUP_SESSION),
        {**session("pr-42"), "aws:ResourceTag/Environment": env},
        {**session(STALE_CLEANUP_SESSION), "aws:ResourceTag/Environment": env},
        {"aws:ResourceTag/Environment": env},
        {"aws:RequestTag/Environment": env},
        {"iam:PermissionsBoundary": own_boundary},
        {"iam:PassedToService": "lambda.amazonaws.com"},
        {"s3:prefix": f"{env}/"},
        {"ec2:CreateAction": "CreateSecurityGroup", "aws:RequestTag/Environment": env},
    ]


# ---------------------------------------------------------------------------- lint and names


def test_cfn_lint_is_clean() -> None:
    result = subprocess.run(
        [str(Path(sys.executable).with_name("cfn-lint")), str(BOOTSTRAP_TEMPLATE)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("env", ["prod", "dev", "pr-1", "pr-9999999"])
def test_role_and_boundary_names_come_from_environments(template: dict[str, Any], env: str) -> None:
    resolver = _resolver(template)
    role = _role(template, env)
    assert role["Properties"]["RoleName"] == environments.deploy_role_name(env)
    boundary_id = f"{environments.deploy_scope(env).capitalize()}Boundary"
    assert resolver.ref(boundary_id) == environments.permissions_boundary_arn(env, ACCOUNT)


SCOPE_ENVS = {"prod": "prod", "dev": "dev", "preview": "pr-1"}


def _repository_logical_id(env: str) -> str:
    return f"{environments.deploy_scope(env).capitalize()}MqttRepository"


def _repository_arn(template: dict[str, Any], env: str) -> str:
    """prod's and dev's repository come from this template; a pr-<N>'s from the pipeline
    (images.ensure_repository), named by environments.ecr_repository either way."""
    if environments.env_kind(env) is environments.EnvKind.PR:
        return f"arn:aws:ecr:{REGION}:{ACCOUNT}:repository/{environments.ecr_repository(env)}"
    return _resolver(template).attribute(_repository_logical_id(env), "Arn")


def _lifecycle_rules(template: dict[str, Any], env: str) -> list[dict[str, Any]]:
    if environments.env_kind(env) is environments.EnvKind.PR:
        return list(environments.PREVIEW_IMAGE_LIFECYCLE["rules"])
    properties = template["Resources"][_repository_logical_id(env)]["Properties"]
    return list(json.loads(properties["LifecyclePolicy"]["LifecyclePolicyText"])["rules"])


def test_artifact_bucket_and_image_repository_names_come_from_environments(
    template: dict[str, Any],
) -> None:
    resolver = _resolver(template)
    assert resolver.ref("ArtifactBucket") == environments.artifact_bucket_name(ACCOUNT, REGION)
    repositories = {
        logical_id
        for logical_id, resource in template["Resources"].items()
        if resource["Type"] == "AWS::ECR::Repository"
    }
    # Previews' repositories are the pipeline's, one per PR (images.ensure_repository).
    assert repositories == {_repository_logical_id(env) for env in ("prod", "dev")}
    for env in ("prod", "dev"):
        assert resolver.ref(_repository_logical_id(env)) == environments.ecr_repository(env)
    assert environments.ecr_repository("pr-1") != environments.ecr_repository("pr-9999999")


@pytest.mark.parametrize("env", list(SCOPE_ENVS.values()))
def test_image_lifecycle_expires_untagged_and_never_a_running_scopes_own_kind(
    template: dict[str, Any], env: str
) -> None:
    rules = _lifecycle_rules(template, env)
    selections = [r["selection"] for r in sorted(rules, key=lambda r: r["rulePriority"])]
    assert all(r["action"]["type"] == "expire" for r in rules)
    assert {"tagStatus": "untagged", "countNumber": 1}.items() <= selections[0].items()
    tagged = [s for s in selections if s["tagStatus"] == "tagged"]
    own_tag = environments.image_tag(env, "0123456789abcdef")
    if env == "prod":
        assert tagged == [], "a prod image could expire while rollback still needs it"
    elif env == "dev":
        # dev keeps its last ten images, counted, never by age.
        assert tagged == [
            {
                "tagStatus": "tagged",
                "tagPrefixList": ["dev-"],
                "countType": "imageCountMoreThan",
                "countNumber": 10,
            }
        ]
        assert own_tag.startswith("dev-")
    else:
        assert [(s["tagPrefixList"], s["countType"], s["countNumber"]) for s in tagged] == [
            (["pr-"], "sinceImagePushed", 7)
        ]
        assert own_tag.startswith("pr-")


@pytest.mark.parametrize("region", [REGION, LONGEST_REGION])
def test_every_policy_fits_iam_size_limits(template: dict[str, Any], region: str) -> None:
    resolver = _resolver(template, region)
    for logical_id, resource in template["Resources"].items():
        resolved = resolver.resolve(resource)
        if resource["Type"] == "AWS::IAM::ManagedPolicy":
            size = policy_size(resolved["Properties"]["PolicyDocument"])
            assert size <= MANAGED_POLICY_LIMIT, (logical_id, size)
        if resource["Type"] == "AWS::IAM::Role":
            size = policy_size(resolved["Properties"]["AssumeRolePolicyDocument"])
            assert size <= TRUST_POLICY_LIMIT, (logical_id, size)


def test_every_wildcard_carries_a_written_reason(template: dict[str, Any]) -> None:
    """A statement whose resource is "*", or an id space not named after the project, or whose
    action is a service wildcard, must have a comment right above it saying why."""
    lines = BOOTSTRAP_TEMPLATE.read_text().splitlines()
    reasons = {
        line.split("- Sid: ")[1]: lines[index - 1].strip().startswith("#")
        for index, line in enumerate(lines)
        if "- Sid: " in line
    }
    resolver = _resolver(template)
    unexplained = []
    for resource in template["Resources"].values():
        if resource["Type"] != "AWS::IAM::ManagedPolicy":
            continue
        for statement in resolver.resolve(resource)["Properties"]["PolicyDocument"]["Statement"]:
            resources = (
                statement["Resource"]
                if isinstance(statement["Resource"], list)
                else [statement["Resource"]]
            )
            actions = (
                statement["Action"]
                if isinstance(statement["Action"], list)
                else [statement["Action"]]
            )
            wild = any(a.endswith("*") for a in actions) or any(
                "*" in r and "yoto-smart-stream" not in r for r in resources
            )
            if wild and not reasons[statement["Sid"]]:
                unexplained.append(statement["Sid"])
    assert unexplained == []


# ------------------------------------------------------------------------------ who may assume


def oidc_subject(
    *, repository: str, ref: str, event: str = "push", environment: str | None = None
) -> str:
    """GitHub's subject claim under the template README step 2 sets: [repo, context, ref]."""
    if environment:
        context = f"environment:{environment}"
    elif event == "pull_request":
        context = "pull_request"
    else:
        context = f"ref:{ref}"
    return f"repo:{repository}:{context}:ref:{ref}"


PROD_ON_MAIN = oidc_subject(repository=REPOSITORY, ref="refs/heads/main", environment="production")
DEV_ON_DEVELOP = oidc_subject(repository=REPOSITORY, ref="refs/heads/develop", environment="dev")
PR_EVENT = oidc_subject(repository=REPOSITORY, ref="refs/pull/42/merge", event="pull_request")
PR_IN_ITS_ENVIRONMENT = oidc_subject(
    repository=REPOSITORY, ref="refs/pull/42/merge", event="pull_request", environment="pr-42"
)
MAIN_SCHEDULE = oidc_subject(repository=REPOSITORY, ref="refs/heads/main")
SUBJECTS = {
    "prod job on main": PROD_ON_MAIN,
    "prod environment from a feature branch": oidc_subject(
        repository=REPOSITORY, ref="refs/heads/feature", environment="production"
    ),
    "production environment from develop": oidc_subject(
        repository=REPOSITORY, ref="refs/heads/develop", environment="production"
    ),
    "dev job on develop": DEV_ON_DEVELOP,
    # develop.yml names `dev`; a job on develop in no environment or another one is refused.
    "push to develop without an environment": oidc_subject(
        repository=REPOSITORY, ref="refs/heads/develop"
    ),
    "dev environment from a feature branch": oidc_subject(
        repository=REPOSITORY, ref="refs/heads/feature", environment="dev"
    ),
    "dev environment from main": oidc_subject(
        repository=REPOSITORY, ref="refs/heads/main", environment="dev"
    ),
    "dev environment on a PR": oidc_subject(
        repository=REPOSITORY, ref="refs/pull/42/merge", event="pull_request", environment="dev"
    ),
    "pull_request": PR_EVENT,
    "PR job in its pr-42 environment": PR_IN_ITS_ENVIRONMENT,
    "production environment on a PR": oidc_subject(
        repository=REPOSITORY,
        ref="refs/pull/42/merge",
        event="pull_request",
        environment="production",
    ),
    "pr environment from a feature branch": oidc_subject(
        repository=REPOSITORY, ref="refs/heads/feature", environment="pr-42"
    ),
    # `*` matches ":" too: the environment's name carries a PR ref, the branch ends in /merge.
    "pr environment smuggling a PR ref": oidc_subject(
        repository=REPOSITORY,
        ref="refs/heads/feature/merge",
        environment="pr-1:ref:refs/pull/1",
    ),
    "another repository's pr environment": oidc_subject(
        repository="mallory/yoto-smart-stream",
        ref="refs/pull/42/merge",
        event="pull_request",
        environment="pr-42",
    ),
    "scheduled run on main": MAIN_SCHEDULE,
    "push to a feature branch": oidc_subject(repository=REPOSITORY, ref="refs/heads/feature"),
    "another repository's prod job": oidc_subject(
        repository="mallory/yoto-smart-stream", ref="refs/heads/main", environment="production"
    ),
    "a look-alike repository's PR": oidc_subject(
        repository=f"{REPOSITORY}-fork", ref="refs/pull/1/merge", event="pull_request"
    ),
    "another repository's PR": oidc_subject(
        repository="mallory/yoto-smart-stream", ref="refs/pull/1/merge", event="pull_request"
    ),
    "an environment named like a branch": oidc_subject(
        repository=REPOSITORY, ref="refs/heads/main", environment="develop"
    ),
}
MAY_ASSUME = {
    "prod": {"prod job on main"},
    "dev": {"dev job on develop"},
    "pr-1": {"pull_request", "PR job in its pr-42 environment", "scheduled run on main"},
}
# The session name each workflow sets (configure-aws-credentials' role-session-name; its
# default is GitHubActions).
SESSION_NAMES = {
    "pull_request": "pr-42",
    "PR job in its pr-42 environment": "pr-42",
    "production environment on a PR": "pr-42",
    "pr environment from a feature branch": "pr-42",
    "pr environment smuggling a PR ref": "pr-1",
    "another repository's pr environment": "pr-42",
    "scheduled run on main": STALE_CLEANUP_SESSION,
}


def _assume(template: dict[str, Any], env: str, subject: str, session_name: str) -> bool:
    trust = _role(template, env)["Properties"]["AssumeRolePolicyDocument"]["Statement"]
    request = Request(
        "sts:AssumeRoleWithWebIdentity",
        f"arn:aws:iam::{ACCOUNT}:role/{environments.deploy_role_name(env)}",
        {
            "token.actions.githubusercontent.com:aud": OIDC_AUDIENCE,
            "token.actions.githubusercontent.com:sub": subject,
            "sts:RoleSessionName": session_name,
        },
    )
    return is_allowed(trust, request)


@pytest.mark.parametrize(("env", "who"), list(product(MAY_ASSUME, SUBJECTS)))
def test_only_the_right_job_of_this_repository_assumes_each_role(
    template: dict[str, Any], env: str, who: str
) -> None:
    session_name = SESSION_NAMES.get(who, "GitHubActions")
    assert _assume(template, env, SUBJECTS[who], session_name) is (who in MAY_ASSUME[env])


@pytest.mark.parametrize(
    ("who", "session_name", "allowed"),
    [
        ("pull_request", "pr-42", True),
        ("pull_request", "pr-7", True),  # not bound to the PR number: README "Per-PR isolation"
        ("pull_request", STALE_CLEANUP_SESSION, False),
        ("pull_request", "GitHubActions", False),
        ("pull_request", "prod", False),
        ("PR job in its pr-42 environment", "pr-42", True),
        ("PR job in its pr-42 environment", STALE_CLEANUP_SESSION, False),
        ("PR job in its pr-42 environment", "GitHubActions", False),
        ("scheduled run on main", STALE_CLEANUP_SESSION, True),
        ("scheduled run on main", "pr-42", False),
        ("scheduled run on main", "GitHubActions", False),
    ],
)
def test_preview_sessions_are_named_for_what_they_may_touch(
    template: dict[str, Any], who: str, session_name: str, allowed: bool
) -> None:
    """Only main's scheduled clean-up may call itself stale-cleanup (the name that reaches every
    preview); a pull_request job must call itself pr-<something>."""
    assert _assume(template, "pr-1", SUBJECTS[who], session_name) is allowed


def test_a_pr_environment_is_not_bound_to_its_pull_request_number(
    template: dict[str, Any],
) -> None:
    """What IAM cannot express: the number in `environment:pr-<N>` and the one in
    `refs/pull/<N>/merge` are two parts of one `sub` string, and IAM's wildcards cannot compare
    them (nor require digits). A job on refs/pull/8 that names pr-7 and its session pr-7 is
    accepted, as README "What this does not stop" says; the pr-* rule still holds."""
    borrowed = oidc_subject(
        repository=REPOSITORY, ref="refs/pull/8/merge", event="pull_request", environment="pr-7"
    )
    assert _assume(template, "pr-1", borrowed, "pr-7")
    assert _assume(template, "pr-1", borrowed, "pr-8")
    assert not _assume(template, "pr-1", borrowed, STALE_CLEANUP_SESSION)
    oddly_named = oidc_subject(
        repository=REPOSITORY, ref="refs/pull/8/merge", event="pull_request", environment="pr-x"
    )
    assert _assume(template, "pr-1", oddly_named, "pr-8")


@pytest.mark.parametrize("env", list(MAY_ASSUME))
def test_a_token_for_another_audience_is_refused(template: dict[str, Any], env: str) -> None:
    trust = _role(template, env)["Properties"]["AssumeRolePolicyDocument"]["Statement"]
    subject = next(iter(SUBJECTS[w] for w in MAY_ASSUME[env]))
    request = Request(
        "sts:AssumeRoleWithWebIdentity",
        "*",
        {
            "token.actions.githubusercontent.com:aud": "https://github.com/earchibald",
            "token.actions.githubusercontent.com:sub": subject,
        },
    )
    assert not is_allowed(trust, request)


def test_roles_trust_only_the_github_oidc_provider(template: dict[str, Any]) -> None:
    provider = _resolver(template).ref("GitHubOidcProvider")
    for env in MAY_ASSUME:
        statements = _role(template, env)["Properties"]["AssumeRolePolicyDocument"]["Statement"]
        assert statements
        for statement in statements:
            assert statement["Effect"] == "Allow"
            assert statement["Principal"] == {"Federated": provider}
            assert statement["Action"] == "sts:AssumeRoleWithWebIdentity"
            assert (
                statement["Condition"]["StringEquals"]["token.actions.githubusercontent.com:aud"]
                == OIDC_AUDIENCE
            )


# --------------------------------------------------------------------- what each role may do


@pytest.mark.parametrize("victim", ["prod", "dev"])
def test_the_preview_role_cannot_act_on_prod_or_dev(template: dict[str, Any], victim: str) -> None:
    statements = _statements(template, "pr-1")
    attempts = _attempts(
        _concrete_actions(statements),
        _env_resources(victim) + _tagged_resources(),
        _contexts(victim, template),
    )
    assert [a for a in attempts if is_allowed(statements, a)] == []
    assert len(attempts) > 1000  # the check covers the whole policy


@pytest.mark.parametrize("env", ["prod", "dev", "pr-1"])
def test_account_wide_actions_are_only_the_listed_harmless_ones(
    template: dict[str, Any], env: str
) -> None:
    actions = policy_actions(_statements(template, env))
    assert all(resource_types(a) is not None for a in actions if not a.endswith("*")), (
        "an action unknown to the Service Authorization Reference"
    )
    expected = ACCOUNT_WIDE_ACTIONS | (PROD_ONLY_ACCOUNT_WIDE_ACTIONS if env == "prod" else set())
    assert {a for a in actions if resource_types(a) == []} == expected


@pytest.mark.parametrize("env", ["prod", "dev", "pr-1"])
def test_no_allow_names_a_resource_its_action_cannot_be_scoped_to(
    template: dict[str, Any], env: str
) -> None:
    """Such a statement would silently grant nothing and break a real deploy."""
    dead = [
        (statement["Sid"], action)
        for statement in _statements(template, env)
        if statement["Effect"] == "Allow" and statement["Resource"] != "*"
        for action in (
            statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        )
        if not action.endswith("*") and resource_types(action) == []
    ]
    assert dead == []


def test_the_preview_role_cannot_touch_deploy_roles_or_boundaries(
    template: dict[str, Any],
) -> None:
    statements = _statements(template, "pr-1")
    for scope_env in ("prod", "dev", "pr-1"):
        for action in ("iam:UpdateAssumeRolePolicy", "iam:PutRolePolicy", "iam:DeleteRole"):
            role = f"arn:aws:iam::{ACCOUNT}:role/{environments.deploy_role_name(scope_env)}"
            assert not is_allowed(statements, Request(action, role))
        boundary = environments.permissions_boundary_arn(scope_env, ACCOUNT)
        assert not is_allowed(statements, Request("iam:CreatePolicyVersion", boundary))


def test_the_preview_role_deletes_images_only_in_preview_repositories(
    template: dict[str, Any],
) -> None:
    """Teardown of a pr-N deletes its repository through the preview role; it must be able to,
    and must never reach prod's or dev's images (ECR cannot limit a delete to tags)."""
    statements = _statements(template, "pr-1")
    delete = "ecr:BatchDeleteImage"
    own = _as_session("pr-1")
    assert is_allowed(statements, own(Request(delete, _repository_arn(template, "pr-1"))))
    assert is_allowed(
        statements, own(Request("ecr:DeleteRepository", _repository_arn(template, "pr-1")))
    )
    assert not is_allowed(statements, Request(delete, _repository_arn(template, "prod")))
    assert not is_allowed(statements, Request(delete, _repository_arn(template, "dev")))


ECR_ACTIONS_OF_A_DEPLOY = [
    "ecr:PutImage",
    "ecr:InitiateLayerUpload",
    "ecr:BatchGetImage",
    "ecr:ListImages",
    "ecr:DescribeImages",
    "ecr:DescribeRepositories",
    "ecr:BatchDeleteImage",
]


@pytest.mark.parametrize("env", list(SCOPE_ENVS.values()))
def test_each_role_pushes_reads_and_deletes_images_only_in_its_own_repository(
    template: dict[str, Any], env: str
) -> None:
    statements = _statements(template, env)
    own = _repository_arn(template, env)
    as_own = _as_session(env) if env.startswith("pr-") else (lambda r: r)
    refused = [
        a for a in ECR_ACTIONS_OF_A_DEPLOY if not is_allowed(statements, as_own(Request(a, own)))
    ]
    assert refused == []
    for other in SCOPE_ENVS.values():
        if environments.deploy_scope(other) == environments.deploy_scope(env):
            continue
        repository = _repository_arn(template, other)
        # Every repository-level ECR action the role names (the registry login has no resource).
        actions = {
            a for a in policy_actions(statements) if a.startswith("ecr:") and resource_types(a)
        }
        attempts = [Request(a, repository) for a in sorted(actions | set(ECR_ACTIONS_OF_A_DEPLOY))]
        assert [a for a in attempts if is_allowed(statements, a)] == [], (env, other)


@pytest.mark.parametrize("env", list(SCOPE_ENVS.values()))
def test_stack_roles_pull_images_only_from_their_scopes_repository(
    template: dict[str, Any], env: str
) -> None:
    """The boundary caps the ECS execution role, which pulls the env's image by digest."""
    resolver = _resolver(template)
    boundary_id = f"{environments.deploy_scope(env).capitalize()}Boundary"
    boundary = resolver.resolve(template["Resources"][boundary_id])["Properties"]["PolicyDocument"][
        "Statement"
    ]
    for other in SCOPE_ENVS.values():
        allowed = is_allowed(
            boundary, Request("ecr:BatchGetImage", _repository_arn(template, other))
        )
        assert allowed is (environments.deploy_scope(other) == environments.deploy_scope(env))


def _as_session(name: str, tagged_for: str | None = None) -> Any:
    """A request as the preview-role session ``name`` makes it: aws:userid set, and the
    resource's Environment tag (``tagged_for``, by default the session's own environment) in
    the context wherever the Service Authorization Reference says AWS supplies it."""

    def convert(request: Request) -> Request:
        context = {**session(name), **request.context}
        if resource_tags_in_context(request.action, request.resource):
            context.setdefault("aws:ResourceTag/Environment", tagged_for or name)
        return Request(request.action, request.resource, context)

    return convert


def test_the_preview_role_can_run_a_whole_preview(template: dict[str, Any]) -> None:
    """The positive control: the same evaluator allows the preview's own resources."""
    statements = _statements(template, "pr-1")
    env = "pr-42"
    resources = dict(
        zip(
            [
                "stack",
                "table",
                "index",
                "audio",
                "web",
                "audio_object",
                "web_object",
                "artifact",
                "function",
                "api_role",
                "task_role",
                "api_logs",
                "mqtt_logs",
                "session_key",
                "admin_password",
                "parameters",
                "cluster",
                "service",
                "task_definition",
                "repository",
            ],
            _env_resources(env),
            strict=True,
        )
    )
    boundary = _resolver(template).ref("PreviewBoundary")
    tagged = {"aws:ResourceTag/Environment": env}
    expected_allowed = [
        Request("cloudformation:CreateChangeSet", resources["stack"]),
        Request("cloudformation:DeleteStack", resources["stack"]),
        Request("s3:PutObject", resources["artifact"]),
        Request("s3:DeleteBucket", resources["audio"]),
        Request("s3:PutObject", resources["web_object"]),
        Request("dynamodb:DeleteTable", resources["table"]),
        Request("lambda:UpdateFunctionCode", resources["function"]),
        Request("iam:CreateRole", resources["api_role"], {"iam:PermissionsBoundary": boundary}),
        Request(
            "iam:PassRole",
            resources["task_role"],
            {"iam:PassedToService": "ecs-tasks.amazonaws.com"},
        ),
        Request("logs:CreateLogGroup", resources["api_logs"]),
        Request("ssm:PutParameter", resources["session_key"]),
        Request("ssm:GetParametersByPath", resources["parameters"]),
        Request("ecs:CreateService", resources["service"]),
        Request("ecs:DeleteCluster", resources["cluster"]),
        Request("ecr:PutImage", resources["repository"]),
        Request("ecr:BatchDeleteImage", resources["repository"]),
        Request("ec2:DeleteSecurityGroup", _tagged_resources()[0], tagged),
        Request("apigateway:DELETE", _tagged_resources()[1], tagged),
        Request(
            "apigateway:POST",
            f"arn:aws:apigateway:{REGION}::/apis",
            {"aws:RequestTag/Environment": env},
        ),
        Request("cloudformation:ListStacks", "*"),
        Request("iam:UpdateAssumeRolePolicy", resources["api_role"]),
        Request("ssm:GetParameter", resources["admin_password"]),
        Request("ecs:RegisterTaskDefinition", resources["task_definition"]),
        Request("logs:DeleteLogGroup", resources["mqtt_logs"]),
        # The smoke test's look at the MQTT handler's tasks and their health.
        Request("ecs:ListTasks", "*", {"ecs:cluster": resources["cluster"]}),
        Request(
            "ecs:DescribeTasks", resources["cluster"].replace(":cluster/", ":task/") + "/0a1b2c"
        ),
    ]
    # As AWS evaluates them: made by the pr-42 session, on resources carrying its tag wherever
    # the service puts resource tags into the request context.
    refused = [r for r in map(_as_session(env), expected_allowed) if not is_allowed(statements, r)]
    assert refused == []
    # ...nor another scope's tasks...
    dev_cluster = resources["cluster"].replace("yoto-smart-stream-pr-42", "yoto-smart-stream-dev")
    assert not is_allowed(
        statements, _as_session(env)(Request("ecs:ListTasks", "*", {"ecs:cluster": dev_cluster}))
    )
    # ...but never a role outside the boundary, nor CloudFront, nor an untagged generated id.
    assert not is_allowed(statements, Request("iam:CreateRole", resources["api_role"]))
    assert not is_allowed(
        statements,
        Request(
            "iam:CreateRole",
            resources["api_role"],
            {"iam:PermissionsBoundary": environments.permissions_boundary_arn("prod", ACCOUNT)},
        ),
    )
    assert not is_allowed(statements, Request("cloudfront:CreateDistribution", "*"))
    assert not is_allowed(statements, Request("apigateway:DELETE", _tagged_resources()[1]))


def test_the_prod_role_can_deploy_prod_but_no_preview(template: dict[str, Any]) -> None:
    statements = _statements(template, "prod")
    prod_stack, *_ = _env_resources("prod")
    preview_stack, *_ = _env_resources("pr-7")
    assert is_allowed(statements, Request("cloudformation:ExecuteChangeSet", prod_stack))
    assert is_allowed(statements, Request("cloudfront:CreateInvalidation", _tagged_resources()[3]))
    assert not is_allowed(statements, Request("cloudformation:DeleteStack", preview_stack))


def test_the_dev_role_cannot_act_on_prod(template: dict[str, Any]) -> None:
    statements = _statements(template, "dev")
    attempts = _attempts(
        _concrete_actions(statements),
        _env_resources("prod") + _tagged_resources(),
        _contexts("prod", template),
    )
    assert [a for a in attempts if is_allowed(statements, a)] == []


def test_boundaries_keep_stack_roles_inside_their_environment(template: dict[str, Any]) -> None:
    resolver = _resolver(template)
    boundary = resolver.resolve(template["Resources"]["PreviewBoundary"])["Properties"][
        "PolicyDocument"
    ]["Statement"]
    own, prod = _env_resources("pr-42"), _env_resources("prod")
    table = f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{environments.table_name('pr-42')}"
    key = environments.session_key_parameter("pr-42")
    assert table in own
    assert is_allowed(boundary, Request("dynamodb:PutItem", table))
    parameter = f"arn:aws:ssm:{REGION}:{ACCOUNT}:parameter{key}"
    assert parameter in own
    assert is_allowed(boundary, Request("ssm:GetParameter", parameter))
    for action in ("dynamodb:PutItem", "s3:GetObject", "ssm:GetParameter", "iam:CreateRole"):
        assert not [r for r in prod if is_allowed(boundary, Request(action, r))]


# ------------------------------------------------------------------------------------ README


def _code_blocks(markdown: str) -> list[str]:
    return [textwrap.dedent(b) for b in re.findall(r"```sh\n(.*?)```", markdown, re.S)]


def _github_section() -> str:
    readme = (REPO_ROOT / "README.md").read_text()
    return readme.split("<!-- BEGIN section:github -->")[1].split("<!-- END section:github -->")[0]


def test_the_documented_commands_use_the_real_names_and_agree() -> None:
    bootstrap_readme = (BOOTSTRAP_TEMPLATE.parent / "README.md").read_text()
    walkthrough = "\n".join(_code_blocks(_github_section()))
    for block in _code_blocks(bootstrap_readme):
        assert block in walkthrough  # the same commands, word for word
    assert f"--stack-name {environments.NETWORK_STACK_NAME}" in walkthrough
    assert (REPO_ROOT / "infrastructure" / "network" / "template.yaml").is_file()
    assert "--template-file infrastructure/network/template.yaml" in walkthrough
    assert "--template-file infrastructure/bootstrap/template.yaml" in walkthrough
    assert "--capabilities CAPABILITY_NAMED_IAM" in walkthrough
    assert re.search(
        r"include_claim_keys\[\]=repo.*include_claim_keys\[\]=context.*include_claim_keys\[\]=ref",
        walkthrough,
        re.S,
    )
    outputs = set(re.findall(r"output (\w+)\)", walkthrough))
    assert outputs == {"ProdDeployRoleArn", "DevDeployRoleArn", "PreviewDeployRoleArn"}
    template = load_template(BOOTSTRAP_TEMPLATE)
    assert outputs <= set(template["Outputs"])


def test_the_walkthrough_sets_exactly_the_variables_the_workflows_read() -> None:
    read = set()
    for path in (REPO_ROOT / ".github" / "workflows").glob("*.yml"):
        read |= set(re.findall(r"vars\.(\w+)", path.read_text()))
    documented = set(re.findall(r"gh variable set (\w+)", _github_section()))
    assert (
        documented
        == read
        == {
            "AWS_REGION",
            "AWS_PROD_ROLE_ARN",
            "AWS_DEV_ROLE_ARN",
            "AWS_PREVIEW_ROLE_ARN",
            "YOTO_CLIENT_ID",
            "ALARM_EMAIL",
        }
    )
    assert "gh secret set" not in _github_section()


# ----------------------------------------------------------------------- per-PR isolation

ATTACKER, VICTIM = "pr-42", "pr-7"


def _creates(action: str) -> bool:
    """Actions that make a new resource (or revision): it has no tags yet, so AWS can only
    check the tags of the request, never those of the resource."""
    name = action.split(":", 1)[1].lower()
    return name.startswith(("create", "register")) or action == "apigateway:POST"


def _cross_preview_attempts(template: dict[str, Any]) -> list[Request]:
    """Every resource-level action of the preview role, by the pr-42 session, on each of pr-7's
    resources, with pr-7's tag wherever AWS puts resource tags into the request context."""
    statements = _statements(template, "pr-1")
    own_boundary = _resolver(template).ref("PreviewBoundary")
    contexts = [
        {},
        {"aws:RequestTag/Environment": VICTIM},
        {"iam:PermissionsBoundary": own_boundary},
        {"iam:PassedToService": "lambda.amazonaws.com"},
        {"s3:prefix": f"{VICTIM}/"},
        {"ec2:CreateAction": "CreateSecurityGroup", "aws:RequestTag/Environment": VICTIM},
    ]
    generated_ids = [r for r in _tagged_resources() if arn_service(r) != "cloudfront"]
    attempts = []
    for attempt in _attempts(
        _concrete_actions(statements), _env_resources(VICTIM) + generated_ids, contexts
    ):
        if _creates(attempt.action):
            context = {**session(ATTACKER), **attempt.context}
            attempts.append(Request(attempt.action, attempt.resource, context))
        else:
            attempts.append(_as_session(ATTACKER, tagged_for=VICTIM)(attempt))
    return attempts


# What a pr-N session's own policies still allow of another preview (README "Per-PR
# isolation"): S3 gives no resource tag for buckets and objects, so pr-M's audio and dashboard
# buckets refuse other sessions in their bucket policies (tests/infrastructure), and its
# packaged code stays reachable.
CROSS_PREVIEW_RESIDUAL_SERVICES = {"s3"}


def test_a_preview_session_cannot_touch_another_previews_resources(
    template: dict[str, Any],
) -> None:
    statements = _statements(template, "pr-1")
    attempts = _cross_preview_attempts(template)
    allowed = [a for a in attempts if is_allowed(statements, a)]
    assert len(attempts) > 1000  # the check covers the whole policy
    tagged = [a for a in allowed if not _creates(a.action)]
    assert {arn_service(a.resource) for a in tagged} == CROSS_PREVIEW_RESIDUAL_SERVICES, [
        a for a in tagged if arn_service(a.resource) not in CROSS_PREVIEW_RESIDUAL_SERVICES
    ]
    # A create can only take a name pr-7 does not use yet, and never tagged as pr-7's.
    assert [a for a in allowed if "aws:RequestTag/Environment" in a.context] == []


def test_the_named_cross_preview_attacks_are_refused(template: dict[str, Any]) -> None:
    """The issue's examples, one by one: pr-42 reading pr-7's admin password, rewriting its
    role's trust policy, and changing its stack, table, function, task definitions and logs."""
    statements = _statements(template, "pr-1")
    stack, table, *_ = _env_resources(VICTIM)
    arn = f"arn:aws:{{}}:{REGION}:{ACCOUNT}:{{}}"
    attacks = [
        Request(
            "ssm:GetParameter",
            arn.format("ssm", f"parameter{environments.admin_password_parameter(VICTIM)}"),
        ),
        Request(
            "ssm:PutParameter",
            arn.format("ssm", f"parameter{environments.session_key_parameter(VICTIM)}"),
        ),
        Request(
            "ssm:DeleteParameter",
            arn.format("ssm", f"parameter{environments.admin_password_parameter(VICTIM)}"),
        ),
        Request(
            "iam:UpdateAssumeRolePolicy",
            f"arn:aws:iam::{ACCOUNT}:role/{environments.stack_name(VICTIM)}-ApiFunctionRole-AB12CD34EF56",
        ),
        Request(
            "iam:PutRolePolicy",
            f"arn:aws:iam::{ACCOUNT}:role/{environments.stack_name(VICTIM)}-MqttTaskRole-AB12CD34EF56",
            {"iam:PermissionsBoundary": _resolver(template).ref("PreviewBoundary")},
        ),
        Request("cloudformation:DeleteStack", stack),
        Request("cloudformation:ExecuteChangeSet", stack),
        Request("dynamodb:Scan", table),
        Request("dynamodb:DeleteTable", table),
        Request(
            "lambda:UpdateFunctionCode",
            arn.format("lambda", f"function:{environments.api_function_name(VICTIM)}"),
        ),
        Request(
            "lambda:InvokeFunction",
            arn.format("lambda", f"function:{environments.api_function_name(VICTIM)}"),
        ),
        Request(
            "ecs:UpdateService",
            arn.format(
                "ecs",
                f"service/{environments.ecs_cluster_name(VICTIM)}/{environments.ecs_service_name(VICTIM)}",
            ),
        ),
        Request(
            "ecs:TagResource",
            arn.format("ecs", f"task-definition/{environments.ecs_service_name(VICTIM)}:7"),
        ),
        Request(
            "logs:DeleteLogGroup",
            arn.format("logs", f"log-group:{environments.api_log_group_name(VICTIM)}"),
        ),
        Request("ec2:AuthorizeSecurityGroupIngress", _tagged_resources()[0]),
        Request("apigateway:DELETE", _tagged_resources()[1]),
    ]
    as_attacker = _as_session(ATTACKER, tagged_for=VICTIM)
    # Each really is tag-checked by AWS (else this test would prove nothing)...
    assert [a for a in attacks if not resource_tags_in_context(a.action, a.resource)] == []
    # ...refused to the other PR's session, and allowed to the victim's own.
    assert [a for a in map(as_attacker, attacks) if is_allowed(statements, a)] == []
    assert [a for a in map(_as_session(VICTIM), attacks) if not is_allowed(statements, a)] == []


def test_a_role_trust_policy_changes_only_from_its_own_session(template: dict[str, Any]) -> None:
    statements = _statements(template, "pr-1")
    role = f"arn:aws:iam::{ACCOUNT}:role/{environments.stack_name(VICTIM)}-ApiFunctionRole-AB12"
    update = "iam:UpdateAssumeRolePolicy"
    assert is_allowed(statements, _as_session(VICTIM)(Request(update, role)))
    assert not is_allowed(
        statements, _as_session(ATTACKER, tagged_for=VICTIM)(Request(update, role))
    )
    # An untagged role (not made by a stack) has no owner, so nobody may rewrite its trust.
    assert not is_allowed(statements, Request(update, role, session(VICTIM)))
    assert not is_allowed(
        statements, _as_session(STALE_CLEANUP_SESSION, VICTIM)(Request(update, role))
    )


def test_stale_cleanup_removes_any_preview_and_never_prod_or_dev(template: dict[str, Any]) -> None:
    statements = _statements(template, "pr-1")
    cleanup = _as_session(STALE_CLEANUP_SESSION, tagged_for=VICTIM)
    stack, table, *_ = _env_resources(VICTIM)
    removals = [
        Request("cloudformation:DeleteStack", stack),
        Request("dynamodb:DeleteTable", table),
        Request(
            "ssm:DeleteParameter",
            f"arn:aws:ssm:{REGION}:{ACCOUNT}:parameter{environments.admin_password_parameter(VICTIM)}",
        ),
    ]
    assert [r for r in map(cleanup, removals) if not is_allowed(statements, r)] == []
    for scope_env in ("prod", "dev"):
        prod_stack, prod_table, *_ = _env_resources(scope_env)
        for request in (
            Request("cloudformation:DeleteStack", prod_stack),
            Request("dynamodb:DeleteTable", prod_table),
        ):
            assert not is_allowed(
                statements, _as_session(STALE_CLEANUP_SESSION, scope_env)(request)
            )


def test_no_role_can_deregister_any_environments_task_definitions(
    template: dict[str, Any],
) -> None:
    """ecs:DeregisterTaskDefinition has no resource type and no condition key (Service
    Authorization Reference), so any role granted it could deregister prod's revisions. No
    deploy role gets it; the app template retains its task definitions instead."""
    for role_env in ("prod", "dev", "pr-1"):
        statements = _statements(template, role_env)
        for victim in ("prod", "dev", "pr-7"):
            revision = next(r for r in _env_resources(victim) if ":task-definition/" in r)
            request = _as_session(ATTACKER, tagged_for=victim)(
                Request("ecs:DeregisterTaskDefinition", revision)
            )
            assert not is_allowed(statements, request), (role_env, victim)
