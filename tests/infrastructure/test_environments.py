"""Each environment deploys what its settings in environments.py say, and nothing else."""

from __future__ import annotations

from collections import Counter

import pytest

from tests.infrastructure.conftest import Deployment
from tests.support.sam_template import sample_parameters, substitute
from tests.support.template import load_template
from yoto_smart_stream_ci import environments

ALWAYS = {
    "AWS::DynamoDB::Table": 1,
    "AWS::S3::Bucket": 2,
    "AWS::S3::BucketPolicy": 2,
    "AWS::Lambda::Function": 1,
    "AWS::IAM::Role": 3,  # API function, MQTT execution, MQTT task
    "AWS::Lambda::Permission": 1,
    "AWS::Logs::LogGroup": 2,  # API, MQTT
    "AWS::ApiGatewayV2::Api": 1,
    "AWS::ApiGatewayV2::Integration": 1,
    "AWS::ApiGatewayV2::Route": 1,
    "AWS::ApiGatewayV2::Stage": 1,
    "AWS::EC2::SecurityGroup": 1,
    "AWS::ECS::Cluster": 1,
    "AWS::ECS::TaskDefinition": 1,
    "AWS::ECS::Service": 1,
    "AWS::CloudWatch::Dashboard": 1,
}
CLOUDFRONT = {"AWS::CloudFront::Distribution": 1, "AWS::CloudFront::OriginAccessControl": 1}
ALARMS = {
    "AWS::SNS::Topic": 1,
    "AWS::SNS::TopicPolicy": 1,
    "AWS::SNS::Subscription": 1,
    "AWS::CloudWatch::Alarm": 4,
    "AWS::Budgets::Budget": 1,
}
EXPECTED_TYPES = {
    "prod": {**ALWAYS, **CLOUDFRONT, **ALARMS},
    "dev": ALWAYS,
    "pr-42": {**ALWAYS, **CLOUDFRONT},
    "pr-42-no-cloudfront": ALWAYS,
}


@pytest.mark.parametrize("case", list(EXPECTED_TYPES))
def test_sam_expansion_yields_the_expected_resources(
    deployments: dict[str, Deployment], case: str
) -> None:
    deployment = deployments[case]
    assert not [
        r
        for r in deployment.template["Resources"].values()
        if r["Type"].startswith("AWS::Serverless::")
    ]
    counts = Counter(r["Type"] for r in deployment.resources.values())
    assert dict(counts) == EXPECTED_TYPES[case]


def test_prod_keeps_its_data_and_is_watched(prod: Deployment) -> None:
    for logical_id in ("Table", "AudioBucket"):
        assert prod.resources[logical_id]["DeletionPolicy"] == "Retain"
        assert prod.resources[logical_id]["UpdateReplacePolicy"] == "Retain"
    table = prod.props("Table")
    assert table["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
    assert table["DeletionProtectionEnabled"] is True
    assert prod.props("AudioBucket")["VersioningConfiguration"] == {"Status": "Enabled"}
    assert prod.props("ApiLogGroup")["RetentionInDays"] == "30"
    alarm_names = {
        substitute(a["Properties"]["AlarmName"], prod.parameters)
        for a in prod.of_type("AWS::CloudWatch::Alarm").values()
    }
    assert alarm_names == {
        "yoto-smart-stream-prod-lambda-error-rate",
        "yoto-smart-stream-prod-api-5xx-rate",
        "yoto-smart-stream-prod-dynamodb-throttles",
        "yoto-smart-stream-prod-mqtt-task-stopped",
    }
    for alarm in prod.of_type("AWS::CloudWatch::Alarm").values():
        assert alarm["Properties"]["AlarmActions"] == [{"Ref": "AlarmTopic"}]
    assert prod.props("LambdaErrorRateAlarm")["Threshold"] == 5
    assert prod.props("Api5xxRateAlarm")["Threshold"] == 1
    subnets = prod.props("MqttService")["NetworkConfiguration"]["AwsvpcConfiguration"]["Subnets"]
    assert len(subnets) == 2  # two availability zones


@pytest.mark.parametrize("case", ["dev", "pr-42", "pr-42-no-cloudfront"])
def test_non_prod_environments_are_fully_deletable(
    deployments: dict[str, Deployment], case: str
) -> None:
    deployment = deployments[case]
    retained = [
        lid
        for lid, r in deployment.resources.items()
        if "Retain" in (r.get("DeletionPolicy"), r.get("UpdateReplacePolicy"))
    ]
    # Task definition revisions hold no data and run nothing; they are retained so that no
    # deploy role needs ecs:DeregisterTaskDefinition (test_preview_isolation.py).
    assert retained == ["MqttTaskDefinition"]
    assert deployment.props("Table")["DeletionProtectionEnabled"] is False
    assert deployment.props("Table")["PointInTimeRecoverySpecification"] == {
        "PointInTimeRecoveryEnabled": False
    }
    assert "VersioningConfiguration" not in deployment.props("AudioBucket")
    subnets = deployment.props("MqttService")["NetworkConfiguration"]["AwsvpcConfiguration"][
        "Subnets"
    ]
    assert len(subnets) == 1  # single AZ


def test_dev_has_no_cloudfront_and_seven_day_logs(dev: Deployment) -> None:
    assert dev.props("ApiLogGroup")["RetentionInDays"] == "7"
    assert dev.props("MqttLogGroup")["RetentionInDays"] == "7"
    # Without CloudFront the app's public URL is the API stage.
    public_url = dev.props("ApiFunction")["Environment"]["Variables"]["PUBLIC_URL"]
    assert public_url == {
        "Fn::Sub": "https://${HttpApi}.execute-api.${AWS::Region}.${AWS::URLSuffix}/${Environment}"
    }


def test_pr_audio_expires_and_logs_are_short_lived(pr: Deployment) -> None:
    rules = {r["Id"]: r for r in pr.props("AudioBucket")["LifecycleConfiguration"]["Rules"]}
    assert rules["expire-audio"]["ExpirationInDays"] == "7"
    assert 3 <= int(pr.props("ApiLogGroup")["RetentionInDays"]) <= 7
    assert pr.props("Distribution")["DistributionConfig"]["Enabled"] is True
    public_url = pr.props("ApiFunction")["Environment"]["Variables"]["PUBLIC_URL"]
    assert public_url == {"Fn::Sub": "https://${Distribution.DomainName}"}


@pytest.mark.parametrize("env", ["prod", "dev", "pr-42"])
def test_template_names_match_the_environments_module(
    deployments: dict[str, Deployment], env: str
) -> None:
    """The template derives names with !Sub; they must equal environments.py's."""
    deployment = deployments[env]
    params = deployment.parameters

    def name(logical_id: str, prop: str) -> str:
        return substitute(deployment.props(logical_id)[prop], params)

    account, region = "123456789012", "eu-west-2"
    assert name("Table", "TableName") == environments.table_name(env)
    assert name("AudioBucket", "BucketName") == environments.audio_bucket_name(env, account, region)
    assert name("DashboardBucket", "BucketName") == environments.dashboard_bucket_name(
        env, account, region
    )
    assert name("ApiFunction", "FunctionName") == environments.api_function_name(env)
    assert name("MqttCluster", "ClusterName") == environments.ecs_cluster_name(env)
    assert name("MqttService", "ServiceName") == environments.ecs_service_name(env)
    assert name("MqttLogGroup", "LogGroupName") == environments.mqtt_log_group_name(env)
    assert name("MonitoringDashboard", "DashboardName") == (
        environments.cloudwatch_dashboard_name(env)
    )
    variables = deployment.props("ApiFunction")["Environment"]["Variables"]
    assert substitute(variables["SESSION_SIGNING_KEY_PARAMETER"], params) == (
        environments.session_key_parameter(env)
    )
    assert substitute(variables["ADMIN_BOOTSTRAP_PASSWORD_PARAMETER"], params) == (
        environments.admin_password_parameter(env)
    )


def test_template_parameters_cover_exactly_the_template_parameters() -> None:
    declared = load_template()["Parameters"]
    for env in ("prod", "dev", "pr-42"):
        parameters = sample_parameters(env)
        assert set(parameters) == set(declared)
        for key, value in parameters.items():
            allowed = declared[key].get("AllowedValues")
            if allowed is not None:
                assert value in [str(a) for a in allowed], (key, value)


def test_template_environment_pattern_is_the_modules() -> None:
    assert (
        load_template()["Parameters"]["Environment"]["AllowedPattern"] == environments.ENV_PATTERN
    )


def test_settings_reach_the_template_parameters() -> None:
    for env in ("prod", "dev", "pr-42"):
        settings = environments.settings_for(env)
        parameters = sample_parameters(env)
        assert parameters["EnableMqtt"] == str(settings.mqtt_enabled).lower()
        assert parameters["EnableCloudFront"] == str(settings.cloudfront_enabled).lower()
        assert parameters["EnableAlarms"] == str(settings.alarms_enabled).lower()
        assert parameters["RetainData"] == str(settings.retain_data).lower()
        assert parameters["MultiAz"] == str(settings.multi_az).lower()
        assert parameters["LogRetentionDays"] == str(settings.log_retention_days)
    assert sample_parameters("pr-42", cloudfront=False)["EnableCloudFront"] == "false"
    with pytest.raises(environments.EnvironmentNameError):
        sample_parameters("prod", cloudfront=False)
    with pytest.raises(environments.EnvironmentNameError):
        sample_parameters("staging")


def test_parameter_overrides_round_trip_through_sam_cli() -> None:
    """sam deploy must read back exactly the values, including empty and quoted ones."""
    from samcli.cli.types import CfnParameterOverridesType

    parameters = sample_parameters(
        "pr-42", git_commit="", yoto_client_id='id with "quotes" and spaces'
    )
    items = environments.parameter_overrides(parameters)
    parsed = CfnParameterOverridesType().convert(tuple(items), None, None)
    assert parsed == parameters


def test_parameter_values_have_one_source() -> None:
    """The plan's parameters/*.json (CloudFormation-CLI format, ignored by sam deploy) and a
    hand-written samconfig.toml would be second sources next to environments.py."""
    from tests.support.template import REPO_ROOT

    assert not (REPO_ROOT / "infrastructure" / "parameters").exists()
    assert not list(REPO_ROOT.glob("samconfig.*"))
    assert not list((REPO_ROOT / "infrastructure").glob("samconfig.*"))
