"""cfn-lint (the linter `sam validate --lint` runs) on each environment's resolved parameters."""

from __future__ import annotations

import pytest
from cfnlint.api import ManualArgs, lint
from cfnlint.context.parameters import ParameterSet

from tests.support.moto_server import TEST_REGION
from tests.support.sam_template import NETWORK_TEMPLATE_PATH, sample_parameters
from tests.support.template import TEMPLATE_PATH

LINT_CASES = {
    "prod": {},
    "dev": {},
    "pr-42": {},
    "pr-42 --no-cloudfront": {"cloudfront": False},
    "dev with cloudfront": {"cloudfront": True},
}


def _lint(source: str, parameters: dict[str, str] | None = None) -> list[str]:
    config = ManualArgs(regions=[TEST_REGION])
    if parameters is not None:
        config["parameters"] = [ParameterSet(source=None, parameters=parameters)]
    return [str(match) for match in lint(source, config=config)]


@pytest.mark.parametrize("case", list(LINT_CASES))
def test_template_lints_clean_for_each_environment(case: str) -> None:
    env = case.split()[0]
    parameters = sample_parameters(env, **LINT_CASES[case])
    assert _lint(TEMPLATE_PATH.read_text(), parameters) == []


def test_template_lints_clean_without_parameters() -> None:
    assert _lint(TEMPLATE_PATH.read_text()) == []


def test_network_template_lints_clean() -> None:
    assert _lint(NETWORK_TEMPLATE_PATH.read_text()) == []


def test_lint_gate_catches_the_plans_reserved_variable() -> None:
    """The same gate fails on the plan's AWS_REGION (E3663), so a clean result means something."""
    source = TEMPLATE_PATH.read_text()
    planted = source.replace(
        "          ENVIRONMENT: !Ref Environment\n",
        "          ENVIRONMENT: !Ref Environment\n          AWS_REGION: !Ref AWS::Region\n",
        1,
    )
    assert planted != source
    errors = _lint(planted, sample_parameters("pr-42"))
    assert any("E3663" in e for e in errors), errors
