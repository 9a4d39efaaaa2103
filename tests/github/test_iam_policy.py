"""The offline IAM evaluator's policy variables: substituted from the request context, always
literal, and matching nothing when the context has no value."""

from __future__ import annotations

import pytest

from tests.support.iam_policy import Request, Resolver, is_allowed
from yoto_smart_stream_ci.cloudformation import TemplateError

DENY_OTHER_SESSIONS = {
    "Effect": "Deny",
    "Action": "*",
    "Resource": "*",
    "Condition": {
        "StringLike": {"aws:ResourceTag/Environment": "pr-*"},
        "StringNotLike": {"aws:userid": "*:${aws:ResourceTag/Environment}"},
    },
}
ALLOW = {"Effect": "Allow", "Action": "ssm:GetParameter", "Resource": "*"}


def test_a_variable_takes_its_value_from_the_request_context() -> None:
    own = {"aws:userid": "AROAX:pr-7", "aws:ResourceTag/Environment": "pr-7"}
    other = {"aws:userid": "AROAX:pr-42", "aws:ResourceTag/Environment": "pr-7"}
    longer = {"aws:userid": "AROAX:pr-17", "aws:ResourceTag/Environment": "pr-7"}
    statements = [ALLOW, DENY_OTHER_SESSIONS]
    assert is_allowed(statements, Request("ssm:GetParameter", "arn:aws:ssm:r:1:parameter/x", own))
    assert not is_allowed(statements, Request("ssm:GetParameter", "*", other))
    assert not is_allowed(statements, Request("ssm:GetParameter", "*", longer))


def test_a_variables_value_is_literal_even_with_wildcard_characters() -> None:
    statement = {**ALLOW, "Condition": {"StringLike": {"aws:userid": "*:${aws:PrincipalTag/n}"}}}
    starred = {"aws:userid": "AROAX:pr-7", "aws:PrincipalTag/n": "*"}
    assert not is_allowed([statement], Request("ssm:GetParameter", "*", starred))
    literal = {**ALLOW, "Condition": {"StringEquals": {"aws:userid": "a${*}b"}}}
    assert is_allowed([literal], Request("ssm:GetParameter", "*", {"aws:userid": "a*b"}))
    assert not is_allowed([literal], Request("ssm:GetParameter", "*", {"aws:userid": "axb"}))


def test_an_unresolved_variable_matches_nothing_unless_it_has_a_default() -> None:
    statement = {**ALLOW, "Condition": {"StringLike": {"aws:userid": "*:${aws:PrincipalTag/n}"}}}
    assert not is_allowed([statement], Request("ssm:GetParameter", "*", {"aws:userid": "A:x"}))
    default = {
        **ALLOW,
        "Condition": {"StringLike": {"aws:userid": "*:${aws:PrincipalTag/n, 'x'}"}},
    }
    assert is_allowed([default], Request("ssm:GetParameter", "*", {"aws:userid": "A:x"}))


def test_variables_in_the_resource_part_of_an_arn() -> None:
    statement = {**ALLOW, "Resource": "arn:aws:ssm:r:1:parameter/${aws:PrincipalTag/env}/*"}
    context = {"aws:PrincipalTag/env": "pr-7"}
    assert is_allowed(
        [statement], Request("ssm:GetParameter", "arn:aws:ssm:r:1:parameter/pr-7/k", context)
    )
    assert not is_allowed(
        [statement], Request("ssm:GetParameter", "arn:aws:ssm:r:1:parameter/pr-8/k", context)
    )


def test_cloudformation_escapes_become_iam_variables() -> None:
    resolver = Resolver({"Resources": {}}, {}, "123456789012", "eu-west-2")
    assert resolver.resolve({"Fn::Sub": "${AWS::AccountId}:${!aws:userid}"}) == (
        "123456789012:${aws:userid}"
    )


def test_the_resolver_evaluates_conditions_with_the_pipelines_evaluator() -> None:
    # Its own copy knew Fn::Equals alone (any other condition read as true) and compared
    # values untyped; it now shares cloudformation.evaluate_conditions.
    template = {
        "Parameters": {"ExistingArn": {"Type": "String", "Default": ""}},
        "Conditions": {
            "Reuse": {"Fn::Not": [{"Fn::Equals": [{"Ref": "ExistingArn"}, ""]}]},
            "InLondon": {"Fn::Equals": [{"Ref": "AWS::Region"}, "eu-west-2"]},
        },
        "Resources": {},
    }
    pick = {"Fn::If": ["Reuse", {"Ref": "ExistingArn"}, "create"]}
    assert Resolver(template, {}, "123456789012", "eu-west-2").resolve(pick) == "create"
    given = Resolver(template, {"ExistingArn": "arn:x"}, "123456789012", "eu-west-2")
    assert given.resolve(pick) == "arn:x"
    where = {"Fn::If": ["InLondon", "here", "elsewhere"]}
    assert Resolver(template, {}, "123456789012", "us-east-1").resolve(where) == "elsewhere"


def test_a_parameter_without_a_value_is_refused_not_empty() -> None:
    # Its own copy resolved a parameter with no value and no Default to "".
    template = {"Parameters": {"GitHubRepository": {"Type": "String"}}, "Resources": {}}
    resolver = Resolver(template, {}, "123456789012", "eu-west-2")
    with pytest.raises(TemplateError, match="GitHubRepository, which has no Default"):
        resolver.resolve({"Fn::Sub": "repo:${GitHubRepository}:*"})


def test_a_resource_policy_deny_names_its_principals_and_wins_over_an_identity_allow() -> None:
    bucket_policy = [
        {
            "Effect": "Deny",
            "Principal": "*",
            "Action": "s3:*",
            "Resource": "arn:aws:s3:::b/*",
            "Condition": {
                "ArnEquals": {"aws:PrincipalArn": "arn:aws:iam::1:role/deployer"},
                "StringNotLike": {"aws:userid": "*:pr-7"},
            },
        }
    ]
    identity = [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::b/*"}]
    role = {"aws:PrincipalArn": "arn:aws:iam::1:role/deployer"}
    get = "s3:GetObject"
    other = Request(get, "arn:aws:s3:::b/k", {**role, "aws:userid": "AROAX:pr-42"})
    own = Request(get, "arn:aws:s3:::b/k", {**role, "aws:userid": "AROAX:pr-7"})
    assert not is_allowed(identity, other, bucket_policy)
    assert is_allowed(identity, own, bucket_policy)
    assert is_allowed(identity, other)  # without the bucket policy, nothing refuses it


def test_a_resource_policy_allow_grants_only_the_principal_it_names() -> None:
    allow_cloudfront = [
        {
            "Effect": "Allow",
            "Principal": {"Service": "cloudfront.amazonaws.com"},
            "Action": "s3:GetObject",
            "Resource": "arn:aws:s3:::b/*",
        }
    ]
    edge = {"aws:PrincipalServiceName": "cloudfront.amazonaws.com"}
    assert is_allowed([], Request("s3:GetObject", "arn:aws:s3:::b/k", edge), allow_cloudfront)
    someone = {"aws:PrincipalArn": "arn:aws:iam::1:role/r"}
    assert not is_allowed(
        [], Request("s3:GetObject", "arn:aws:s3:::b/k", someone), allow_cloudfront
    )


def test_not_resource_with_a_variable_denies_everything_but_the_callers_own_prefix() -> None:
    """A Deny with ``NotResource`` matches every resource except those listed (IAM User Guide,
    "IAM JSON policy elements: NotResource"); the variable is resolved per request."""
    deny_elsewhere = {
        "Effect": "Deny",
        "Action": "s3:*",
        "NotResource": ["arn:aws:s3:::b", "arn:aws:s3:::b/previews/${aws:userid}/*"],
    }
    allow = {"Effect": "Allow", "Action": "s3:*", "Resource": "*"}
    caller = {"aws:userid": "AROAX:pr-7"}
    own = Request("s3:GetObject", "arn:aws:s3:::b/previews/AROAX:pr-7/k", caller)
    other = Request("s3:GetObject", "arn:aws:s3:::b/previews/AROAX:pr-70/k", caller)
    bucket = Request("s3:ListBucket", "arn:aws:s3:::b", caller)
    elsewhere = Request("s3:GetObject", "arn:aws:s3:::other/previews/AROAX:pr-7/k", caller)
    assert is_allowed([allow, deny_elsewhere], own)
    assert is_allowed([allow, deny_elsewhere], bucket)
    assert not is_allowed([allow, deny_elsewhere], other)
    assert not is_allowed([allow, deny_elsewhere], elsewhere)
    # An allow with NotResource grants what it does not list, nothing it lists.
    allow_but = {"Effect": "Allow", "Action": "s3:*", "NotResource": "arn:aws:s3:::b/*"}
    assert is_allowed([allow_but], elsewhere)
    assert not is_allowed([allow_but], own)
