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
