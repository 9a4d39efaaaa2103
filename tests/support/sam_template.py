"""The environment template as CloudFormation would see it for one environment.

``expand`` runs the SAM transform with samtranslator (the library CloudFormation uses);
``active_resources`` and ``resolve`` then apply the template's Conditions, ``Fn::If`` and
parameter ``Ref``s for one environment's parameter values, so tests assert on what that
environment really deploys rather than on the template text.
"""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any

from tests.support.moto_server import TEST_ACCOUNT_ID, TEST_REGION
from tests.support.template import REPO_ROOT, TEMPLATE_PATH, load_template
from yoto_smart_stream_ci import environments

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


class _NoValue:
    """``Ref: AWS::NoValue``: the property or list item disappears."""


NO_VALUE = _NoValue()


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
    import boto3
    from samtranslator.parser.parser import Parser
    from samtranslator.translator.translator import Translator

    template = copy.deepcopy(load_template(path))
    for resource in template["Resources"].values():
        if resource["Type"] == "AWS::Serverless::Function":
            resource["Properties"]["CodeUri"] = PACKAGED_CODE_URI
    # An explicit session: samtranslator otherwise reads the region from the process env.
    translator = Translator(
        None, Parser(), boto_session=boto3.session.Session(region_name=TEST_REGION)
    )
    return dict(
        translator.translate(
            template, parameter_values=dict(parameters), get_managed_policy_map=_no_managed_policies
        )
    )


def evaluate_conditions(template: dict[str, Any], parameters: dict[str, str]) -> dict[str, bool]:
    conditions: dict[str, Any] = template.get("Conditions", {})
    values: dict[str, bool] = {}

    def scalar(value: Any) -> str:
        if isinstance(value, dict) and set(value) == {"Ref"}:
            return str(parameter_value(template, parameters, value["Ref"]))
        return str(value)

    def evaluate(expression: Any) -> bool:
        ((function, args),) = expression.items()
        if function == "Fn::Equals":
            return scalar(args[0]) == scalar(args[1])
        if function == "Fn::Not":
            return not evaluate(args[0])
        if function == "Fn::And":
            return all(evaluate(a) for a in args)
        if function == "Fn::Or":
            return any(evaluate(a) for a in args)
        if function == "Condition":
            return condition(args)
        raise ValueError(f"Unsupported condition function {function}")

    def condition(name: str) -> bool:
        if name not in values:
            values[name] = evaluate(conditions[name])
        return values[name]

    for name in conditions:
        condition(name)
    return values


def parameter_value(template: dict[str, Any], parameters: dict[str, str], name: str) -> Any:
    if name in parameters:
        return parameters[name]
    declared = template.get("Parameters", {}).get(name)
    if declared is None or "Default" not in declared:
        raise KeyError(f"No value for parameter {name}")
    return declared["Default"]


def resolve(value: Any, template: dict[str, Any], parameters: dict[str, str]) -> Any:
    """Apply ``Fn::If``, ``AWS::NoValue`` and parameter ``Ref``s; leave other intrinsics."""
    conditions = evaluate_conditions(template, parameters)
    declared = template.get("Parameters", {})

    def walk(node: Any) -> Any:
        if isinstance(node, dict):
            if set(node) == {"Fn::If"}:
                name, when_true, when_false = node["Fn::If"]
                return walk(when_true if conditions[name] else when_false)
            if set(node) == {"Ref"} and node["Ref"] == "AWS::NoValue":
                return NO_VALUE
            if set(node) == {"Ref"} and node["Ref"] in declared:
                return parameter_value(template, parameters, node["Ref"])
            out = {k: walk(v) for k, v in node.items()}
            return {k: v for k, v in out.items() if v is not NO_VALUE}
        if isinstance(node, list):
            return [v for v in (walk(item) for item in node) if v is not NO_VALUE]
        return node

    return walk(value)


def active_resources(template: dict[str, Any], parameters: dict[str, str]) -> dict[str, Any]:
    """The resources one environment creates, with Fn::If and parameter Refs resolved."""
    conditions = evaluate_conditions(template, parameters)
    return {
        logical_id: resolve(resource, template, parameters)
        for logical_id, resource in template["Resources"].items()
        if conditions.get(resource.get("Condition", ""), True)
    }


def active_outputs(template: dict[str, Any], parameters: dict[str, str]) -> dict[str, Any]:
    conditions = evaluate_conditions(template, parameters)
    return {
        name: resolve(output, template, parameters)
        for name, output in template.get("Outputs", {}).items()
        if conditions.get(output.get("Condition", ""), True)
    }


def substitute(
    value: Any, parameters: dict[str, str], attributes: dict[str, str] | None = None
) -> str:
    """The string a ``Fn::Sub`` yields in the test account, given parameter values and, for
    references to resources (``HttpApi``, ``Distribution.DomainName``), ``attributes``."""
    text = value["Fn::Sub"] if isinstance(value, dict) else value
    known = {
        **(attributes or {}),
        **parameters,
        "AWS::AccountId": TEST_ACCOUNT_ID,
        "AWS::Region": TEST_REGION,
        "AWS::Partition": "aws",
        "AWS::URLSuffix": "amazonaws.com",
    }
    return re.sub(r"\$\{([\w:.]+)\}", lambda m: known[m[1]], text)


def deployed(env: str, **overrides: Any) -> dict[str, Any]:
    """``env``'s active resources after the SAM transform."""
    parameters = sample_parameters(env, **overrides)
    return active_resources(expand(parameters), parameters)
