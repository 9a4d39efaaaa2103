"""The network stack and expanded environment stacks, created in the moto emulator.

moto silently skips resource types it has no model for; these tests strip those types first
(with the pipeline's own emulator.strip_unsupported) and then check every claim against the
resource's own service API, so a skip can never pass as a created resource.
"""

from __future__ import annotations

import io
import json
import socket
import subprocess
import sys
import time
import zipfile
from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from tests.support.moto_server import aws_env, free_port, patched_environ
from tests.support.sam_template import (
    NETWORK_TEMPLATE_PATH,
    PACKAGED_CODE_BUCKET,
    PACKAGED_CODE_KEY,
    expand,
    sample_parameters,
)
from yoto_smart_stream_ci import environments
from yoto_smart_stream_ci.emulator import (
    resolve_policies,
    strip_unsupported,
    supported_resource_types,
)

ACCOUNT, REGION = "123456789012", "eu-west-2"
WAIT = {"Delay": 1, "MaxAttempts": 60}


def _create_stack(cfn: Any, name: str, body: str, parameters: dict[str, str] | None = None) -> None:
    cfn.create_stack(
        StackName=name,
        TemplateBody=body,
        Parameters=[
            {"ParameterKey": k, "ParameterValue": v} for k, v in (parameters or {}).items()
        ],
        Capabilities=["CAPABILITY_IAM"],
    )
    cfn.get_waiter("stack_create_complete").wait(StackName=name, WaiterConfig=WAIT)


def _emulator_template(env: str) -> tuple[str, dict[str, str], dict[str, str]]:
    """The expanded template without the types moto skips; DeletionPolicy resolved for env
    (both with the pipeline's own functions)."""
    parameters = sample_parameters(env)
    expanded = resolve_policies(expand(parameters), parameters)
    stripped = strip_unsupported(expanded, supported_resource_types())
    return json.dumps(stripped.template), parameters, stripped.removed


@pytest.fixture(scope="module")
def network(aws_environ_module: dict[str, str]) -> dict[str, str]:
    """The shared network stack, and the packaged code the function stacks point at."""
    s3 = boto3.client("s3")
    s3.create_bucket(
        Bucket=PACKAGED_CODE_BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION}
    )
    code = io.BytesIO()
    with zipfile.ZipFile(code, "w") as archive:
        archive.writestr(
            "yoto_smart_stream/lambda_handler.py", "def handler(event, context):\n    return {}\n"
        )
    s3.put_object(Bucket=PACKAGED_CODE_BUCKET, Key=PACKAGED_CODE_KEY, Body=code.getvalue())
    cfn = boto3.client("cloudformation")
    _create_stack(cfn, environments.NETWORK_STACK_NAME, NETWORK_TEMPLATE_PATH.read_text())
    outputs = cfn.describe_stacks(StackName=environments.NETWORK_STACK_NAME)["Stacks"][0]["Outputs"]
    return {o["OutputKey"]: o["OutputValue"] for o in outputs}


@pytest.fixture(scope="module")
def aws_environ_module() -> Iterator[dict[str, str]]:
    """A moto server process of this module's own: the network stack and prod names are fixed,
    so sharing an emulator could collide with the pipeline's tests. It must be a separate
    process: moto servers started in this one (ThreadedMotoServer) share moto's backends, so
    after tests/pipeline the network stack and artifacts bucket would already exist."""
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        _wait_for_port(port, server)
        with patched_environ(aws_env(f"http://127.0.0.1:{port}")):
            yield aws_env(f"http://127.0.0.1:{port}")
    finally:
        server.terminate()
        server.wait(timeout=30)


def _wait_for_port(port: int, server: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"the moto server exited with {server.returncode}")
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise RuntimeError(f"the moto server did not listen on port {port} within 60 s")


def test_network_stack_routes_its_public_subnets_to_an_internet_gateway(
    network: dict[str, str],
) -> None:
    ec2 = boto3.client("ec2")
    vpc_id = network["VpcId"]
    gateways = ec2.describe_internet_gateways(
        Filters=[{"Name": "attachment.vpc-id", "Values": [vpc_id]}]
    )["InternetGateways"]
    assert len(gateways) == 1
    tables = ec2.describe_route_tables(Filters=[{"Name": "vpc-id", "Values": [vpc_id]}])[
        "RouteTables"
    ]
    default_routes = [
        r for t in tables for r in t["Routes"] if r.get("DestinationCidrBlock") == "0.0.0.0/0"
    ]
    assert [r["GatewayId"] for r in default_routes] == [gateways[0]["InternetGatewayId"]]
    subnets = ec2.describe_subnets(SubnetIds=[network["PublicSubnetA"], network["PublicSubnetB"]])
    assert {s["VpcId"] for s in subnets["Subnets"]} == {vpc_id}
    assert len({s["AvailabilityZone"] for s in subnets["Subnets"]}) == 2


def test_pr_environments_share_the_network_and_tear_down_completely(
    network: dict[str, str],
) -> None:
    cfn, ec2 = boto3.client("cloudformation"), boto3.client("ec2")
    vpcs_before = len(ec2.describe_vpcs()["Vpcs"])
    envs = ["pr-9101", "pr-9102"]
    for env in envs:
        body, parameters, removed = _emulator_template(env)
        # Only types moto cannot model are left out, never the data or compute resources.
        assert not {"Table", "AudioBucket", "ApiFunction", "MqttService"} & set(removed)
        _create_stack(cfn, environments.stack_name(env), body, parameters)
    assert len(ec2.describe_vpcs()["Vpcs"]) == vpcs_before, "an environment created a VPC"
    groups = ec2.describe_security_groups(
        Filters=[{"Name": "group-name", "Values": ["*MqttSecurityGroup*"]}]
    )["SecurityGroups"]
    assert {g["VpcId"] for g in groups} == {network["VpcId"]}

    dynamodb, s3, logs, lam = (boto3.client(s) for s in ("dynamodb", "s3", "logs", "lambda"))
    env = envs[0]
    table = dynamodb.describe_table(TableName=environments.table_name(env))["Table"]
    assert {k["AttributeName"] for k in table["KeySchema"]} == {"PK", "SK"}
    bucket = environments.audio_bucket_name(env, ACCOUNT, REGION)
    s3.head_bucket(Bucket=bucket)  # (moto's CloudFormation does not apply PublicAccessBlock)
    group = logs.describe_log_groups(logGroupNamePrefix=environments.api_log_group_name(env))
    assert [g["retentionInDays"] for g in group["logGroups"]] == [3]
    function = lam.get_function_configuration(FunctionName=environments.api_function_name(env))
    assert function["Runtime"] == "python3.13"
    assert "AWS_REGION" not in function["Environment"]["Variables"]
    services = boto3.client("ecs").describe_services(
        cluster=environments.ecs_cluster_name(env), services=[environments.ecs_service_name(env)]
    )["services"]
    assert [s["status"] for s in services] == ["ACTIVE"]
    cloudwatch = boto3.client("cloudwatch")
    dashboard = environments.cloudwatch_dashboard_name(env)
    assert "MonitoringDashboard" not in removed
    body = json.loads(cloudwatch.get_dashboard(DashboardName=dashboard)["DashboardBody"])
    assert body["widgets"], "the dashboard was created without widgets"

    cfn.delete_stack(StackName=environments.stack_name(env))
    cfn.get_waiter("stack_delete_complete").wait(
        StackName=environments.stack_name(env), WaiterConfig=WAIT
    )
    assert environments.table_name(env) not in dynamodb.list_tables()["TableNames"]
    buckets = {b["Name"] for b in s3.list_buckets()["Buckets"]}
    assert not {bucket, environments.dashboard_bucket_name(env, ACCOUNT, REGION)} & buckets
    leftover_logs = logs.describe_log_groups(
        logGroupNamePrefix=f"/aws/lambda/{environments.stack_name(env)}"
    )
    assert leftover_logs["logGroups"] == []
    assert dashboard not in {
        d["DashboardName"] for d in cloudwatch.list_dashboards()["DashboardEntries"]
    }
    # The other PR environment is untouched.
    assert environments.table_name(envs[1]) in dynamodb.list_tables()["TableNames"]
    cfn.delete_stack(StackName=environments.stack_name(envs[1]))
    cfn.get_waiter("stack_delete_complete").wait(
        StackName=environments.stack_name(envs[1]), WaiterConfig=WAIT
    )


def test_prod_teardown_keeps_the_table_and_the_audio(network: dict[str, str]) -> None:
    cfn = boto3.client("cloudformation")
    env = "prod"
    body, parameters, _ = _emulator_template(env)
    _create_stack(cfn, environments.stack_name(env), body, parameters)
    cfn.delete_stack(StackName=environments.stack_name(env))
    cfn.get_waiter("stack_delete_complete").wait(
        StackName=environments.stack_name(env), WaiterConfig=WAIT
    )
    table = environments.table_name(env)
    audio_bucket = environments.audio_bucket_name(env, ACCOUNT, REGION)
    try:
        assert table in boto3.client("dynamodb").list_tables()["TableNames"]
        buckets = {b["Name"] for b in boto3.client("s3").list_buckets()["Buckets"]}
        assert audio_bucket in buckets
        assert environments.dashboard_bucket_name(env, ACCOUNT, REGION) not in buckets
    finally:
        # The moto server is shared by the whole session: what prod retains by design must
        # not leak into other tests (the pipeline's "nothing of prod remains" check).
        _delete_retained(table, audio_bucket)


def _delete_retained(table: str, bucket: str) -> None:
    dynamodb = boto3.client("dynamodb")
    if table in dynamodb.list_tables()["TableNames"]:
        dynamodb.update_table(TableName=table, DeletionProtectionEnabled=False)
        dynamodb.delete_table(TableName=table)
    s3 = boto3.resource("s3")
    if bucket in {b.name for b in s3.buckets.all()}:
        s3.Bucket(bucket).object_versions.delete()
        s3.Bucket(bucket).delete()
