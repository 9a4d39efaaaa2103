"""CloudFormation templates as the service reads them, for one set of parameter values.

One implementation, used by the emulator deploy (``emulator.py``) and by the tests alike:

- ``load_template``: samcli's YAML reader, the one `sam` and the deploy read templates with
  (short-form intrinsics become their long form; a key written twice keeps its last value, as
  CloudFormation deploys it; cfn-lint in the lint gate reports such a key);
- ``sam_transform``: the ``AWS::Serverless-2016-10-31`` transform with samtranslator, the
  library CloudFormation's own transform runs, in the region given;
- ``evaluate_conditions``: the template's ``Conditions`` for concrete parameter values;
- ``resolve``: ``Fn::If``, ``Ref: AWS::NoValue`` and parameter ``Ref``s in any fragment;
- ``substitute``: the string an ``Fn::Sub`` yields, given the values its names stand for
  (``pseudo_parameters`` gives an account's and region's).

Everything that cannot be evaluated is a :class:`TemplateError` with one sentence, never a
silent guess: CloudFormation refuses such a template too.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Final

Template = dict[str, Any]

CONDITION_FUNCTIONS: Final = ("Fn::Equals", "Fn::Not", "Fn::And", "Fn::Or", "Condition")
# ${Name}, or ${!Literal}: CloudFormation's escape for a literal ${Literal} (an IAM variable).
SUB_REFERENCE: Final = re.compile(r"\$\{(!?)([^}]*)\}")


class TemplateError(ValueError):
    """The template, or the values given for it, cannot be evaluated (one sentence)."""


class _NoValue:
    """``Ref: AWS::NoValue``: the property or list item it stands for disappears."""

    def __repr__(self) -> str:
        return "NO_VALUE"


NO_VALUE: Final = _NoValue()


def load_template(path: Path) -> Template:
    """The template at ``path`` (YAML or JSON) as plain mappings and lists."""
    import yaml
    from samcli.yamlhelper import yaml_parse

    try:
        parsed = yaml_parse(path.read_text())
    except yaml.YAMLError as error:
        reason = " ".join(str(error).split())
        raise TemplateError(f"{path} is not a readable template: {reason}.") from error
    if not isinstance(parsed, dict):
        raise TemplateError(f"{path} holds no template: its top level is not a mapping.")
    return parsed


def sam_transform(
    template: Mapping[str, Any],
    parameters: Mapping[str, str],
    *,
    region: str,
    managed_policies: Callable[[], dict[str, str]],
) -> Template:
    """The template after the SAM transform, as CloudFormation expands it in ``region``.

    The same steps as ``samtranslator.translator.transform.transform``, but with a session
    for ``region``: that function reads the region (``AWS::Region``, the partition) from the
    process environment, so a region passed any other way would be ignored.
    ``managed_policies`` names AWS managed policy ARNs; samtranslator asks for them only when
    a function names a managed policy by its short name. ``template`` is left unchanged.
    """
    import boto3
    from samtranslator.parser.parser import Parser
    from samtranslator.translator.translator import Translator
    from samtranslator.utils.py27hash_fix import (
        to_py27_compatible_template,
        undo_mark_unicode_str_in_template,
    )

    fragment = copy.deepcopy(dict(template))
    values: dict[str, Any] = dict(parameters)
    # Python 2 hashing order for generated logical ids, as the hosted transform keeps it.
    to_py27_compatible_template(fragment, values)
    translator = Translator(None, Parser(), boto_session=boto3.session.Session(region_name=region))
    translated = translator.translate(
        fragment, parameter_values=values, get_managed_policy_map=managed_policies
    )
    return dict(undo_mark_unicode_str_in_template(translated))


def parameter_value(template: Mapping[str, Any], values: Mapping[str, str], name: str) -> Any:
    """The value of parameter (or given pseudo parameter) ``name``: given, else its Default."""
    if name in values:
        return values[name]
    declared = template.get("Parameters", {}).get(name)
    if declared is None:
        raise TemplateError(
            f"No value is given for {name}, and the template declares no such parameter."
        )
    if "Default" not in declared:
        raise TemplateError(f"No value is given for parameter {name}, which has no Default.")
    return declared["Default"]


def _single(expression: Any, where: str) -> tuple[str, Any]:
    if not isinstance(expression, dict) or len(expression) != 1:
        raise TemplateError(f"{where} must be one intrinsic function, not {expression!r}.")
    ((function, args),) = expression.items()
    return str(function), args


def evaluate_conditions(template: Mapping[str, Any], values: Mapping[str, str]) -> dict[str, bool]:
    """Every condition of ``template`` for parameter ``values`` (pseudo parameters such as
    ``AWS::Region`` count only when ``values`` names them)."""
    conditions: dict[str, Any] = dict(template.get("Conditions", {}))
    evaluated: dict[str, bool] = {}
    evaluating: list[str] = []

    def scalar(value: Any, where: str) -> str:
        if isinstance(value, dict):
            function, args = _single(value, where)
            if function != "Ref":
                raise TemplateError(f"{where} compares {function}, which is not evaluated here.")
            value = parameter_value(template, values, str(args))
        return str(value)

    def holds(expression: Any, where: str) -> bool:
        function, args = _single(expression, where)
        if function == "Condition":
            return condition(str(args), where)
        if not isinstance(args, list):
            raise TemplateError(f"{where}: {function} takes a list, not {args!r}.")
        if function == "Fn::Equals":
            if len(args) != 2:
                raise TemplateError(f"{where}: Fn::Equals takes two values, not {len(args)}.")
            return scalar(args[0], where) == scalar(args[1], where)
        if function == "Fn::Not":
            if len(args) != 1:
                raise TemplateError(f"{where}: Fn::Not takes one condition, not {len(args)}.")
            return not holds(args[0], where)
        if function == "Fn::And":
            return all(holds(a, where) for a in args)
        if function == "Fn::Or":
            return any(holds(a, where) for a in args)
        raise TemplateError(
            f"{where} uses {function}; a condition uses only {', '.join(CONDITION_FUNCTIONS)}."
        )

    def condition(name: str, where: str) -> bool:
        if name in evaluated:
            return evaluated[name]
        if name not in conditions:
            raise TemplateError(f"{where} names condition {name}, which the template lacks.")
        if name in evaluating:
            cycle = " -> ".join([*evaluating[evaluating.index(name) :], name])
            raise TemplateError(f"Conditions refer to each other in a circle: {cycle}.")
        evaluating.append(name)
        evaluated[name] = holds(conditions[name], f"Condition {name}")
        evaluating.pop()
        return evaluated[name]

    for name in conditions:
        condition(name, "The template")
    return evaluated


def resolve(
    fragment: Any,
    template: Mapping[str, Any],
    values: Mapping[str, str],
    conditions: Mapping[str, bool] | None = None,
) -> Any:
    """``fragment`` with ``Fn::If``, ``AWS::NoValue`` and parameter ``Ref``s applied; other
    intrinsics are left as they are. A fragment that is itself ``AWS::NoValue`` is
    :data:`NO_VALUE`; inside mappings and lists such values disappear."""
    holds = evaluate_conditions(template, values) if conditions is None else conditions
    declared = template.get("Parameters", {})

    def walk(node: Any) -> Any:
        if isinstance(node, dict):
            if set(node) == {"Fn::If"}:
                args = node["Fn::If"]
                if not isinstance(args, list) or len(args) != 3:
                    raise TemplateError(f"Fn::If takes a condition and two values, not {args!r}.")
                name, when_true, when_false = args
                if name not in holds:
                    raise TemplateError(f"Fn::If names condition {name}, which the template lacks.")
                return walk(when_true if holds[name] else when_false)
            if set(node) == {"Ref"} and node["Ref"] == "AWS::NoValue":
                return NO_VALUE
            if set(node) == {"Ref"} and node["Ref"] in declared:
                return parameter_value(template, values, node["Ref"])
            walked = {key: walk(value) for key, value in node.items()}
            return {key: value for key, value in walked.items() if value is not NO_VALUE}
        if isinstance(node, list):
            return [item for item in (walk(v) for v in node) if item is not NO_VALUE]
        return node

    return walk(fragment)


def pseudo_parameters(account: str, region: str, partition: str = "aws") -> dict[str, str]:
    """``AWS::AccountId``, ``AWS::Region``, ``AWS::Partition`` and ``AWS::URLSuffix`` there."""
    return {
        "AWS::AccountId": account,
        "AWS::Region": region,
        "AWS::Partition": partition,
        "AWS::URLSuffix": "amazonaws.com.cn" if partition == "aws-cn" else "amazonaws.com",
    }


def substitute(
    args: Any, values: Mapping[str, Any], lookup: Callable[[str], Any] | None = None
) -> str:
    """The string ``{"Fn::Sub": args}`` yields: ``args`` is its text, or ``[text, variables]``.

    ``${Name}`` is the variable ``Name`` where ``variables`` has it, else ``values[Name]`` (a
    parameter, pseudo parameter, resource or ``Resource.Attribute``), else ``lookup(Name)``;
    ``${!Literal}`` is the literal ``${Literal}``. Variables are taken as given: resolve any
    intrinsic in them first.
    """
    if isinstance(args, str):
        text, variables = args, {}
    elif (
        isinstance(args, list)
        and len(args) == 2
        and isinstance(args[0], str)
        and isinstance(args[1], dict)
    ):
        text, variables = args
    else:
        raise TemplateError(f"Fn::Sub takes a string or [string, variables], not {args!r}.")

    def replace(match: re.Match[str]) -> str:
        literal, name = match.groups()
        if literal:
            return "${" + name + "}"
        if name in variables:
            return str(variables[name])
        if name in values:
            return str(values[name])
        if lookup is not None:
            return str(lookup(name))
        raise TemplateError(f"Fn::Sub names {name}, for which no value is given.")

    return SUB_REFERENCE.sub(replace, text)
