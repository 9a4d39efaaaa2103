"""The base images: stand-ins cover exactly what our Dockerfiles name, and behave like the real."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from tests.containers.standins import (
    HOST_CA_BUNDLE,
    PUBLIC_IMAGES,
    PYTHON_IMAGES,
    RECIPE_LABEL,
    STAND_IN_LABEL,
    UV_IMAGE,
    is_stand_in,
    recipe,
)
from tests.support import docker
from tests.support.template import REPO_ROOT

_FROM = re.compile(r"^\s*FROM\s+(?:--platform=\S+\s+)?(\S+)(?:\s+AS\s+(\S+))?", re.I | re.M)
_COPY_FROM = re.compile(r"^\s*COPY\s+.*?--from=(\S+)", re.I | re.M)


def _dockerfiles() -> list[Path]:
    skip = {".venv", ".git", "node_modules", ".aws-sam"}
    return [
        path
        for path in REPO_ROOT.rglob("*Dockerfile*")
        if path.is_file() and not skip.intersection(path.relative_to(REPO_ROOT).parts)
    ]


def _public_images_named(path: Path) -> set[str]:
    text = path.read_text()
    stages = {m.group(2).lower() for m in _FROM.finditer(text) if m.group(2)}
    named = {m.group(1) for m in _FROM.finditer(text)} | {
        m.group(1) for m in _COPY_FROM.finditer(text)
    }
    # Stage names, build arguments and scratch are not images anyone pulls.
    return {
        ref for ref in named if ref.lower() not in stages and "$" not in ref and ref != "scratch"
    }


def test_stand_ins_cover_every_public_image_a_dockerfile_names() -> None:
    files = _dockerfiles()
    assert REPO_ROOT / "mqtt" / "Dockerfile" in files
    named = set().union(*(_public_images_named(path) for path in files))
    assert named, "no Dockerfile names a public image"
    assert named <= set(PUBLIC_IMAGES), f"no stand-in for {sorted(named - set(PUBLIC_IMAGES))}"


@pytest.mark.usefixtures("docker_ready")
@pytest.mark.parametrize("tag", PYTHON_IMAGES)
def test_python_base_runs_python_313_from_usr_local_bin(tag: str) -> None:
    result = docker.run(
        "run",
        "--rm",
        tag,
        "sh",
        "-c",
        "command -v python; command -v python3; python -V; python3 -V",
    )
    lines = result.stdout.split()
    assert lines[:2] == ["/usr/local/bin/python", "/usr/local/bin/python3"], result.stdout
    assert result.stdout.count("Python 3.13.") == 2, result.stdout


@pytest.mark.usefixtures("docker_ready")
def test_python_stand_in_is_labelled_and_trusts_the_host_ca_bundle() -> None:
    tag = PYTHON_IMAGES[0]
    if not is_stand_in(tag):
        pytest.skip(f"{tag} is the real image here (a registry answered); nothing stands in.")
    labels = docker.inspect("image", tag)["Config"]["Labels"]
    assert labels[STAND_IN_LABEL] == "true"
    assert labels["org.opencontainers.image.description"].startswith("LOCAL STAND-IN for")
    # Built by this recipe: an older stand-in would have been rebuilt by the docker_ready fixture.
    assert labels[RECIPE_LABEL] == recipe()
    bundle = docker.run("run", "--rm", tag, "cat", str(HOST_CA_BUNDLE)).stdout
    assert bundle == HOST_CA_BUNDLE.read_text()
    env = docker.run(
        "run", "--rm", tag, "sh", "-c", "echo $SSL_CERT_FILE $REQUESTS_CA_BUNDLE $UV_SYSTEM_CERTS"
    ).stdout
    assert env.split() == [str(HOST_CA_BUNDLE), str(HOST_CA_BUNDLE), "1"]
    # apt has trixie sources, as in the real image (reading them needs no network).
    sources = docker.run("run", "--rm", tag, "cat", "/etc/apt/sources.list.d/debian.sources")
    assert "Suites: trixie trixie-updates" in sources.stdout


@pytest.mark.usefixtures("docker_ready")
def test_uv_image_holds_uv_0_13_9_at_root() -> None:
    result = docker.run("run", "--rm", UV_IMAGE, "--version")
    assert result.stdout.split()[:2] == ["uv", "0.13.9"], result.stdout


@pytest.mark.usefixtures("docker_ready")
def test_a_second_run_keeps_the_images_and_is_quick() -> None:
    before = {tag: docker.image_id(tag) for tag in PUBLIC_IMAGES}
    result = subprocess.run(
        ["uv", "run", "python", "-m", "tests.containers.standins"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "stand-in built" not in result.stdout
    assert "pulled" not in result.stdout
    assert {tag: docker.image_id(tag) for tag in PUBLIC_IMAGES} == before
