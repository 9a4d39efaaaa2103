"""What of an environment is left in an emulated account, asked of each service directly."""

from __future__ import annotations

from typing import Any

import boto3

from tests.support.moto_server import TEST_REGION
from yoto_smart_stream_ci import environments


def client(endpoint: str, service: str) -> Any:
    return boto3.client(
        service,
        endpoint_url=endpoint,
        region_name=TEST_REGION,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


def remaining_of(endpoint: str, env: str) -> list[str]:
    """Everything in the emulated account whose name or tags mention ``env``, asked directly."""
    found: list[str] = []
    cfn = client(endpoint, "cloudformation")
    found += [
        s["StackName"]
        for s in cfn.list_stacks()["StackSummaries"]
        if env in s["StackName"] and s["StackStatus"] != "DELETE_COMPLETE"
    ]
    found += [
        b["Name"] for b in client(endpoint, "s3").list_buckets()["Buckets"] if env in b["Name"]
    ]
    found += [t for t in client(endpoint, "dynamodb").list_tables()["TableNames"] if env in t]
    found += [
        f["FunctionName"]
        for f in client(endpoint, "lambda").list_functions()["Functions"]
        if env in f["FunctionName"]
    ]
    ecs = client(endpoint, "ecs")
    arns = [c for c in ecs.list_clusters()["clusterArns"] if env in c]
    if arns:  # a deleted cluster stays listed as INACTIVE for a while, as in AWS
        described = ecs.describe_clusters(clusters=arns)["clusters"]
        found += [c["clusterArn"] for c in described if c["status"] != "INACTIVE"]
    found += [
        r["RoleName"] for r in client(endpoint, "iam").list_roles()["Roles"] if env in r["RoleName"]
    ]
    found += [
        g["logGroupName"]
        for g in client(endpoint, "logs").describe_log_groups()["logGroups"]
        if env in g["logGroupName"]
    ]
    found += [
        p["Name"]
        for p in client(endpoint, "ssm").describe_parameters()["Parameters"]
        if env in p["Name"]
    ]
    # prod/ and dev/, or a preview's previews/<role id>:pr-<N>/ (whichever principal packaged it).
    artifacts = client(endpoint, "s3").list_objects_v2(
        Bucket=environments.artifact_bucket_name("123456789012", TEST_REGION)
    )
    found += [
        o["Key"]
        for o in artifacts.get("Contents", [])
        if any(part == env or part.endswith(f":{env}") for part in o["Key"].split("/")[:2])
    ]
    ecr = client(endpoint, "ecr")
    try:
        images = ecr.list_images(repositoryName=environments.ecr_repository(env))["imageIds"]
    except ecr.exceptions.RepositoryNotFoundException:
        images = []  # a pr-<N>'s own repository goes with its teardown
    found += [i.get("imageTag", "") for i in images if env in i.get("imageTag", "")]
    tagged = client(endpoint, "resourcegroupstaggingapi").get_resources(
        TagFilters=[{"Key": "Environment", "Values": [env]}]
    )
    found += [m["ResourceARN"] for m in tagged["ResourceTagMappingList"]]
    return found
