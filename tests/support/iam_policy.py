"""An offline IAM policy evaluator and a small CloudFormation resolver for policy documents.

moto neither simulates principal policies nor evaluates conditions, so the bootstrap tests use
this instead. It implements the parts of IAM's evaluation logic our policies use:

- an explicit Deny wins over any Allow; no matching Allow means an implicit deny;
- ``Action`` / ``NotAction`` matching, case-insensitive, with ``*`` and ``?`` wildcards;
- ``Resource`` / ``NotResource`` matching per ARN segment (partition, service, region, account never match across
  ``:``), with ``*`` spanning anything, ``/`` and ``:`` included, inside the resource part;
- the condition operators StringEquals, StringNotEquals, StringLike, StringNotLike, Bool and
  ArnLike/ArnEquals, each key ANDed, each value list ORed, a missing key failing the test
  (as IAM does for operators without ``IfExists``) and passing a negated one;
- a resource-based policy (a bucket policy) next to the identity's policies, as IAM evaluates
  a request within one account (IAM User Guide, "Policy evaluation logic"): an explicit Deny
  in either wins; otherwise an Allow in either grants, one in the resource policy only if its
  ``Principal`` names the caller (``"*"``, the role's ARN as ``aws:PrincipalArn``, or a
  service as ``aws:PrincipalServiceName``);
- policy variables (IAM User Guide, "IAM policy elements: Variables and tags") in condition
  values and in the resource part of a ``Resource``: ``${key}`` takes the request context's
  value, ``${key, 'default'}`` a default, ``${*}``/``${?}``/``${$}`` the literal character; a
  variable the context cannot resolve matches nothing.

Unknown operators raise, so a policy that grows a new operator cannot silently pass.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from typing import Any

from yoto_smart_stream_ci import cloudformation


@dataclass(frozen=True)
class Request:
    action: str
    resource: str
    context: Mapping[str, str] = field(default_factory=dict)


@cache
def _glob(pattern: str, case_sensitive: bool) -> re.Pattern[str]:
    regex = "".join(".*" if ch == "*" else "." if ch == "?" else re.escape(ch) for ch in pattern)
    return re.compile(f"^{regex}$", 0 if case_sensitive else re.IGNORECASE)


def glob_match(pattern: str, value: str, *, case_sensitive: bool = True) -> bool:
    return bool(_glob(pattern, case_sensitive).match(value))


_VARIABLE = re.compile(r"\$\{([^}]*)\}")
_LITERALS = {"*": "*", "?": "?", "$": "$"}


class Unresolved(Exception):
    """A policy variable has no value in the request context (and no default)."""


def _variable_value(body: str, context: Mapping[str, str]) -> str:
    if body in _LITERALS:
        return _LITERALS[body]
    name, _, default = body.partition(",")
    name = name.strip()
    # Context keys are case-insensitive.
    for key, value in context.items():
        if key.lower() == name.lower():
            return value
    default = default.strip()
    if len(default) >= 2 and default[0] == default[-1] == "'":
        return default[1:-1]
    raise Unresolved(name)


def substituted_regex(pattern: str, context: Mapping[str, str], *, wildcards: bool) -> str:
    """``pattern`` as a regex: its variables replaced (their values always literal), and
    ``*``/``?`` outside variables wildcards when ``wildcards``. Raises ``Unresolved``."""
    parts: list[str] = []
    position = 0
    for match in _VARIABLE.finditer(pattern):
        parts.append(_plain_regex(pattern[position : match.start()], wildcards))
        parts.append(re.escape(_variable_value(match.group(1), context)))
        position = match.end()
    parts.append(_plain_regex(pattern[position:], wildcards))
    return "".join(parts)


def _plain_regex(text: str, wildcards: bool) -> str:
    if not wildcards:
        return re.escape(text)
    return "".join(".*" if ch == "*" else "." if ch == "?" else re.escape(ch) for ch in text)


def value_matches(
    pattern: str,
    value: str,
    context: Mapping[str, str],
    *,
    wildcards: bool,
    case_sensitive: bool = True,
) -> bool:
    try:
        regex = substituted_regex(pattern, context, wildcards=wildcards)
    except Unresolved:
        return False
    return bool(re.match(f"^{regex}$", value, 0 if case_sensitive else re.IGNORECASE | re.S))


def action_matches(pattern: str, action: str) -> bool:
    return glob_match(pattern, action, case_sensitive=False)


def resource_matches(pattern: str, arn: str, context: Mapping[str, str] | None = None) -> bool:
    if pattern == "*":
        return True
    pattern_parts = pattern.split(":", 5)
    arn_parts = arn.split(":", 5)
    if len(pattern_parts) != 6 or len(arn_parts) != 6:
        return False
    if any("${" in part for part in pattern_parts[:5]):
        raise ValueError(f"IAM allows variables only in the resource part of an ARN: {pattern}")
    prefix_matches = all(
        glob_match(p, a) for p, a in zip(pattern_parts[:5], arn_parts[:5], strict=True)
    )
    return prefix_matches and value_matches(
        pattern_parts[5], arn_parts[5], context or {}, wildcards=True
    )


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _condition_holds(operator: str, key: str, expected: Any, context: Mapping[str, str]) -> bool:
    if key not in context:
        return operator in {"StringNotEquals", "StringNotLike"}
    actual = context[key]
    values = [str(v) for v in _as_list(expected)]

    def equal(value: str) -> bool:
        return value_matches(value, actual, context, wildcards=False)

    def like(value: str) -> bool:
        return value_matches(value, actual, context, wildcards=True)

    if operator == "StringEquals":
        return any(equal(v) for v in values)
    if operator == "StringNotEquals":
        return not any(equal(v) for v in values)
    if operator in {"StringLike", "ArnLike", "ArnEquals"}:
        return any(like(v) for v in values)
    if operator == "StringNotLike":
        return not any(like(v) for v in values)
    if operator == "Bool":
        return actual.lower() in {v.lower() for v in values}
    raise NotImplementedError(f"condition operator {operator} is not modelled by this evaluator")


def statement_applies(statement: Mapping[str, Any], request: Request) -> bool:
    if "Action" in statement:
        if not any(action_matches(a, request.action) for a in _as_list(statement["Action"])):
            return False
    elif any(action_matches(a, request.action) for a in _as_list(statement["NotAction"])):
        return False
    if "NotResource" in statement:
        excluded = _as_list(statement["NotResource"])
        if any(resource_matches(r, request.resource, request.context) for r in excluded):
            return False
    else:
        resources = _as_list(statement.get("Resource", "*"))
        if not any(resource_matches(r, request.resource, request.context) for r in resources):
            return False
    for operator, pairs in (statement.get("Condition") or {}).items():
        for key, expected in pairs.items():
            if not _condition_holds(operator, key, expected, request.context):
                return False
    return True


def principal_matches(principal: Any, context: Mapping[str, str]) -> bool:
    """Whether a resource-based statement's ``Principal`` names the caller of ``context``."""
    if principal == "*":
        return True
    if not isinstance(principal, Mapping) or not set(principal) <= {"AWS", "Service"}:
        raise NotImplementedError(f"Principal {principal!r} is not modelled by this evaluator")
    callers = {
        "AWS": context.get("aws:PrincipalArn"),
        "Service": context.get("aws:PrincipalServiceName"),
    }
    return any(
        callers[kind] is not None and callers[kind] in [str(v) for v in _as_list(values)]
        for kind, values in principal.items()
    )


def is_allowed(
    statements: Iterable[Mapping[str, Any]],
    request: Request,
    resource_policy: Iterable[Mapping[str, Any]] = (),
) -> bool:
    applicable = [s for s in statements if statement_applies(s, request)]
    for statement in resource_policy:
        if "NotPrincipal" in statement:
            raise NotImplementedError("NotPrincipal is not modelled by this evaluator")
        if principal_matches(statement["Principal"], request.context) and statement_applies(
            statement, request
        ):
            applicable.append(statement)
    if any(s["Effect"] == "Deny" for s in applicable):
        return False
    return any(s["Effect"] == "Allow" for s in applicable)


@cache
def _service_reference() -> dict[str, Any]:
    """The Service Authorization Reference as cfn-lint ships it (actions -> resource types)."""
    text = resources.files("cfnlint").joinpath("data/AdditionalSpecs/Policies.json").read_text()
    return json.loads(text)


def resource_types(action: str) -> list[str] | None:
    """The resource types ``action`` can be scoped to; [] if only "*"; None if unknown."""
    service, _, name = action.lower().partition(":")
    known = _service_reference().get(service, {}).get("Actions", {})
    if name not in known:
        return None
    return list(known[name].get("Resources", []))


def _resource_type_of(action: str, arn: str) -> dict[str, Any] | None:
    """The Service Authorization Reference entry of the resource type ``action`` acts on at
    ``arn`` (the most specific ARN format that matches), or None."""
    service, _, name = action.lower().partition(":")
    reference = _service_reference().get(service, {})
    types = {key.lower(): info for key, info in reference.get("Resources", {}).items()}
    best: tuple[int, dict[str, Any]] | None = None
    for type_name in reference.get("Actions", {}).get(name, {}).get("Resources", []):
        info = types.get(type_name.lower(), {})
        for arn_format in info.get("ARNFormats", []):
            regex = re.sub(r"\$\{[^}]*\}", "[^:]*", arn_format)
            literal = len(arn_format.split(".*", 1)[0])
            if re.fullmatch(regex, arn) and (best is None or literal > best[0]):
                best = (literal, info)
    return best[1] if best else None


def resource_tags_in_context(action: str, arn: str) -> bool:
    """Whether AWS puts ``aws:ResourceTag/<key>`` into the request context of ``action`` on
    ``arn``: the reference lists it for that resource type (S3 buckets and objects, e.g., not)."""
    info = _resource_type_of(action, arn)
    return bool(info) and "aws:ResourceTag/${TagKey}" in info.get("ConditionKeys", [])


def arn_service(arn: str) -> str:
    return arn.split(":", 3)[2] if arn.startswith("arn:") else ""


def policy_actions(statements: Iterable[Mapping[str, Any]]) -> set[str]:
    """Every action an Allow statement names (wildcards included as written)."""
    return {a for s in statements if s["Effect"] == "Allow" for a in _as_list(s.get("Action", []))}


# ------------------------------------------------------------------ CloudFormation resolving


@dataclass
class Resolver:
    """Resolves the intrinsics the bootstrap template uses, for one account and region."""

    template: Mapping[str, Any]
    parameters: Mapping[str, str]
    account: str
    region: str
    partition: str = "aws"

    def physical(self, logical_id: str) -> str:
        resource = self.template["Resources"][logical_id]
        props = resource.get("Properties", {})
        kind = resource["Type"]
        if kind == "AWS::IAM::OIDCProvider":
            return (
                f"arn:{self.partition}:iam::{self.account}:oidc-provider/"
                "token.actions.githubusercontent.com"
            )
        if kind == "AWS::IAM::ManagedPolicy":
            name = self.resolve(props["ManagedPolicyName"])
            return f"arn:{self.partition}:iam::{self.account}:policy/{name}"
        if kind == "AWS::S3::Bucket":
            return str(self.resolve(props["BucketName"]))
        if kind == "AWS::ECR::Repository":
            return str(self.resolve(props["RepositoryName"]))
        if kind == "AWS::IAM::Role":
            return str(self.resolve(props["RoleName"]))
        raise NotImplementedError(f"Ref to {kind}")

    def attribute(self, logical_id: str, attribute: str) -> str:
        kind = self.template["Resources"][logical_id]["Type"]
        name = self.physical(logical_id)
        if (kind, attribute) == ("AWS::S3::Bucket", "Arn"):
            return f"arn:{self.partition}:s3:::{name}"
        if (kind, attribute) == ("AWS::ECR::Repository", "Arn"):
            return f"arn:{self.partition}:ecr:{self.region}:{self.account}:repository/{name}"
        if (kind, attribute) == ("AWS::IAM::Role", "Arn"):
            return f"arn:{self.partition}:iam::{self.account}:role/{name}"
        raise NotImplementedError(f"GetAtt {logical_id}.{attribute}")

    def values(self) -> dict[str, str]:
        """The parameter values, and the pseudo parameters of this account and region."""
        return {
            **self.parameters,
            **cloudformation.pseudo_parameters(self.account, self.region, self.partition),
        }

    def ref(self, name: str) -> str:
        values = self.values()
        if name in values or name in self.template.get("Parameters", {}):
            return str(cloudformation.parameter_value(self.template, values, name))
        return self.physical(name)

    def condition(self, name: str) -> bool:
        # The pipeline's evaluator: the one the emulator deploy and the environment tests use.
        return cloudformation.evaluate_conditions(self.template, self.values())[name]

    def resolve(self, node: Any) -> Any:
        if isinstance(node, list):
            return [self.resolve(n) for n in node]
        if not isinstance(node, dict):
            return node
        if len(node) == 1:
            (key, value), *_ = node.items()
            if key == "Ref":
                return self.ref(value)
            if key == "Fn::GetAtt":
                logical, attribute = value if isinstance(value, list) else value.split(".", 1)
                return self.attribute(logical, attribute)
            if key == "Fn::Sub":
                if isinstance(value, list) and len(value) == 2:
                    text, variables = value
                    value = [text, {k: self.resolve(v) for k, v in variables.items()}]
                return cloudformation.substitute(value, {}, self._named)
            if key == "Fn::If":
                name, when_true, when_false = value
                return self.resolve(when_true if self.condition(name) else when_false)
        return {k: self.resolve(v) for k, v in node.items()}

    def _named(self, name: str) -> str:
        """What ``${name}`` in an ``Fn::Sub`` stands for: ``Resource.Attribute``, else a Ref."""
        if "." in name:
            logical, attribute = name.split(".", 1)
            return self.attribute(logical, attribute)
        return self.ref(name)


def policy_size(document: Mapping[str, Any]) -> int:
    """Characters IAM counts against its size quotas: the JSON without whitespace."""
    return len(re.sub(r"\s+", "", json.dumps(document, separators=(",", ":"))))


def deploy_role_statements(
    template: Mapping[str, Any], role_logical_id: str, resolver: Resolver
) -> list[dict[str, Any]]:
    """Every statement of the managed policies the bootstrap attaches to one deploy role."""
    statements: list[dict[str, Any]] = []
    for ref in template["Resources"][role_logical_id]["Properties"]["ManagedPolicyArns"]:
        policy = resolver.resolve(template["Resources"][ref["Ref"]])
        statements += policy["Properties"]["PolicyDocument"]["Statement"]
    return statements
