"""Fixtures for tests that build and run real containers with Docker (tests/support/docker.py)."""

from __future__ import annotations

import pytest

from tests.containers.standins import ensure_base_images
from tests.support.docker import require_docker


@pytest.fixture(scope="session")
def docker_ready() -> None:
    """Docker answers (else: fail in CI, skip elsewhere) and the public base images are present:
    kept when already there, pulled when a registry answers, local stand-ins otherwise."""
    require_docker()
    ensure_base_images(log=lambda _line: None)


TOOLCHAIN_TAG = "yoto-smart-stream-toolchain:test"


@pytest.fixture(scope="session")
def workspace_image(docker_ready: None) -> str:
    """ci/Dockerfile's workspace stage (lint, package, moto, the AWS-facing commands)."""
    from tests.support.docker import build_image
    from tests.support.template import REPO_ROOT
    from yoto_smart_stream_ci.shared import TOOLCHAIN_DOCKERFILE, WORKSPACE_STAGE

    tag = f"{TOOLCHAIN_TAG}-{WORKSPACE_STAGE}"
    build_image(REPO_ROOT / TOOLCHAIN_DOCKERFILE, tag, target=WORKSPACE_STAGE)
    return tag


@pytest.fixture(scope="session")
def test_image(docker_ready: None) -> str:
    """ci/Dockerfile's test stage: the workspace plus Chromium (`dagger call test`)."""
    from tests.support.docker import build_image
    from tests.support.template import REPO_ROOT
    from yoto_smart_stream_ci.shared import TEST_STAGE, TOOLCHAIN_DOCKERFILE

    tag = f"{TOOLCHAIN_TAG}-{TEST_STAGE}"
    build_image(REPO_ROOT / TOOLCHAIN_DOCKERFILE, tag, target=TEST_STAGE)
    return tag
