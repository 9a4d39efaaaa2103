"""The real-account image path as far as real parts allow: the MQTT image pushed with registry
auth to a real registry (Debian's docker-registry with a generated password, standing in for ECR),
tagged as ``publish_image`` tags it, and the reference formed as Dagger's ``Container.publish``
returns it: ``address/repository:tag@sha256:<digest>`` (``reference.WithDigest`` on the named
reference keeps the tag)."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import docker
from tests.support.registry import Registry, running_registry
from yoto_smart_stream_ci import environments
from yoto_smart_stream_ci.contract import parse_image_reference

ENV = "dev"
COMMIT = "0123456789abcdef0123456789abcdef01234567"


@pytest.fixture
def registry(tmp_path: Path) -> Iterator[Registry]:
    with running_registry(tmp_path / "registry") as running:
        yield running


@pytest.fixture
def docker_config(tmp_path: Path) -> dict[str, str]:
    """A client configuration of its own, so a login never touches the user's credentials."""
    directory = tmp_path / "docker-config"
    directory.mkdir()
    return {"DOCKER_CONFIG": str(directory)}


@pytest.fixture
def pushed_tag(mqtt_image: str, registry: Registry) -> Iterator[str]:
    repository = f"{registry.address}/{environments.ecr_repository(ENV)}"
    target = f"{repository}:{environments.image_tag(ENV, COMMIT)}"
    docker.run("tag", mqtt_image, target)
    try:
        yield target
    finally:
        docker.run("rmi", target, check=False)


def test_push_without_credentials_is_refused(
    pushed_tag: str, registry: Registry, docker_config: dict[str, str]
) -> None:
    anonymous = docker.run("push", pushed_tag, check=False, env=docker_config, timeout=120)
    assert anonymous.returncode != 0
    assert "no basic auth credentials" in anonymous.stderr or "unauthorized" in anonymous.stderr
    wrong = docker.run(
        "login",
        "--username",
        registry.user,
        "--password-stdin",
        registry.address,
        input_text="not-the-password",
        check=False,
        env=docker_config,
    )
    assert wrong.returncode != 0
    status, _, _ = registry.request("/v2/_catalog", auth=False)
    assert status == 401


def test_push_with_auth_gives_a_reference_the_registry_serves(
    pushed_tag: str, registry: Registry, docker_config: dict[str, str]
) -> None:
    login = docker.run(
        "login",
        "--username",
        registry.user,
        "--password-stdin",
        registry.address,
        input_text=registry.password,
        env=docker_config,
    )
    pushed = docker.run("push", pushed_tag, env=docker_config, timeout=300)
    for output in (login.stdout, login.stderr, pushed.stdout, pushed.stderr):
        assert registry.password not in output
    found = re.search(r"digest: (sha256:[0-9a-f]{64})", pushed.stdout)
    assert found, pushed.stdout
    digest = found.group(1)
    # What Container.publish(f"{repository}:{tag}") returns.
    published = f"{pushed_tag}@{digest}"
    assert re.fullmatch(
        r"127\.0\.0\.1:\d+/yoto-smart-stream-mqtt-dev:dev-0123456789ab@sha256:[0-9a-f]{64}",
        published,
    )

    name = environments.ecr_repository(ENV)
    status, headers, body = registry.request(f"/v2/{name}/manifests/{digest}")
    assert status == 200, registry.log_tail()
    headers = {key.lower(): value for key, value in headers.items()}
    assert headers["docker-content-digest"] == digest
    assert f"sha256:{hashlib.sha256(body).hexdigest()}" == digest
    # The tag names the same manifest, and nothing is served without the password.
    status, headers, _ = registry.request(
        f"/v2/{name}/manifests/{environments.image_tag(ENV, COMMIT)}", method="HEAD"
    )
    assert status == 200
    assert {k.lower(): v for k, v in headers.items()}["docker-content-digest"] == digest
    status, _, _ = registry.request(f"/v2/{name}/manifests/{digest}", auth=False)
    assert status == 401

    # The core takes the reference exactly as the engine returns it and pins it by digest.
    parsed = parse_image_reference(published)
    assert parsed.pinned == f"{registry.address}/{name}@{digest}"
    assert parsed.tag == environments.image_tag(ENV, COMMIT)
    assert parsed.registry == registry.address
    # ...and the template takes what the core made of it (the step every real deploy stopped at).
    parameters = environments.template_parameters(
        ENV, mqtt_image_uri=parsed.pinned, yoto_client_id="yoto-client-id"
    )
    assert parameters["MqttImageUri"] == parsed.pinned
