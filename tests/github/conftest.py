"""Fixtures for the GitHub delivery area: workflows, the AWS bootstrap and the PR comment."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.github_fake import FakeGitHub, running_fake_github

REPO_ROOT = Path(__file__).resolve().parents[2]
WORKFLOWS_DIR = REPO_ROOT / ".github" / "workflows"
BOOTSTRAP_TEMPLATE = REPO_ROOT / "infrastructure" / "bootstrap" / "template.yaml"


@pytest.fixture
def github_token() -> str:
    # Shaped like a GitHub Actions token so a leak would be recognisable in any output.
    return "ghs_" + secrets.token_hex(18)


@pytest.fixture
def fake_github(github_token: str) -> Iterator[FakeGitHub]:
    with running_fake_github(github_token) as fake:
        yield fake
