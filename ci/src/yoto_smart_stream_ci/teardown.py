"""Tear an environment down completely, then prove nothing of it remains.

Order matters: buckets are emptied (every object version and delete marker) before the stack
deletion, because CloudFormation cannot delete a non-empty bucket; the env's ECR images, SSM
secrets and packaged artifacts are not stack resources, so they go separately. Afterwards every
name the environment derives is looked up again, plus a tag search across services.

Prod's table and audio bucket are retained by the stack (``DeletionPolicy: Retain``) and the
table is deletion-protected. A forced prod teardown removes them too: protection is turned off
before the stack deletion, and whatever the stack retained is deleted after it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from yoto_smart_stream_ci import contract, environments
from yoto_smart_stream_ci.aws import AwsTarget
from yoto_smart_stream_ci.emulator import STACK_WAIT, stack_exists


class TeardownRefused(RuntimeError):
    pass


@dataclass
class TeardownReport:
    env: str
    stack_existed: bool
    actions: list[str] = field(default_factory=list)
    leftovers: list[str] = field(default_factory=list)
    # Set when the env is gone but its pull request's comment could not be updated.
    comment_error: str = ""

    @property
    def ok(self) -> bool:
        return not self.leftovers and not self.comment_error

    def render(self) -> str:
        head = (
            f"Teardown of {self.env}:"
            if self.stack_existed
            else f"Teardown of {self.env}: the stack does not exist (never deployed or already "
            "torn down); removing any leftovers."
        )
        lines = [head, *(f"  - {a}" for a in self.actions)]
        if self.leftovers:
            lines.append("FAILED: these resources of the environment still exist:")
            lines += [f"  ! {item}" for item in self.leftovers]
        else:
            lines.append(f"Verified: nothing of {self.env} remains.")
        return "\n".join(lines)


def check_allowed(env: str, *, force: bool) -> str:
    """Validate the name and refuse prod unless forced; runs before any AWS call."""
    environments.validate_env(env)
    if env == "prod" and not force:
        raise TeardownRefused(contract.PROD_TEARDOWN_REFUSED)
    return env


def _empty_bucket(s3: Any, bucket: str, prefix: str = "") -> int:
    """Delete every object version and delete marker (under ``prefix``); return the count."""
    deleted = 0
    try:
        pages = s3.get_paginator("list_object_versions").paginate(Bucket=bucket, Prefix=prefix)
        for page in pages:
            keys = [
                {"Key": v["Key"], "VersionId": v["VersionId"]}
                for v in page.get("Versions", []) + page.get("DeleteMarkers", [])
            ]
            for start in range(0, len(keys), 1000):
                s3.delete_objects(Bucket=bucket, Delete={"Objects": keys[start : start + 1000]})
            deleted += len(keys)
    except s3.exceptions.NoSuchBucket:
        return 0
    return deleted


def env_bucket_names(env: str, account: str, region: str) -> list[str]:
    return [
        environments.audio_bucket_name(env, account, region),
        environments.dashboard_bucket_name(env, account, region),
    ]


def _stack_buckets(cfn: Any, stack: str) -> list[str]:
    buckets: list[str] = []
    for page in cfn.get_paginator("list_stack_resources").paginate(StackName=stack):
        buckets += [
            r["PhysicalResourceId"]
            for r in page["StackResourceSummaries"]
            if r["ResourceType"] == "AWS::S3::Bucket" and r.get("PhysicalResourceId")
        ]
    return buckets


def _env_image_tags(ecr: Any, env: str) -> list[str]:
    """The env's own tags in its image repository."""
    try:
        pages = ecr.get_paginator("list_images").paginate(
            repositoryName=environments.ecr_repository(env), filter={"tagStatus": "TAGGED"}
        )
        return [
            i["imageTag"]
            for page in pages
            for i in page["imageIds"]
            if environments.is_image_tag_of(env, i.get("imageTag", ""))
        ]
    except ecr.exceptions.RepositoryNotFoundException:
        return []


def _delete_env_images(ecr: Any, env: str) -> int:
    """Remove the env's tags; ECR deletes an image with its last tag. By tag, not by digest:
    another pr-N may have pushed the same image, and its tag must keep the image alive."""
    tags = _env_image_tags(ecr, env)
    for start in range(0, len(tags), 100):  # BatchDeleteImage takes at most 100 ids
        ecr.batch_delete_image(
            repositoryName=environments.ecr_repository(env),
            imageIds=[{"imageTag": tag} for tag in tags[start : start + 100]],
        )
    return len(tags)


def _delete_preview_repository(ecr: Any, env: str) -> bool:
    """Delete a pr-<N>'s own image repository with its images; ``True`` if it existed."""
    try:
        ecr.delete_repository(repositoryName=environments.ecr_repository(env), force=True)
    except ecr.exceptions.RepositoryNotFoundException:
        return False
    return True


def _repository_exists(ecr: Any, env: str) -> bool:
    try:
        ecr.describe_repositories(repositoryNames=[environments.ecr_repository(env)])
    except ecr.exceptions.RepositoryNotFoundException:
        return False
    return True


def _env_parameters(ssm: Any, env: str) -> list[str]:
    pages = ssm.get_paginator("get_parameters_by_path").paginate(
        Path=environments.ssm_prefix(env), Recursive=True
    )
    return [p["Name"] for page in pages for p in page["Parameters"]]


def _sweep_ecs(ecs: Any, env: str) -> str:
    """Delete the env's ECS cluster (and its services) if the stack deletion left it active.

    CloudFormation normally removes both; moto leaves the cluster behind, and a real stack can
    end in DELETE_FAILED. Either way teardown must not stop at "the stack is gone".
    """
    cluster = environments.ecs_cluster_name(env)
    found = ecs.describe_clusters(clusters=[cluster])["clusters"]
    if not any(c["status"] == "ACTIVE" for c in found):
        return ""
    services = ecs.list_services(cluster=cluster)["serviceArns"]
    for service in services:
        ecs.update_service(cluster=cluster, service=service, desiredCount=0)
        ecs.delete_service(cluster=cluster, service=service, force=True)
    ecs.delete_cluster(cluster=cluster)
    return f"ECS cluster {cluster} ({len(services)} service(s))"


def _unprotect_table(dynamodb: Any, table: str) -> bool:
    """Turn off the table's deletion protection; ``True`` when it was on.

    Only reached for prod with ``--force`` (``check_allowed``): the flag promises that nothing of
    the environment remains, and a protected table cannot be deleted by anyone, stack or not.
    """
    try:
        described = dynamodb.describe_table(TableName=table)["Table"]
    except dynamodb.exceptions.ResourceNotFoundException:
        return False
    if not described.get("DeletionProtectionEnabled"):
        return False
    dynamodb.update_table(TableName=table, DeletionProtectionEnabled=False)
    return True


def _delete_retained_table(dynamodb: Any, table: str) -> bool:
    """Delete the table if the stack deletion retained it (``DeletionPolicy: Retain``)."""
    try:
        dynamodb.delete_table(TableName=table)
    except dynamodb.exceptions.ResourceNotFoundException:
        return False
    dynamodb.get_waiter("table_not_exists").wait(
        TableName=table, WaiterConfig={"Delay": 2, "MaxAttempts": 150}
    )
    return True


def teardown(target: AwsTarget, env: str, *, force: bool = False) -> TeardownReport:
    check_allowed(env, force=force)
    stack = environments.stack_name(env)
    account = target.account_id()
    cfn = target.client("cloudformation")
    s3 = target.client("s3")
    existed = stack_exists(cfn, stack)
    report = TeardownReport(env=env, stack_existed=existed)

    buckets = set(env_bucket_names(env, account, target.region))
    if existed:
        buckets |= set(_stack_buckets(cfn, stack))
    for bucket in sorted(buckets):
        count = _empty_bucket(s3, bucket)
        if count:
            report.actions.append(f"emptied bucket {bucket} ({count} versions/markers)")
    removed_artifacts = _empty_bucket(
        s3,
        environments.artifact_bucket_name(account, target.region),
        prefix=environments.artifact_prefix(env, target.caller_user_id()),
    )
    if removed_artifacts:
        report.actions.append(f"deleted {removed_artifacts} packaged artifacts of {env}")

    ecr = target.client("ecr")
    if environments.env_kind(env) is environments.EnvKind.PR:
        if _delete_preview_repository(ecr, env):
            report.actions.append(f"deleted ECR repository {environments.ecr_repository(env)}")
    else:
        images = _delete_env_images(ecr, env)
        if images:
            report.actions.append(
                f"deleted {images} image tag(s) of {env} from {environments.ecr_repository(env)}"
            )

    dynamodb = target.client("dynamodb")
    table = environments.table_name(env)
    if _unprotect_table(dynamodb, table):
        report.actions.append(f"turned off deletion protection of table {table}")

    if existed:
        cfn.delete_stack(StackName=stack)
        cfn.get_waiter("stack_delete_complete").wait(StackName=stack, WaiterConfig=STACK_WAIT)
        report.actions.append(f"deleted stack {stack}")

    if _delete_retained_table(dynamodb, table):
        kept_by = " (the stack deletion retained it)" if existed else ""
        report.actions.append(f"deleted table {table}{kept_by}")

    swept = _sweep_ecs(target.client("ecs"), env)
    if swept:
        report.actions.append(f"deleted {swept} left behind by the stack deletion")

    ssm = target.client("ssm")
    names = _env_parameters(ssm, env)
    for start in range(0, len(names), 10):
        ssm.delete_parameters(Names=names[start : start + 10])
    if names:
        report.actions.append(
            f"deleted {len(names)} SSM parameter(s) under {environments.ssm_prefix(env)}"
        )

    # Buckets the stack retained (or created outside it) are deleted explicitly.
    for bucket in sorted(buckets):
        try:
            s3.delete_bucket(Bucket=bucket)
            report.actions.append(f"deleted bucket {bucket}")
        except s3.exceptions.ClientError as error:
            if "NoSuchBucket" not in str(error):
                raise

    report.leftovers = remaining_resources(target, env, account)
    return report


def is_task_definition(arn: str) -> bool:
    parts = arn.split(":", 5)
    return len(parts) == 6 and parts[2] == "ecs" and parts[5].startswith("task-definition/")


def remaining_resources(target: AwsTarget, env: str, account: str) -> list[str]:
    """Everything of ``env`` that still exists, by derived name and by tag."""
    left: list[str] = []
    stack = environments.stack_name(env)
    if stack_exists(target.client("cloudformation"), stack):
        left.append(f"stack {stack}")
    s3 = target.client("s3")
    existing = {b["Name"] for b in s3.list_buckets().get("Buckets", [])}
    left += [f"bucket {b}" for b in env_bucket_names(env, account, target.region) if b in existing]
    artifacts = environments.artifact_bucket_name(account, target.region)
    if artifacts in existing:
        prefix = environments.artifact_prefix(env, target.caller_user_id())
        listed = s3.list_object_versions(Bucket=artifacts, Prefix=prefix, MaxKeys=1)
        if listed.get("Versions") or listed.get("DeleteMarkers"):
            left.append(f"packaged artifacts s3://{artifacts}/{prefix}")
    dynamodb = target.client("dynamodb")
    if environments.table_name(env) in dynamodb.list_tables()["TableNames"]:
        left.append(f"table {environments.table_name(env)}")
    lam = target.client("lambda")
    try:
        lam.get_function(FunctionName=environments.api_function_name(env))
        left.append(f"function {environments.api_function_name(env)}")
    except lam.exceptions.ResourceNotFoundException:
        pass
    ecs = target.client("ecs")
    clusters = ecs.describe_clusters(clusters=[environments.ecs_cluster_name(env)])["clusters"]
    left += [f"ECS cluster {c['clusterName']}" for c in clusters if c["status"] == "ACTIVE"]
    logs = target.client("logs")
    for group in (environments.api_log_group_name(env), environments.mqtt_log_group_name(env)):
        found = logs.describe_log_groups(logGroupNamePrefix=group)["logGroups"]
        left += [f"log group {g['logGroupName']}" for g in found if g["logGroupName"] == group]
    left += [f"SSM parameter {n}" for n in _env_parameters(target.client("ssm"), env)]
    repository = environments.ecr_repository(env)
    ecr = target.client("ecr")
    if environments.env_kind(env) is environments.EnvKind.PR:
        left += [f"ECR repository {repository}"] if _repository_exists(ecr, env) else []
    else:
        left += [f"image {repository}:{t}" for t in _env_image_tags(ecr, env)]
    tagging = target.client("resourcegroupstaggingapi")
    pages = tagging.get_paginator("get_resources").paginate(
        TagFilters=[
            {"Key": "Project", "Values": [environments.PROJECT]},
            {"Key": "Environment", "Values": [env]},
        ]
    )
    tagged = [m["ResourceARN"] for page in pages for m in page["ResourceTagMappingList"]]
    # Task definition revisions are retained by design: no deploy role may deregister one
    # (ecs:DeregisterTaskDefinition cannot be scoped to an environment). They run nothing.
    left += [f"tagged resource {arn}" for arn in tagged if not is_task_definition(arn)]
    return left
