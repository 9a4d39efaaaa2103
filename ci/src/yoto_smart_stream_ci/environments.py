"""The one source of truth for deployment environments.

Environment names, stack names, resource names and per-environment settings are derived
here and nowhere else. The Dagger pipeline, the SAM parameter overrides and the tests all
import this module; the template receives these values as parameters or derives the same
names with ``!Sub`` (a test checks that both agree).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

PROJECT = "yoto-smart-stream"
# GitHub PR numbers are positive integers without leading zeros. Seven digits keeps every
# derived name (S3 buckets are the tightest, 63 characters) inside AWS limits.
ENV_PATTERN = r"^(prod|dev|pr-[1-9][0-9]{0,6})$"
_ENV_RE = re.compile(ENV_PATTERN)
MAX_ENV_LENGTH = len("pr-") + 7


class EnvironmentNameError(ValueError):
    """Raised for an environment name the pipeline must not act on."""


class EnvKind(StrEnum):
    PROD = "prod"
    DEV = "dev"
    PR = "pr"


@dataclass(frozen=True)
class EnvSettings:
    """Everything that differs between environments."""

    name: str
    kind: EnvKind
    mqtt_enabled: bool
    cloudfront_enabled: bool
    point_in_time_recovery: bool
    audio_versioning: bool
    log_retention_days: int
    alarms_enabled: bool
    retain_data: bool
    multi_az: bool
    audio_expiry_days: int | None


def validate_env(name: object) -> str:
    """Return ``name`` if it is ``prod``, ``dev`` or ``pr-<number>``; raise otherwise.

    Called before any AWS call, so a bad name never reaches CloudFormation or a shell.
    """
    if not isinstance(name, str) or not name:
        raise EnvironmentNameError(
            "Invalid environment name: it is empty; use prod, dev or pr-<number>."
        )
    if len(name) > MAX_ENV_LENGTH or not _ENV_RE.fullmatch(name):
        shown = name if len(name) <= 40 else name[:40] + "..."
        raise EnvironmentNameError(
            f"Invalid environment name {shown!r}: use prod, dev or pr-<number> "
            "(a pull request number without leading zeros)."
        )
    return name


def env_kind(name: str) -> EnvKind:
    validate_env(name)
    if name == "prod":
        return EnvKind.PROD
    if name == "dev":
        return EnvKind.DEV
    return EnvKind.PR


def pr_number(name: str) -> int | None:
    """The pull request number of a ``pr-N`` environment, else ``None``."""
    return int(name.removeprefix("pr-")) if env_kind(name) is EnvKind.PR else None


def settings_for(name: str, *, cloudfront: bool | None = None) -> EnvSettings:
    """Per-environment settings. ``cloudfront=False`` turns CloudFront off for a PR env."""
    kind = env_kind(name)
    if kind is EnvKind.PROD:
        if cloudfront is False:
            raise EnvironmentNameError("CloudFront cannot be turned off for prod.")
        return EnvSettings(
            name=name,
            kind=kind,
            mqtt_enabled=True,
            cloudfront_enabled=True,
            point_in_time_recovery=True,
            audio_versioning=True,
            log_retention_days=30,
            alarms_enabled=True,
            retain_data=True,
            multi_az=True,
            audio_expiry_days=None,
        )
    if kind is EnvKind.DEV:
        return EnvSettings(
            name=name,
            kind=kind,
            mqtt_enabled=True,
            cloudfront_enabled=bool(cloudfront),
            point_in_time_recovery=False,
            audio_versioning=False,
            log_retention_days=7,
            alarms_enabled=False,
            retain_data=False,
            multi_az=False,
            audio_expiry_days=None,
        )
    return EnvSettings(
        name=name,
        kind=kind,
        mqtt_enabled=True,
        cloudfront_enabled=True if cloudfront is None else cloudfront,
        point_in_time_recovery=False,
        audio_versioning=False,
        log_retention_days=3,
        alarms_enabled=False,
        retain_data=False,
        multi_az=False,
        audio_expiry_days=7,
    )


def stack_name(name: str) -> str:
    return f"{PROJECT}-{validate_env(name)}"


def table_name(name: str) -> str:
    return f"{PROJECT}-{validate_env(name)}"


def audio_bucket_name(name: str, account_id: str, region: str) -> str:
    return f"{PROJECT}-{validate_env(name)}-audio-{account_id}-{region}"


def dashboard_bucket_name(name: str, account_id: str, region: str) -> str:
    # "web", not "dashboard": the longest name (pr-9999999, ap-southeast-2) must fit in 63.
    return f"{PROJECT}-{validate_env(name)}-web-{account_id}-{region}"


def api_function_name(name: str) -> str:
    return f"{PROJECT}-{validate_env(name)}-api"


def ecs_cluster_name(name: str) -> str:
    return f"{PROJECT}-{validate_env(name)}"


def ecs_service_name(name: str) -> str:
    return f"{PROJECT}-{validate_env(name)}-mqtt"


def image_tag(name: str, commit: str) -> str:
    return f"{validate_env(name)}-{commit[:12]}" if commit else validate_env(name)


def is_image_tag_of(name: str, tag: str) -> bool:
    """Whether ``tag`` is one ``image_tag(name, ...)`` gives (``pr-4-...`` is not ``pr-42``'s)."""
    return tag == validate_env(name) or tag.startswith(f"{name}-")


def stack_tags(name: str) -> dict[str, str]:
    return {COST_ALLOCATION_TAG: PROJECT, "Environment": validate_env(name)}


# The cost-allocation tag the prod Budget filters on. CloudFormation puts the stack tags on
# every resource it creates, but Billing sees a tag only once it is activated as a
# cost-allocation tag (Billing console -> Cost allocation tags, once per account).
COST_ALLOCATION_TAG = "Project"


def budget_cost_filter() -> str:
    """The Budgets ``TagKeyValue`` filter value: ``user:<key>$<value>``."""
    return f"user:{COST_ALLOCATION_TAG}${PROJECT}"


# One CloudWatch dashboard per environment (the template derives the same name with !Sub).
def cloudwatch_dashboard_name(name: str) -> str:
    return f"{PROJECT}-{validate_env(name)}"


def cloudwatch_dashboard_url(name: str, region: str) -> str:
    """Where the console shows ``name``'s CloudWatch dashboard."""
    dashboard = cloudwatch_dashboard_name(name)
    return (
        f"https://{region}.console.aws.amazon.com/cloudwatch/home?region={region}"
        f"#dashboards/dashboard/{dashboard}"
    )


# Secrets live in SSM Parameter Store as SecureString (standard tier: no monthly charge per
# parameter, unlike Secrets Manager's $0.40 per secret per environment). CloudFormation cannot
# create SecureString parameters, so the pipeline writes them before `sam deploy` and teardown
# deletes them; the template only grants read access under this prefix.
def ssm_prefix(name: str) -> str:
    return f"/{PROJECT}/{validate_env(name)}"


def session_key_parameter(name: str) -> str:
    return f"{ssm_prefix(name)}/session-signing-key"


def admin_password_parameter(name: str) -> str:
    return f"{ssm_prefix(name)}/admin-bootstrap-password"


# The value CloudFront adds to every API request as X-Origin-Verify, so the app trusts the
# CloudFront-Viewer-Address it forwards (yoto_smart_stream/login_throttle.py). A String, not a
# SecureString: CloudFormation resolves SecureStrings only for a few resource types, and
# CloudFront is not one; CloudFront's own configuration holds the value in clear anyway.
def cloudfront_origin_secret_parameter(name: str) -> str:
    return f"{ssm_prefix(name)}/cloudfront-origin-secret"


# The smoke test signs in as its own principal, not as a person: a name outside the app's user
# name pattern (no one can create, change or sign in as it by hand) with a 256-bit credential
# every deploy writes fresh to this parameter. The app (SMOKE_USERNAME, SMOKE_CREDENTIAL_*)
# gives it a read-only session; a test keeps both names equal.
SMOKE_PRINCIPAL = "pipeline:smoke"


def smoke_credential_parameter(name: str) -> str:
    return f"{ssm_prefix(name)}/smoke-credential"


# The shared network (VPC, internet gateway, two public subnets) is one small stack deployed
# once per account and region; every environment imports its exports. A VPC per environment
# would hit the default quota of five VPCs per region after prod, dev and three PRs.
NETWORK_STACK_NAME = f"{PROJECT}-network"


def network_export_name(output: str, network_stack: str = NETWORK_STACK_NAME) -> str:
    """The export name the network stack gives ``output`` (``VpcId``, ``PublicSubnetA``...)."""
    return f"{network_stack}-{output}"


def log_level(name: str) -> str:
    return "INFO" if env_kind(name) is EnvKind.PROD else "DEBUG"


def api_log_group_name(name: str) -> str:
    return f"/aws/lambda/{api_function_name(name)}"


def mqtt_log_group_name(name: str) -> str:
    return f"/ecs/{ecs_service_name(name)}"


# Image references must pin a digest: a tag such as ``:latest`` or ``:pr-42`` can move between
# the push and the task start, so an environment could run another branch's code.
IMAGE_DIGEST_PATTERN = r"^[^\s@]+@sha256:[0-9a-f]{64}$"
_IMAGE_DIGEST_RE = re.compile(IMAGE_DIGEST_PATTERN)
# AWS Budgets (prod only): the monthly limit the team expects to stay under (plan: $50).
DEFAULT_MONTHLY_BUDGET_USD = 50


def _image_repository(image_uri: str) -> str:
    """The repository name of ``<registry>/<name>@sha256:<digest>``."""
    return image_uri.split("@", 1)[0].split("/", 1)[-1]


def _flag(value: bool) -> str:
    return "true" if value else "false"


def template_parameters(
    name: str,
    *,
    mqtt_image_uri: str,
    yoto_client_id: str,
    git_commit: str = "",
    cloudfront: bool | None = None,
    alarm_email: str = "",
    monthly_budget_usd: int = DEFAULT_MONTHLY_BUDGET_USD,
    network_stack: str = NETWORK_STACK_NAME,
) -> dict[str, str]:
    """Parameter overrides for ``sam deploy`` of ``infrastructure/template.yaml``.

    Every per-environment setting reaches the template through here, so the template never
    re-derives a setting from the environment name. Secrets are not parameters: the template
    receives only the SSM parameter names (derived from ``Environment``).
    """
    settings = settings_for(name, cloudfront=cloudfront)
    if settings.mqtt_enabled and not _IMAGE_DIGEST_RE.fullmatch(mqtt_image_uri):
        raise ValueError(
            f"The MQTT image {mqtt_image_uri!r} is not pinned by digest; "
            "pass the repository@sha256:<digest> reference that publish-image returned."
        )
    if settings.mqtt_enabled and _image_repository(mqtt_image_uri) != ecr_repository(name):
        raise ValueError(
            f"The MQTT image {mqtt_image_uri!r} is not in {ecr_repository(name)!r}, the "
            f"repository of {name}'s scope: its task may pull only from there."
        )
    if monthly_budget_usd <= 0:
        raise ValueError("The monthly budget must be a positive number of US dollars.")
    return {
        "Environment": settings.name,
        "EnableMqtt": _flag(settings.mqtt_enabled),
        "EnableCloudFront": _flag(settings.cloudfront_enabled),
        "EnableAlarms": _flag(settings.alarms_enabled),
        "PointInTimeRecovery": _flag(settings.point_in_time_recovery),
        "AudioVersioning": _flag(settings.audio_versioning),
        "RetainData": _flag(settings.retain_data),
        "MultiAz": _flag(settings.multi_az),
        "LogRetentionDays": str(settings.log_retention_days),
        "AudioExpiryDays": str(settings.audio_expiry_days or 0),
        "LogLevel": log_level(name),
        "MqttImageUri": mqtt_image_uri,
        "MqttImageRepository": ecr_repository(name),
        "YotoClientId": yoto_client_id,
        "GitCommit": git_commit,
        "DeployScope": deploy_scope(name),
        "NetworkStackName": network_stack,
        "AlarmEmail": alarm_email,
        "MonthlyBudgetUsd": str(monthly_budget_usd),
    }


def parameter_overrides(parameters: dict[str, str]) -> list[str]:
    """``Key="Value"`` items for ``sam deploy --parameter-overrides`` (one argv item each).

    sam rejects a bare ``Key=`` (an empty GitCommit or AlarmEmail), so every value is quoted.
    """
    items = []
    for key, value in parameters.items():
        if "\\" in value:
            raise ValueError(f"The value of template parameter {key} contains a backslash.")
        escaped = value.replace('"', '\\"')
        items.append(f'{key}="{escaped}"')
    return items


# Packaged Lambda code and released templates live in one bucket per account and region, under
# one prefix per environment, so teardown can delete one environment's artifacts and rollback can
# redeploy the last good release whose code is still there.
def artifact_bucket_name(account_id: str, region: str) -> str:
    return f"{PROJECT}-artifacts-{account_id}-{region}"


# Every pr-<N> is deployed by the one preview role, told apart only by its session's name, and
# no condition key carries an object's key for GetObject/PutObject/DeleteObject. What IAM can
# compare is the resource ARN with a policy variable: a preview's prefix is therefore the
# aws:userid a session named pr-<N> has ("<role id>:pr-<N>"), so the bootstrap's
# "previews/${aws:userid}/*" grants each session its own prefix and nothing else
# (infrastructure/bootstrap/README.md, "Per-PR isolation").
PREVIEW_ARTIFACT_ROOT = "previews/"


def artifact_prefix(name: str, caller_user_id: str) -> str:
    """``prod/``, ``dev/``, or ``previews/<role id>:pr-<N>/`` for a preview.

    ``caller_user_id`` is the caller's STS ``UserId`` (``<role id>:<session name>`` for a role
    session): the role id is taken from it, the session name never, so stale-cleanup (the same
    role, another session name) finds every preview's prefix, and a session named pr-<N>
    computes exactly its own ``${aws:userid}``.
    """
    name = validate_env(name)
    if env_kind(name) is not EnvKind.PR:
        return f"{name}/"
    role_id = caller_user_id.partition(":")[0]
    if not role_id:
        raise ValueError("The caller's user id is empty: cannot place the preview's artifacts.")
    return f"{PREVIEW_ARTIFACT_ROOT}{role_id}:{name}/"


# GitHub Actions deploys through three roles created once by infrastructure/bootstrap: one per
# scope, where every pr-<N> environment shares the "preview" scope. Each role may only create
# IAM roles that carry its scope's permissions boundary, so the roles an environment's stack
# creates must set PermissionsBoundary to permissions_boundary_arn(env, ...).
def deploy_scope(name: str) -> str:
    kind = env_kind(name)
    return "preview" if kind is EnvKind.PR else kind.value


def deploy_role_name(name: str) -> str:
    return f"{PROJECT}-deploy-{deploy_scope(name)}"


def permissions_boundary_name(name: str) -> str:
    return f"{PROJECT}-boundary-{deploy_scope(name)}"


def permissions_boundary_arn(name: str, account_id: str, partition: str = "aws") -> str:
    return f"arn:{partition}:iam::{account_id}:policy/{permissions_boundary_name(name)}"


# The MQTT image's ECR repository. prod and dev each have one, created by
# infrastructure/bootstrap; every pr-<N> gets its own, created by the pipeline tagged with its
# Environment and deleted by its teardown. ECR cannot scope ecr:BatchDeleteImage to image tags,
# so a repository shared by several environments would let each delete the others' images by
# digest; a repository of its own carries the env's tag, which the preview role's per-PR deny
# compares with the session (infrastructure/bootstrap/README.md, "Per-PR isolation").
# Environments push <env>-<commit> tags and run their image by digest, never by tag.
def ecr_repository(name: str) -> str:
    kind = env_kind(name)
    return f"{PROJECT}-mqtt-{name if kind is EnvKind.PR else deploy_scope(name)}"


# The lifecycle policy of a pr-<N> repository (the pipeline creates those; the bootstrap
# template gives prod's and dev's their own): images a re-pushed tag left untagged expire
# after a day, and a preview's tagged images after 7 days if its teardown never ran.
PREVIEW_IMAGE_LIFECYCLE = {
    "rules": [
        {
            "rulePriority": 1,
            "description": "Untagged images left by re-pushed tags",
            "selection": {
                "tagStatus": "untagged",
                "countType": "sinceImagePushed",
                "countUnit": "days",
                "countNumber": 1,
            },
            "action": {"type": "expire"},
        },
        {
            "rulePriority": 2,
            "description": "PR preview images: previews live days, not weeks",
            "selection": {
                "tagStatus": "tagged",
                "tagPrefixList": ["pr-"],
                "countType": "sinceImagePushed",
                "countUnit": "days",
                "countNumber": 7,
            },
            "action": {"type": "expire"},
        },
    ]
}
