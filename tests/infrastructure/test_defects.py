"""One test per defect of the original plan's template (issue 4, defects 1-11).

Defect 7 (the artifact) is guarded by tests/infrastructure/test_artifact.py, which runs
`sam build` and invokes the built handler.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from tests.infrastructure.conftest import Deployment
from tests.support.sam_template import (
    NETWORK_TEMPLATE_PATH,
    active_resources,
    expand,
    sample_parameters,
    substitute,
)
from tests.support.template import REPO_ROOT, load_template
from yoto_smart_stream_ci import environments

# Lambda's reserved environment variables (the runtime sets them; CloudFormation rejects them).
RESERVED_LAMBDA_VARIABLES = {
    "_HANDLER",
    "_X_AMZN_TRACE_ID",
    "AWS_DEFAULT_REGION",
    "AWS_REGION",
    "AWS_EXECUTION_ENV",
    "AWS_LAMBDA_FUNCTION_NAME",
    "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
    "AWS_LAMBDA_FUNCTION_VERSION",
    "AWS_LAMBDA_INITIALIZATION_TYPE",
    "AWS_LAMBDA_LOG_GROUP_NAME",
    "AWS_LAMBDA_LOG_STREAM_NAME",
    "AWS_ACCESS_KEY",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_LAMBDA_RUNTIME_API",
    "LAMBDA_TASK_ROOT",
    "LAMBDA_RUNTIME_DIR",
}
MANAGED_CACHING_DISABLED = "4135ea2d-6df8-44a3-9df3-4b5a84be39ad"
MANAGED_ALL_VIEWER_EXCEPT_HOST = "b689b0a8-53d0-40ab-baf2-68738e2966ac"


def _function_env(deployment: Deployment) -> dict[str, Any]:
    return dict(deployment.props("ApiFunction")["Environment"]["Variables"])


def _import_names(value: Any, parameters: dict[str, str]) -> list[str]:
    """Export names a value imports (``Fn::ImportValue`` of ``Fn::Sub``), resolved."""
    found: list[str] = []
    if isinstance(value, dict):
        if set(value) == {"Fn::ImportValue"}:
            text = value["Fn::ImportValue"]["Fn::Sub"]
            found.append(re.sub(r"\$\{(\w+)\}", lambda m: parameters[m[1]], text))
        else:
            for inner in value.values():
                found += _import_names(inner, parameters)
    elif isinstance(value, list):
        for inner in value:
            found += _import_names(inner, parameters)
    return found


@pytest.mark.parametrize("env", ["prod", "dev", "pr-42"])
def test_defect01_no_reserved_variable_in_lambda_environment(
    deployments: dict[str, Deployment], env: str
) -> None:
    variables = _function_env(deployments[env])
    assert not set(variables) & RESERVED_LAMBDA_VARIABLES
    # The app still gets what it needs from the template, the region from the runtime.
    assert {"ENVIRONMENT", "DYNAMODB_TABLE", "S3_AUDIO_BUCKET", "PUBLIC_URL"} <= set(variables)


def test_defect02_runtime_is_python313_like_the_build_host(pr: Deployment) -> None:
    assert pr.props("ApiFunction")["Runtime"] == "python3.13"
    # sam build runs on the host's interpreter: the repo pins the same minor version.
    assert (REPO_ROOT / ".python-version").read_text().strip().startswith("3.13")


@pytest.mark.parametrize("env", ["prod", "dev", "pr-42"])
def test_defect03_mqtt_service_runs_on_fargate_spot(
    deployments: dict[str, Deployment], env: str
) -> None:
    deployment = deployments[env]
    service = deployment.props("MqttService")
    assert "LaunchType" not in service, "LaunchType overrides the capacity-provider strategy"
    assert service["CapacityProviderStrategy"] == [
        {"CapacityProvider": "FARGATE_SPOT", "Weight": 1}
    ]
    cluster = deployment.props("MqttCluster")
    assert "FARGATE_SPOT" in cluster["CapacityProviders"]


def test_defect04_fargate_subnets_route_to_an_internet_gateway(pr: Deployment) -> None:
    network = load_template(NETWORK_TEMPLATE_PATH)["Resources"]
    routes = [r["Properties"] for r in network.values() if r["Type"] == "AWS::EC2::Route"]
    default_routes = [r for r in routes if r["DestinationCidrBlock"] == "0.0.0.0/0"]
    assert len(default_routes) == 1
    route = default_routes[0]
    assert network[route["GatewayId"]["Ref"]]["Type"] == "AWS::EC2::InternetGateway"
    attachments = [
        r["Properties"] for r in network.values() if r["Type"] == "AWS::EC2::VPCGatewayAttachment"
    ]
    assert attachments == [{"VpcId": {"Ref": "Vpc"}, "InternetGatewayId": route["GatewayId"]}]
    routed_subnets = {
        r["Properties"]["SubnetId"]["Ref"]
        for r in network.values()
        if r["Type"] == "AWS::EC2::SubnetRouteTableAssociation"
        and r["Properties"]["RouteTableId"] == route["RouteTableId"]
    }
    outputs = load_template(NETWORK_TEMPLATE_PATH)["Outputs"]
    exported_subnets = {
        o["Value"]["Ref"] for k, o in outputs.items() if k.startswith("PublicSubnet")
    }
    assert exported_subnets
    assert exported_subnets <= routed_subnets
    # The task asks for a public IP and may leave on 443 (ECR, AWS APIs, Yoto broker).
    vpc_config = pr.props("MqttService")["NetworkConfiguration"]["AwsvpcConfiguration"]
    assert vpc_config["AssignPublicIp"] == "ENABLED"
    egress = pr.props("MqttSecurityGroup")["SecurityGroupEgress"]
    assert any(e["FromPort"] <= 443 <= e["ToPort"] and e["CidrIp"] == "0.0.0.0/0" for e in egress)


@pytest.mark.parametrize("env", ["prod", "dev", "pr-42"])
def test_defect05_environments_use_the_shared_network(
    deployments: dict[str, Deployment], env: str
) -> None:
    deployment = deployments[env]
    network_types = {
        "AWS::EC2::VPC",
        "AWS::EC2::Subnet",
        "AWS::EC2::InternetGateway",
        "AWS::EC2::NatGateway",
        "AWS::EC2::EIP",
        "AWS::EC2::RouteTable",
    }
    assert not [lid for lid, r in deployment.resources.items() if r["Type"] in network_types]
    imported = _import_names(deployment.resources, deployment.parameters)
    expected_subnets = ["PublicSubnetA", "PublicSubnetB"] if env == "prod" else ["PublicSubnetA"]
    assert sorted(imported) == sorted(
        [environments.network_export_name("VpcId")]
        + [environments.network_export_name(s) for s in expected_subnets]
    )
    # ...and the network stack exports exactly those names.
    network_outputs = load_template(NETWORK_TEMPLATE_PATH)["Outputs"]
    exports = {
        o["Export"]["Name"]["Fn::Sub"].replace("${AWS::StackName}", environments.NETWORK_STACK_NAME)
        for o in network_outputs.values()
    }
    assert set(imported) <= exports


def test_defect06_mqtt_image_is_a_parameter_pinned_by_digest(pr: Deployment) -> None:
    container = pr.props("MqttTaskDefinition")["ContainerDefinitions"][0]
    assert container["Image"] == pr.parameters["MqttImageUri"]
    pattern = load_template()["Parameters"]["MqttImageUri"]["AllowedPattern"]
    assert re.fullmatch(pattern, pr.parameters["MqttImageUri"])
    for moving in (
        "123456789012.dkr.ecr.eu-west-2.amazonaws.com/yoto-mqtt:latest",
        "yoto-mqtt:pr-42",
    ):
        assert not re.fullmatch(pattern, moving)
        with pytest.raises(ValueError, match="not pinned by digest"):
            sample_parameters("pr-42", mqtt_image_uri=moving)


def test_defect08_dashboard_is_read_through_origin_access_control(pr: Deployment) -> None:
    assert not pr.of_type("AWS::CloudFront::CloudFrontOriginAccessIdentity")
    oacs = pr.of_type("AWS::CloudFront::OriginAccessControl")
    assert len(oacs) == 1
    ((oac_id, oac),) = oacs.items()
    config = oac["Properties"]["OriginAccessControlConfig"]
    assert (config["OriginAccessControlOriginType"], config["SigningBehavior"]) == ("s3", "always")
    origins = pr.props("Distribution")["DistributionConfig"]["Origins"]
    s3_origins = [o for o in origins if "S3OriginConfig" in o]
    assert len(s3_origins) == 1
    assert s3_origins[0]["OriginAccessControlId"] == {"Fn::GetAtt": [oac_id, "Id"]}
    assert s3_origins[0]["DomainName"] == {"Fn::GetAtt": ["DashboardBucket", "RegionalDomainName"]}
    # The bucket stays private and admits only this distribution.
    bucket = pr.props("DashboardBucket")
    assert all(bucket["PublicAccessBlockConfiguration"].values())
    statements = pr.props("DashboardBucketPolicy")["PolicyDocument"]["Statement"]
    allows = [s for s in statements if s["Effect"] == "Allow"]
    assert allows == [
        {
            "Sid": "AllowCloudFrontRead",
            "Effect": "Allow",
            "Principal": {"Service": "cloudfront.amazonaws.com"},
            "Action": "s3:GetObject",
            "Resource": {"Fn::Sub": "${DashboardBucket.Arn}/*"},
            "Condition": {
                "StringEquals": {
                    "AWS:SourceArn": {
                        "Fn::Sub": "arn:${AWS::Partition}:cloudfront::${AWS::AccountId}:distribution/${Distribution}"
                    }
                }
            },
        }
    ]


@pytest.mark.parametrize("env", ["prod", "dev", "pr-42"])
def test_defect09_api_is_same_origin_through_cloudfront(
    deployments: dict[str, Deployment], env: str
) -> None:
    deployment = deployments[env]
    assert "CorsConfiguration" not in deployment.props("HttpApi")
    for resource in deployment.of_type("AWS::S3::Bucket").values():
        for rule in resource["Properties"].get("CorsConfiguration", {}).get("CorsRules", []):
            assert "*" not in rule["AllowedOrigins"]
    if deployment.parameters["EnableCloudFront"] != "true":
        assert not deployment.of_type("AWS::CloudFront::Distribution")
        return
    config = deployment.props("Distribution")["DistributionConfig"]
    api_origin = next(o for o in config["Origins"] if "CustomOriginConfig" in o)
    assert api_origin["DomainName"] == {
        "Fn::Sub": "${HttpApi}.execute-api.${AWS::Region}.${AWS::URLSuffix}"
    }
    # The stage is the path prefix: /api/health at CloudFront is /<env>/api/health at the API.
    assert api_origin["OriginPath"] == {"Fn::Sub": "/${Environment}"}
    behaviors = {b["PathPattern"]: b for b in config["CacheBehaviors"]}
    assert set(behaviors) == {"/api/*", "/audio/*"}
    for behavior in behaviors.values():
        assert behavior["TargetOriginId"] == api_origin["Id"]
        assert behavior["CachePolicyId"] == MANAGED_CACHING_DISABLED
        # Forwards cookies, query strings and headers (not Host, which the API must see as its own).
        assert behavior["OriginRequestPolicyId"] == MANAGED_ALL_VIEWER_EXCEPT_HOST
    assert {"POST", "PUT", "DELETE"} <= set(behaviors["/api/*"]["AllowedMethods"])


@pytest.mark.parametrize("env", ["prod", "dev", "pr-42"])
def test_defect10_lambda_log_group_is_declared_with_retention(
    deployments: dict[str, Deployment], env: str
) -> None:
    deployment = deployments[env]
    log_group = deployment.resources["ApiLogGroup"]
    assert log_group["Type"] == "AWS::Logs::LogGroup"
    assert log_group.get("DeletionPolicy", "Delete") == "Delete"
    props = log_group["Properties"]
    assert props["RetentionInDays"] == str(environments.settings_for(env).log_retention_days)
    assert substitute(props["LogGroupName"], deployment.parameters) == (
        environments.api_log_group_name(env)
    )
    assert deployment.props("ApiFunction")["LoggingConfig"]["LogGroup"] == {"Ref": "ApiLogGroup"}


def test_defect11_prod_has_a_budget_with_parameterised_threshold_and_email(
    prod: Deployment, dev: Deployment, pr: Deployment
) -> None:
    budgets = prod.of_type("AWS::Budgets::Budget")
    assert len(budgets) == 1
    ((_, budget),) = budgets.items()
    limit = budget["Properties"]["Budget"]["BudgetLimit"]
    assert limit == {"Amount": prod.parameters["MonthlyBudgetUsd"], "Unit": "USD"}
    subscribers = [
        s for n in budget["Properties"]["NotificationsWithSubscribers"] for s in n["Subscribers"]
    ]
    assert subscribers
    assert all(s["Address"] == {"Ref": "AlarmTopic"} for s in subscribers)
    (subscription,) = prod.of_type("AWS::SNS::Subscription").values()
    assert (
        subscription["Properties"]["Endpoint"] == prod.parameters["AlarmEmail"] == "ops@example.com"
    )
    # The plan's AWS/Billing metric only exists in us-east-1 with billing alerts enabled.
    for alarm in prod.of_type("AWS::CloudWatch::Alarm").values():
        assert alarm["Properties"].get("Namespace") != "AWS/Billing"
    assert not dev.of_type("AWS::Budgets::Budget")
    assert not pr.of_type("AWS::Budgets::Budget")


def test_dashboard_url_ends_in_a_slash_so_relative_assets_stay_inside_the_stage() -> None:
    """Without CloudFront the dashboard is served by the API stage: on `.../pr-42` the page's
    relative `app.js` and `api/...` would resolve to `/app.js`, outside the stage."""
    value = load_template()["Outputs"]["DashboardUrl"]["Value"]["Fn::If"]
    for branch in value[1:]:
        assert branch["Fn::Sub"].endswith("/"), branch


# -- issue 14: notifications that reach someone, and a dashboard per environment -------------
def _dashboard_widgets(deployment: Deployment) -> list[dict[str, Any]]:
    body = deployment.props("MonitoringDashboard")["DashboardBody"]
    text = substitute(
        body,
        deployment.parameters,
        {"HttpApi": "abc123", "AudioBucket": "audio-bucket"},
    )
    widgets: list[dict[str, Any]] = json.loads(text)["widgets"]
    return widgets


def _dashboard_metrics(deployment: Deployment) -> set[tuple[str, str]]:
    """(namespace, metric) of every metric widget line, following CloudWatch's "." shorthand."""
    found: set[tuple[str, str]] = set()
    for widget in _dashboard_widgets(deployment):
        previous: list[Any] = []
        for line in widget["properties"].get("metrics", []):
            names = [item for item in line if not isinstance(item, dict)]
            if names == ["..."]:
                names = list(previous)
            else:
                names = [previous[i] if n == "." else n for i, n in enumerate(names)]
            found.add((names[0], names[1]))
            previous = names
    return found


def test_every_environment_has_a_cloudwatch_dashboard_named_by_the_environments_module(
    deployments: dict[str, Deployment],
) -> None:
    for env in ("prod", "dev", "pr-42"):
        deployment = deployments[env]
        (dashboard,) = deployment.of_type("AWS::CloudWatch::Dashboard").values()
        name = substitute(dashboard["Properties"]["DashboardName"], deployment.parameters)
        assert name == environments.cloudwatch_dashboard_name(env)
        for widget in _dashboard_widgets(deployment):
            assert widget["properties"]["region"] == "eu-west-2"


def test_prod_dashboard_shows_every_metric_the_plan_lists(prod: Deployment) -> None:
    metrics = _dashboard_metrics(prod)
    assert {
        ("AWS/Lambda", "Invocations"),
        ("AWS/Lambda", "Errors"),
        ("AWS/Lambda", "Duration"),
        ("AWS/ApiGateway", "Count"),
        ("AWS/ApiGateway", "4xx"),
        ("AWS/ApiGateway", "5xx"),
        ("AWS/ApiGateway", "Latency"),
        ("AWS/DynamoDB", "ReadThrottleEvents"),
        ("AWS/DynamoDB", "WriteThrottleEvents"),
        ("AWS/DynamoDB", "ConsumedReadCapacityUnits"),
        ("AWS/ECS", "CPUUtilization"),
        ("AWS/ECS", "MemoryUtilization"),
        ("AWS/S3", "GetRequests"),
        ("AWS/S3", "BytesDownloaded"),
    } <= metrics
    queries = [w["properties"]["query"] for w in _dashboard_widgets(prod) if w["type"] == "log"]
    assert any(
        environments.api_log_group_name("prod") in q and "initDurationMs" in q for q in queries
    ), "no cold-start widget over the API's log group"
    # S3 request metrics exist only with a metrics configuration named like the widget's filter.
    (config,) = prod.props("AudioBucket")["MetricsConfigurations"]
    assert config == {"Id": "EntireBucket"}


def test_dev_and_pr_dashboards_are_reduced_to_the_api(dev: Deployment, pr: Deployment) -> None:
    for deployment in (dev, pr):
        namespaces = {namespace for namespace, _ in _dashboard_metrics(deployment)}
        assert namespaces == {"AWS/Lambda", "AWS/ApiGateway"}
        # No billed S3 request metrics outside prod.
        assert "MetricsConfigurations" not in deployment.props("AudioBucket")


def test_every_alarm_notifies_a_topic_with_an_email_subscription(prod: Deployment) -> None:
    subscribed = {
        s["Properties"]["TopicArn"]["Ref"]
        for s in prod.of_type("AWS::SNS::Subscription").values()
        if s["Properties"]["Protocol"] == "email"
        and s["Properties"]["Endpoint"] == prod.parameters["AlarmEmail"]
    }
    alarms = prod.of_type("AWS::CloudWatch::Alarm")
    assert len(alarms) == 4
    for logical_id, alarm in alarms.items():
        actions = alarm["Properties"]["AlarmActions"]
        assert actions, logical_id
        assert all(action.get("Ref") in subscribed for action in actions), logical_id


def test_no_subscription_without_an_alarm_email() -> None:
    parameters = sample_parameters("prod", alarm_email="")
    resources = active_resources(expand(parameters), parameters)
    assert not [r for r in resources.values() if r["Type"] == "AWS::SNS::Subscription"]


def test_prod_budget_covers_only_the_apps_tagged_resources(prod: Deployment) -> None:
    (budget,) = prod.of_type("AWS::Budgets::Budget").values()
    filters = budget["Properties"]["Budget"]["CostFilters"]
    assert filters == {"TagKeyValue": [environments.budget_cost_filter()]}
    # The tag the filter names is one CloudFormation really puts on every resource.
    key, value = environments.budget_cost_filter().removeprefix("user:").split("$")
    assert environments.stack_tags("prod")[key] == value
