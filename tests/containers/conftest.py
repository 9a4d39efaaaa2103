"""Fixtures for tests that build and run real containers with Docker (tests/support/docker.py)."""

from __future__ import annotations

import pytest

from tests.containers.standins import ensure_base_images

# The MQTT fixtures (fake Yoto cloud, linked table in moto, amqtt broker, a player publishing)
# are the ones tests/mqtt uses against the handler as a host process.
from tests.mqtt.conftest import broker, publisher, table_name, yoto  # noqa: F401
from tests.support.docker import build_image, require_docker
from tests.support.template import REPO_ROOT
from yoto_smart_stream_ci.shared import (
    MQTT_DOCKERFILE,
    TEST_STAGE,
    TOOLCHAIN_DOCKERFILE,
    WORKSPACE_STAGE,
)


@pytest.fixture(scope="session")
def docker_ready() -> None:
    """Docker answers (else: fail in CI, skip elsewhere) and the public base images are present:
    kept when already there, pulled when a registry answers, local stand-ins otherwise."""
    require_docker()
    ensure_base_images(log=lambda _line: None)


MQTT_IMAGE = "yoto-smart-stream-mqtt:test"
TOOLCHAIN_TAG = "yoto-smart-stream-toolchain:test"


@pytest.fixture(scope="session")
def mqtt_image(docker_ready: None) -> str:
    """mqtt/Dockerfile built once per session with BuildKit, as the pipeline builds it."""
    build_image(REPO_ROOT / MQTT_DOCKERFILE, MQTT_IMAGE)
    return MQTT_IMAGE


@pytest.fixture(scope="session")
def workspace_image(docker_ready: None) -> str:
    """ci/Dockerfile's workspace stage (lint, package, moto, the AWS-facing commands)."""
    tag = f"{TOOLCHAIN_TAG}-{WORKSPACE_STAGE}"
    build_image(REPO_ROOT / TOOLCHAIN_DOCKERFILE, tag, target=WORKSPACE_STAGE)
    return tag


@pytest.fixture(scope="session")
def test_image(docker_ready: None) -> str:
    """ci/Dockerfile's test stage: the workspace plus Chromium (`dagger call test`)."""
    tag = f"{TOOLCHAIN_TAG}-{TEST_STAGE}"
    build_image(REPO_ROOT / TOOLCHAIN_DOCKERFILE, tag, target=TEST_STAGE)
    return tag
