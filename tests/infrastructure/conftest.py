"""Fixtures for the infrastructure tests: each environment's deployed view of the template."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from tests.support.sam_template import (
    active_outputs,
    active_resources,
    expand,
    sample_parameters,
)


@dataclass(frozen=True)
class Deployment:
    """One environment's parameters, expanded template and what it creates."""

    env: str
    parameters: dict[str, str]
    template: dict[str, Any]
    resources: dict[str, Any]
    outputs: dict[str, Any]

    def of_type(self, resource_type: str) -> dict[str, Any]:
        return {lid: r for lid, r in self.resources.items() if r["Type"] == resource_type}

    def props(self, logical_id: str) -> dict[str, Any]:
        return dict(self.resources[logical_id]["Properties"])


def _deployment(env: str, **overrides: Any) -> Deployment:
    parameters = sample_parameters(env, **overrides)
    template = expand(parameters)
    return Deployment(
        env=env,
        parameters=parameters,
        template=template,
        resources=active_resources(template, parameters),
        outputs=active_outputs(template, parameters),
    )


@pytest.fixture(scope="session")
def deployments() -> dict[str, Deployment]:
    """prod, dev, pr-42 and pr-42 with CloudFront turned off (the --no-cloudfront flag)."""
    out = {env: _deployment(env) for env in ("prod", "dev", "pr-42")}
    out["pr-42-no-cloudfront"] = _deployment("pr-42", cloudfront=False)
    return out


@pytest.fixture(scope="session")
def prod(deployments: dict[str, Deployment]) -> Deployment:
    return deployments["prod"]


@pytest.fixture(scope="session")
def dev(deployments: dict[str, Deployment]) -> Deployment:
    return deployments["dev"]


@pytest.fixture(scope="session")
def pr(deployments: dict[str, Deployment]) -> Deployment:
    return deployments["pr-42"]
