"""The one place tests talk to Docker: the client, availability, builds, runs, clean-up, OCI export.

The client is ``$YSS_DOCKER`` when set, else Debian's ``/usr/bin/docker`` (its BuildKit is built
in; a newer client elsewhere on PATH may need the buildx plugin for ``DOCKER_BUILDKIT=1``), else
whatever ``docker`` is on PATH (a laptop). In CI (``CI=true``, as ``.ci/run`` runs) a Docker
daemon that does not answer fails the test; elsewhere the test is skipped with that reason.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import shutil
import subprocess
import tarfile
import tempfile
import uuid
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from functools import cache
from pathlib import Path
from typing import Any

import pytest

# Not from tests.support.template: `uv run python -m tests.containers.standins` (.ci/run) runs
# without ci/src on the path, and that module imports the pipeline package.
from tests.support.pipeline_cli import REPO_ROOT

DEBIAN_DOCKER = "/usr/bin/docker"
# Labels every container and network the tests create, so a crashed run's leftovers are findable.
TEST_LABEL = "dev.yoto-smart-stream.test=true"


def docker_client() -> str:
    """The Docker CLI the tests use (see the module docstring for the order)."""
    configured = os.environ.get("YSS_DOCKER")
    if configured:
        return configured
    if Path(DEBIAN_DOCKER).exists():
        return DEBIAN_DOCKER
    return shutil.which("docker") or "docker"


def run(
    *args: str,
    check: bool = True,
    timeout: float = 300,
    input_text: str | None = None,
    env: Mapping[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    """``docker <args>``; with ``check`` a non-zero exit raises with the command's output."""
    result = subprocess.run(
        [docker_client(), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        input=input_text,
        env={**os.environ, **(env or {})},
        check=False,
    )
    if check and result.returncode != 0:
        raise RuntimeError(
            f"docker {' '.join(args[:3])} ... exited {result.returncode}:\n"
            f"{result.stdout[-4000:]}\n{result.stderr[-4000:]}"
        )
    return result


@cache
def _daemon_problem() -> str | None:
    """None when the daemon answers, else one sentence saying why not (asked once per session)."""
    try:
        result = run("info", "--format", "{{.ServerVersion}}", check=False, timeout=20)
    except FileNotFoundError:
        return f"the Docker client {docker_client()} is not installed"
    except subprocess.TimeoutExpired:
        return "the Docker daemon did not answer within 20 s"
    if result.returncode != 0 or not result.stdout.strip():
        detail = (result.stderr.strip().splitlines() or ["no output"])[-1]
        return f"the Docker daemon does not answer ({detail})"
    return None


def docker_available() -> bool:
    return _daemon_problem() is None


def require_docker() -> None:
    """Fail in CI, skip elsewhere (visibly, with the reason), when Docker cannot be used."""
    problem = _daemon_problem()
    if problem is None:
        return
    if os.environ.get("CI", "").lower() in {"1", "true", "yes"}:
        pytest.fail(f"Container tests cannot run in CI: {problem}.", pytrace=False)
    pytest.skip(f"Docker is not usable here: {problem}.")


def build_image(
    dockerfile: Path | str,
    tag: str,
    *,
    target: str | None = None,
    context: Path = REPO_ROOT,
    build_args: Mapping[str, str] | None = None,
    timeout: float = 900,
) -> str:
    """``docker build`` with BuildKit; return the image id. A failed build raises with its log."""
    args = ["build", "--file", str(dockerfile), "--tag", tag, "--progress", "plain"]
    if target:
        args += ["--target", target]
    for key, value in (build_args or {}).items():
        args += ["--build-arg", f"{key}={value}"]
    run(*args, str(context), timeout=timeout, env={"DOCKER_BUILDKIT": "1"})
    return image_id(tag)


def image_id(tag: str) -> str:
    return run("image", "inspect", "--format", "{{.Id}}", tag).stdout.strip()


def image_exists(tag: str) -> bool:
    return run("image", "inspect", tag, check=False, timeout=30).returncode == 0


def inspect(kind: str, name: str) -> dict[str, Any]:
    """``docker <kind> inspect`` of one object, as a dict."""
    data = json.loads(run(kind, "inspect", name).stdout)
    return dict(data[0])


def unique_name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def remove_container(name: str) -> None:
    """Force-remove a container (running or not); a missing one is fine."""
    run("rm", "--force", "--volumes", name, check=False, timeout=60)


def remove_network(name: str) -> None:
    run("network", "rm", name, check=False, timeout=60)


@contextmanager
def containers() -> Iterator[list[str]]:
    """Collects container names; every one still there is force-removed on exit."""
    names: list[str] = []
    try:
        yield names
    finally:
        for name in names:
            remove_container(name)


@contextmanager
def network(prefix: str = "yss-test") -> Iterator[str]:
    """A user-defined bridge network (DNS between its containers), removed on exit."""
    name = unique_name(prefix)
    run("network", "create", "--label", TEST_LABEL, name)
    try:
        yield name
    finally:
        remove_network(name)


def run_args(
    image: str,
    *,
    name: str,
    env: Mapping[str, str] | None = None,
    extra: Sequence[str] = (),
    command: Sequence[str] = (),
) -> list[str]:
    """Arguments for ``docker run --detach`` with the test label, env and extra options."""
    args = ["run", "--detach", "--name", name, "--label", TEST_LABEL]
    for key, value in (env or {}).items():
        args += ["--env", f"{key}={value}"]
    return [*args, *extra, image, *command]


def save_oci(tag: str, path: Path) -> str:
    """Export ``tag`` from the daemon as a single-platform OCI archive; return its manifest digest.

    skopeo writes an OCI image layout (``oci-layout``, ``index.json``, ``blobs/sha256/...``) into
    a tar, the layout ``Container.as_tarball()`` produces and ``images.oci_manifest`` reads. The
    member names are normalised (no ``./`` prefix) so they can be opened by name.
    """
    skopeo = shutil.which("skopeo")
    if skopeo is None:
        raise RuntimeError("skopeo is not installed: .ci/run installs it (apt-get install skopeo).")
    with tempfile.TemporaryDirectory() as scratch:
        layout = Path(scratch) / "layout"
        subprocess.run(
            [skopeo, "copy", "--quiet", f"docker-daemon:{tag}", f"oci:{layout}"],
            check=True,
            capture_output=True,
            text=True,
            timeout=600,
        )
        index = json.loads((layout / "index.json").read_text())
        with tarfile.open(path, "w") as archive:
            for member in sorted(layout.rglob("*")):
                if member.is_file():
                    archive.add(member, arcname=member.relative_to(layout).as_posix())
    return str(index["manifests"][0]["digest"])


def save_as_tarball(tag: str, path: Path) -> str:
    """Export ``tag`` as ``Container.as_tarball()`` writes one platform; return the config digest.

    That is BuildKit's OCI exporter in its Docker variant: ``oci-layout``, ``index.json`` and a
    ``manifest.json`` naming the same blobs, gzip layers, and the image config's bytes as built,
    with Docker's own fields such as ``Healthcheck`` (skopeo's OCI conversion drops those). The
    config digest is the id a Docker engine knows the image by once it is loaded.
    """
    with tempfile.TemporaryDirectory() as scratch:
        saved = Path(scratch) / "saved.tar"
        run("save", "--output", str(saved), tag, timeout=600)
        with tarfile.open(saved) as archive:

            def read(name: str) -> bytes:
                member = archive.extractfile(name)
                assert member is not None, name
                return member.read()

            entry = json.loads(read("manifest.json"))[0]
            config = read(entry["Config"])
            layers = [
                gzip.compress(read(name), compresslevel=1, mtime=0) for name in entry["Layers"]
            ]
    blobs = {f"sha256:{hashlib.sha256(b).hexdigest()}": b for b in (config, *layers)}
    config_digest, *layer_digests = (
        f"sha256:{hashlib.sha256(b).hexdigest()}" for b in (config, *layers)
    )
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                "digest": config_digest,
                "size": len(config),
            },
            "layers": [
                {
                    "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                    "digest": digest,
                    "size": len(blobs[digest]),
                }
                for digest in layer_digests
            ],
        }
    ).encode()
    manifest_digest = f"sha256:{hashlib.sha256(manifest).hexdigest()}"
    blobs[manifest_digest] = manifest
    index = {
        "schemaVersion": 2,
        "manifests": [
            {
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "digest": manifest_digest,
                "size": len(manifest),
            }
        ],
    }

    def blob_path(digest: str) -> str:
        return "blobs/sha256/" + digest.split(":", 1)[1]

    docker_manifest = [
        {
            "Config": blob_path(config_digest),
            "RepoTags": None,
            "Layers": [blob_path(d) for d in layer_digests],
        }
    ]
    with tarfile.open(path, "w") as out:
        for name, data in [
            ("oci-layout", b'{"imageLayoutVersion":"1.0.0"}'),
            ("index.json", json.dumps(index).encode()),
            ("manifest.json", json.dumps(docker_manifest).encode()),
            *((blob_path(d), b) for d, b in blobs.items()),
        ]:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            out.addfile(info, io.BytesIO(data))
    return config_digest
