"""tests/support/docker.py itself: CI never skips a container test, and OCI export is readable."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.containers.standins import UV_IMAGE
from tests.support import docker
from yoto_smart_stream_ci import images


@pytest.fixture
def unreachable_docker(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    """A client that cannot exist, with the cached daemon answer cleared before and after."""
    monkeypatch.setenv("YSS_DOCKER", str(tmp_path / "no-docker-here"))
    docker._daemon_problem.cache_clear()
    yield
    docker._daemon_problem.cache_clear()


@pytest.mark.usefixtures("unreachable_docker")
def test_without_docker_ci_fails_with_one_sentence(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception) as failed:
        docker.require_docker()
    message = str(failed.value)
    assert message.startswith("Container tests cannot run in CI: the Docker client")
    assert message.endswith(".")
    assert "\n" not in message


@pytest.mark.usefixtures("unreachable_docker")
def test_without_docker_elsewhere_skips_with_the_reason(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="Docker is not usable here: the Docker client"):
        docker.require_docker()


@pytest.mark.usefixtures("docker_ready")
def test_save_oci_writes_the_layout_the_core_reads(tmp_path: Path) -> None:
    tarball = tmp_path / "uv.tar"
    digest = docker.save_oci(UV_IMAGE, tarball)
    manifest, media_type, read_digest = images.oci_manifest(tarball)
    assert read_digest == digest
    assert media_type == "application/vnd.oci.image.manifest.v1+json"
    assert b'"layers"' in manifest
