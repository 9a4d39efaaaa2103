"""The environment template as CloudFormation would see it for one environment.

``expand`` runs the pipeline's SAM transform (``cloudformation.sam_transform``) on the template
as ``sam package`` leaves it; ``active_resources`` and ``active_outputs`` then apply the
template's Conditions, ``Fn::If`` and parameter ``Ref``s for one environment's parameter values
with the pipeline's own evaluator, so tests assert on what that environment really deploys
rather than on the template text.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.support.moto_server import TEST_ACCOUNT_ID, TEST_REGION
from tests.support.template import REPO_ROOT, TEMPLATE_PATH, load_template
from yoto_smart_stream_ci import cloudformation, environments

NETWORK_TEMPLATE_PATH = REPO_ROOT / "infrastructure" / "network" / "template.yaml"
# What `sam package` puts in CodeUri; samtranslator accepts only an S3 location.
PACKAGED_CODE_BUCKET = environments.artifact_bucket_name(TEST_ACCOUNT_ID, TEST_REGION)
PACKAGED_CODE_KEY = "pr-42/api.zip"
PACKAGED_CODE_URI = f"s3://{PACKAGED_CODE_BUCKET}/{PACKAGED_CODE_KEY}"
SAMPLE_REGISTRY = f"{TEST_ACCOUNT_ID}.dkr.ecr.{TEST_REGION}.amazonaws.com"


def sample_image(env: str) -> str:
    """An image pinned by digest in ``env``'s repository (template_parameters checks)."""
    return f"{SAMPLE_REGISTRY}/{environments.ecr_repository(env)}@sha256:" + "ab" * 32


ENV_CASES = ("prod", "dev", "pr-42")


def sample_parameters(env: str, **overrides: Any) -> dict[str, str]:
    kwargs: dict[str, Any] = {
        "mqtt_image_uri": sample_image(env),
        "yoto_client_id": "yoto-public-client-id",
        "git_commit": "0123456789abcdef",
        "alarm_email": "ops@example.com",
    }
    kwargs.update(overrides)
    return environments.template_parameters(env, **kwargs)


def _no_managed_policies() -> dict[str, str]:
    """samtranslator asks IAM for AWS managed policy ARNs only when a function names one by
    its short name; this template uses inline statements, so there is nothing to look up."""
    return {}


def expand(parameters: dict[str, str], path: Path = TEMPLATE_PATH) -> dict[str, Any]:
    """The template after the SAM transform, as the packaged template would expand."""
    template = load_template(path)
    for resource in template["Resources"].values():
        if resource["Type"] == "AWS::Serverless::Function":
            resource["Properties"]["CodeUri"] = PACKAGED_CODE_URI
    return cloudformation.sam_transform(
        template, parameters, region=TEST_REGION, managed_policies=_no_managed_policies
    )


def active_resources(template: dict[str, Any], parameters: dict[str, str]) -> dict[str, Any]:
    """The resources one environment creates, with Fn::If and parameter Refs resolved."""
    conditions = cloudformation.evaluate_conditions(template, parameters)
    return {
        logical_id: cloudformation.resolve(resource, template, parameters, conditions)
        for logical_id, resource in template["Resources"].items()
        if conditions.get(resource.get("Condition", ""), True)
    }


def active_outputs(template: dict[str, Any], parameters: dict[str, str]) -> dict[str, Any]:
    conditions = cloudformation.evaluate_conditions(template, parameters)
    return {
        name: cloudformation.resolve(output, template, parameters, conditions)
        for name, output in template.get("Outputs", {}).items()
        if conditions.get(output.get("Condition", ""), True)
    }


def substitute(
    value: Any, parameters: dict[str, str], attributes: dict[str, str] | None = None
) -> str:
    """The string a ``Fn::Sub`` yields in the test account, given parameter values and, for
    references to resources (``HttpApi``, ``Distribution.DomainName``), ``attributes``."""
    known = {
        **(attributes or {}),
        **parameters,
        **cloudformation.pseudo_parameters(TEST_ACCOUNT_ID, TEST_REGION),
    }
    return cloudformation.substitute(value["Fn::Sub"] if isinstance(value, dict) else value, known)


def deployed(env: str, **overrides: Any) -> dict[str, Any]:
    """``env``'s active resources after the SAM transform."""
    parameters = sample_parameters(env, **overrides)
    return active_resources(expand(parameters), parameters)
