"""The pipeline's one CloudFormation evaluator (cloudformation.py), which the emulator deploy and
tests/support both use: where the two former copies disagreed, what CloudFormation does wins.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.support.sam_template import substitute
from yoto_smart_stream_ci import cloudformation, emulator, lint
from yoto_smart_stream_ci.aws import AwsTarget
from yoto_smart_stream_ci.cloudformation import TemplateError

BASIC_EXECUTION = "iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"
SAM_FUNCTION = {
    "Transform": "AWS::Serverless-2016-10-31",
    "Resources": {
        "Fn": {
            "Type": "AWS::Serverless::Function",
            "Properties": {
                "Runtime": "python3.13",
                "Handler": "index.handler",
                "InlineCode": "def handler(event, context):\n    return None\n",
            },
        }
    },
}


def _retained(
    condition: dict[str, Any], parameters: dict[str, Any] | None = None
) -> dict[str, Any]:
    """A table whose DeletionPolicy follows ``condition``."""
    return {
        "Parameters": parameters or {},
        "Conditions": {"Retain": condition},
        "Resources": {
            "Table": {
                "Type": "AWS::DynamoDB::Table",
                "DeletionPolicy": {"Fn::If": ["Retain", "Retain", "Delete"]},
                "Properties": {},
            }
        },
    }


def _role_policies(expanded: dict[str, Any]) -> list[str]:
    return list(expanded["Resources"]["FnRole"]["Properties"]["ManagedPolicyArns"])


def test_the_transform_runs_in_the_target_region_not_the_shell_one(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # The copy in emulator.py set boto3's default session, which samtranslator never reads:
    # it took the region from the environment, so a shell without one failed with
    # NoRegionFound and another region's partition won over the target's.
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    for name in ("AWS_REGION", "AWS_DEFAULT_REGION", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    london = AwsTarget(region="eu-west-2", endpoint_url=None, emulated=True)
    expanded = emulator.expand_transform(SAM_FUNCTION, {}, london)
    assert _role_policies(expanded) == [f"arn:aws:{BASIC_EXECUTION}"]

    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-2")
    beijing = AwsTarget(region="cn-north-1", endpoint_url=None, emulated=True)
    expanded = emulator.expand_transform(SAM_FUNCTION, {}, beijing)
    assert _role_policies(expanded) == [f"arn:aws-cn:{BASIC_EXECUTION}"]
    assert "Transform" in SAM_FUNCTION  # the caller's template is left as it was


@pytest.mark.parametrize(
    ("condition", "parameters", "named"),
    [
        # A parameter with neither a value nor a Default (CloudFormation refuses the stack).
        ({"Fn::Equals": [{"Ref": "RetainData"}, "true"]}, {"RetainData": {"Type": "String"}}, "RetainData"),
        # A pseudo parameter nobody gave a value for.
        ({"Fn::Equals": [{"Ref": "AWS::Region"}, "eu-west-2"]}, {}, "AWS::Region"),
    ],
)  # fmt: skip
def test_a_policy_over_an_unknown_value_is_refused_not_guessed(
    condition: dict[str, Any], parameters: dict[str, Any], named: str
) -> None:
    # The emulator's copy read such a value as None and chose Delete for the data.
    template = _retained(condition, parameters)
    with pytest.raises(TemplateError, match=f"{named}.*\\.$"):
        emulator.resolve_policies(template, {})
    assert template["Resources"]["Table"]["DeletionPolicy"] == {
        "Fn::If": ["Retain", "Retain", "Delete"]
    }


def test_pseudo_parameters_count_when_given() -> None:
    template = _retained({"Fn::Equals": [{"Ref": "AWS::Region"}, "eu-west-2"]})
    resolved = emulator.resolve_policies(template, {"AWS::Region": "eu-west-2"})
    assert resolved["Resources"]["Table"]["DeletionPolicy"] == "Retain"


def test_policies_resolve_all_the_way_down() -> None:
    # The emulator's copy replaced only the outer Fn::If, leaving a Ref moto cannot read.
    template = _retained(
        {"Fn::Equals": [{"Ref": "Env"}, "prod"]},
        {"Env": {"Type": "String"}, "ProdPolicy": {"Type": "String", "Default": "Snapshot"}},
    )
    resource = template["Resources"]["Table"]
    resource["DeletionPolicy"] = {"Fn::If": ["Retain", {"Ref": "ProdPolicy"}, "Delete"]}
    resource["UpdateReplacePolicy"] = {"Fn::If": ["Retain", "Retain", {"Ref": "AWS::NoValue"}]}

    prod = emulator.resolve_policies(template, {"Env": "prod"})["Resources"]["Table"]
    assert (prod["DeletionPolicy"], prod["UpdateReplacePolicy"]) == ("Snapshot", "Retain")
    resource["DeletionPolicy"] = {"Fn::If": ["Retain", {"Ref": "ProdPolicy"}, "Delete"]}
    resource["UpdateReplacePolicy"] = {"Fn::If": ["Retain", "Retain", {"Ref": "AWS::NoValue"}]}
    dev = emulator.resolve_policies(template, {"Env": "dev"})["Resources"]["Table"]
    assert dev["DeletionPolicy"] == "Delete"
    assert "UpdateReplacePolicy" not in dev


def test_sub_takes_its_variables_then_the_values_given_then_the_lookup() -> None:
    values = {"Env": "pr-42", **cloudformation.pseudo_parameters("123456789012", "eu-west-2")}
    sub = cloudformation.substitute
    assert sub("arn:${AWS::Partition}:s3:::yoto-${Env}", values) == "arn:aws:s3:::yoto-pr-42"
    # The list form's variables win over a parameter of the same name, as in CloudFormation.
    assert sub(["${Env}/${Name}", {"Env": "mine", "Name": "x"}], values) == "mine/x"
    assert sub("${Api.Arn} in ${Env}", values, lambda name: f"<{name}>") == "<Api.Arn> in pr-42"
    assert cloudformation.pseudo_parameters("1", "cn-north-1", "aws-cn")["AWS::URLSuffix"] == (
        "amazonaws.com.cn"
    )


def test_sub_escapes_and_list_form_mean_the_same_in_the_tests_helper() -> None:
    # The tests' former copy left ${!Literal} as it stood and could not read the list form.
    assert substitute({"Fn::Sub": "${Environment}/${!aws:userid}"}, {"Environment": "dev"}) == (
        "dev/${aws:userid}"
    )
    assert substitute({"Fn::Sub": ["${A}-${AWS::Region}", {"A": "a"}]}, {}) == "a-eu-west-2"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ("${Nope}", "Fn::Sub names Nope, for which no value is given"),
        (["${A}"], "takes a string or \\[string, variables\\]"),
        ({"Ref": "A"}, "takes a string or"),
    ],
)
def test_a_sub_that_cannot_be_evaluated_is_refused_with_a_sentence(args: Any, message: str) -> None:
    with pytest.raises(TemplateError, match=message):
        cloudformation.substitute(args, {})


@pytest.mark.parametrize(
    ("conditions", "message"),
    [
        # Two functions in one expression: the emulator's copy read the first and dropped the rest.
        ({"C": {"Fn::Equals": ["a", "a"], "Fn::Not": [{"Fn::Equals": ["a", "a"]}]}}, "must be one intrinsic function"),
        # A function conditions cannot compare here: the tests' copy compared its text.
        ({"C": {"Fn::Equals": [{"Fn::Select": [0, ["a"]]}, "a"]}}, "compares Fn::Select"),
        ({"C": {"Fn::If": ["D", "a", "b"]}, "D": {"Fn::Equals": ["a", "a"]}}, "uses Fn::If"),
        ({"C": {"Condition": "Missing"}}, "names condition Missing"),
        # Both copies recursed until Python gave up.
        ({"C": {"Condition": "D"}, "D": {"Fn::Not": [{"Condition": "C"}]}}, "in a circle: C -> D -> C"),
        ({"C": {"Fn::Equals": ["a"]}}, "takes two values"),
    ],
)  # fmt: skip
def test_conditions_cloudformation_refuses_are_refused_with_a_sentence(
    conditions: dict[str, Any], message: str
) -> None:
    with pytest.raises(TemplateError, match=message) as refused:
        cloudformation.evaluate_conditions({"Conditions": conditions}, {})
    assert str(refused.value).endswith(".")
    assert "\n" not in str(refused.value)


def test_conditions_combine_and_compare_as_text() -> None:
    template = {
        "Parameters": {"Days": {"Type": "Number", "Default": 0}, "Email": {"Type": "String"}},
        "Conditions": {
            "Expires": {"Fn::Not": [{"Fn::Equals": [{"Ref": "Days"}, 0]}]},
            "Mail": {"Fn::And": [{"Condition": "Expires"}, {"Fn::Not": [{"Fn::Equals": [{"Ref": "Email"}, ""]}]}]},
            "Either": {"Fn::Or": [{"Condition": "Mail"}, {"Fn::Equals": [{"Ref": "Days"}, "0"]}]},
        },
    }  # fmt: skip
    assert cloudformation.evaluate_conditions(template, {"Email": ""}) == {
        "Expires": False,
        "Mail": False,
        "Either": True,
    }
    assert cloudformation.evaluate_conditions(template, {"Days": "7", "Email": "a@b"}) == {
        "Expires": True,
        "Mail": True,
        "Either": True,
    }


def test_a_key_written_twice_keeps_its_last_value_and_the_lint_gate_reports_it(
    tmp_path: Path,
) -> None:
    # The tests' copy (cfn-lint's decoder) refused the template; CloudFormation deploys it
    # with the last value, so that is what the one loader reads, and cfn-lint, which the
    # lint gate runs, is where the mistake is reported.
    path = tmp_path / "twice.yaml"
    path.write_text(
        "Resources:\n"
        "  Topic:\n"
        "    Type: AWS::SNS::Topic\n"
        "    Properties:\n"
        "      TopicName: first\n"
        "      TopicName: second\n"
    )
    template = cloudformation.load_template(path)
    assert template["Resources"]["Topic"]["Properties"] == {"TopicName": "second"}
    cfn_lint = dict(lint.LINTERS)["cfn-lint"][0]
    linted = subprocess.run(
        [str(Path(sys.executable).parent / cfn_lint), str(path)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert linted.returncode != 0
    assert "Duplicate found" in linted.stdout + linted.stderr


def test_short_forms_load_as_long_forms_and_bad_yaml_is_one_sentence(tmp_path: Path) -> None:
    path = tmp_path / "template.yaml"
    path.write_text(
        "Conditions:\n  Prod: !Equals [!Ref Env, prod]\n"
        "Resources:\n  B:\n    Type: AWS::S3::Bucket\n"
        "    Properties:\n      BucketName: !Sub '${Env}-b'\n"
        "      Arn: !GetAtt Other.Arn\n"
    )
    template = cloudformation.load_template(path)
    assert template["Conditions"]["Prod"] == {"Fn::Equals": [{"Ref": "Env"}, "prod"]}
    assert template["Resources"]["B"]["Properties"]["Arn"] == {"Fn::GetAtt": ["Other", "Arn"]}

    path.write_text("Resources:\n  B: [unclosed\n")
    with pytest.raises(TemplateError) as refused:
        cloudformation.load_template(path)
    assert str(refused.value).startswith(f"{path} is not a readable template: ")
    assert "\n" not in str(refused.value)
    path.write_text("- a list\n")
    with pytest.raises(TemplateError, match="not a mapping"):
        cloudformation.load_template(path)
