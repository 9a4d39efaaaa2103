"""Local stand-ins for the public base images our Dockerfiles name, for machines with no registry.

``uv run python -m tests.containers.standins`` makes sure every image in ``PUBLIC_IMAGES`` is in
the local Docker daemon: an image already there is kept (fast, idempotent), else the real image is
pulled, and only when the pull fails (no registry reachable, as on the CI machines) a clearly
labelled stand-in is built:

- ``python:3.13-slim`` and ``python:3.13-slim-trixie`` (one image, two tags): Debian trixie
  ``minbase`` by ``debootstrap`` with Debian's ``python3`` (3.13) and ``python3-venv``; ``python``
  and ``python3`` in ``/usr/local/bin`` as in the real image, pip installed there too (the real
  image ships it), apt sources for trixie, and the host's CA bundle baked in and named by the
  usual variables, because TLS to PyPI here only verifies against that bundle.
- ``ghcr.io/astral-sh/uv:0.13.9``: the static ``uv`` and ``uvx`` binaries at ``/uv`` and ``/uvx``
  from the hash-pinned musllinux ``uv`` wheel on PyPI (``uv.Dockerfile``), as in the real image.

Every stand-in carries ``dev.yoto-smart-stream.stand-in=true`` and an OCI description starting
``LOCAL STAND-IN``, so ``docker image inspect`` tells at once which kind is in use, plus a digest
of this recipe (``...stand-in-recipe``): a stand-in from an older recipe is rebuilt (its tag
moves; containers still using the old image keep it).
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from pathlib import Path

from tests.support import docker

STANDINS_DIR = Path(__file__).resolve().parent
PYTHON_IMAGES = ("python:3.13-slim", "python:3.13-slim-trixie")
UV_IMAGE = "ghcr.io/astral-sh/uv:0.13.9"
PUBLIC_IMAGES = (*PYTHON_IMAGES, UV_IMAGE)
STAND_IN_LABEL = "dev.yoto-smart-stream.stand-in"
# A digest of how stand-ins are made: a stand-in built by an older recipe is rebuilt.
RECIPE_LABEL = "dev.yoto-smart-stream.stand-in-recipe"
DEBIAN_SUITE = "trixie"
HOST_CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")
# The variables through which Python, pip, requests, curl and uv find a CA bundle.
CA_ENV = {
    "SSL_CERT_FILE": str(HOST_CA_BUNDLE),
    "REQUESTS_CA_BUNDLE": str(HOST_CA_BUNDLE),
    "PIP_CERT": str(HOST_CA_BUNDLE),
    "CURL_CA_BUNDLE": str(HOST_CA_BUNDLE),
    # uv 0.13 reads UV_SYSTEM_CERTS; UV_NATIVE_TLS is the older name for the same switch.
    "UV_SYSTEM_CERTS": "1",
    "UV_NATIVE_TLS": "1",
}
PULL_TIMEOUT_SECONDS = 60

Log = Callable[[str], None]


def recipe() -> str:
    digest = hashlib.sha256()
    for name in ("__init__.py", "uv.Dockerfile", "uv-requirements.txt"):
        digest.update((STANDINS_DIR / name).read_bytes())
    return digest.hexdigest()[:16]


def _labels(tag: str) -> dict[str, str]:
    return dict(docker.inspect("image", tag)["Config"].get("Labels") or {})


def is_stand_in(tag: str) -> bool:
    return _labels(tag).get(STAND_IN_LABEL) == "true"


def _current(tag: str) -> str | None:
    """How a present image stays: None when it is absent or a stand-in of an older recipe."""
    if not docker.image_exists(tag):
        return None
    labels = _labels(tag)
    if labels.get(STAND_IN_LABEL) != "true":
        return "present"
    return "stand-in (already built)" if labels.get(RECIPE_LABEL) == recipe() else None


def _pull(tag: str) -> bool:
    try:
        result = docker.run("pull", "--quiet", tag, check=False, timeout=PULL_TIMEOUT_SECONDS)
    except subprocess.TimeoutExpired:
        return False
    return result.returncode == 0


def _as_root(*command: str, **kwargs: object) -> subprocess.CompletedProcess[bytes]:
    prefix = [] if os.geteuid() == 0 else ["sudo"]
    return subprocess.run([*prefix, *command], check=True, **kwargs)  # type: ignore[call-overload,no-any-return]


def _host_apt_uris() -> list[str]:
    """Every repository URI in the host's apt sources (one-line and deb822 formats)."""
    files = [Path("/etc/apt/sources.list"), *sorted(Path("/etc/apt/sources.list.d").glob("*"))]
    uris: list[str] = []
    for path in files:
        if not path.is_file() or path.suffix not in {".list", ".sources", ""}:
            continue
        for line in path.read_text(errors="replace").splitlines():
            line = line.strip()
            if line.startswith("URIs:"):
                uris += line.removeprefix("URIs:").split()
            elif line.startswith("deb "):
                uris += [word for word in line.split()[1:] if "://" in word][:1]
    return uris


def debian_mirrors() -> tuple[str, str | None]:
    """(archive, security archive or None): ``$YSS_DEBIAN_MIRROR`` or the host's apt sources."""
    configured = os.environ.get("YSS_DEBIAN_MIRROR")
    uris = [u.rstrip("/") for u in _host_apt_uris()]
    archive = configured or next((u for u in uris if u.endswith("/debian")), None)
    if archive is None:
        raise RuntimeError(
            "No Debian mirror found in the host's apt sources: set YSS_DEBIAN_MIRROR to one "
            "(the URL ending in /debian) to build the Python stand-in."
        )
    security = next((u for u in uris if u.endswith("/debian-security")), None)
    return archive.rstrip("/"), security


def _sources(archive: str, security: str | None) -> str:
    """deb822 sources for trixie, laid out like the real image's debian.sources."""
    keyring = "/usr/share/keyrings/debian-archive-keyring.gpg"
    text = (
        f"Types: deb\nURIs: {archive}\nSuites: {DEBIAN_SUITE} {DEBIAN_SUITE}-updates\n"
        f"Components: main\nSigned-By: {keyring}\n"
    )
    if security:
        text += (
            f"\nTypes: deb\nURIs: {security}\nSuites: {DEBIAN_SUITE}-security\n"
            f"Components: main\nSigned-By: {keyring}\n"
        )
    return text


def build_python_stand_in(tags: tuple[str, ...], log: Log) -> None:
    """debootstrap trixie with python3, shape it like python:3.13-slim, import it as ``tags``."""
    for tool in ("debootstrap", "chroot", "tar"):
        if shutil.which(tool) is None and not Path(f"/usr/sbin/{tool}").exists():
            raise RuntimeError(f"{tool} is not installed: .ci/run installs it (apt-get).")
    if not HOST_CA_BUNDLE.is_file():
        raise RuntimeError(f"The host CA bundle {HOST_CA_BUNDLE} is missing.")
    archive, security = debian_mirrors()
    scratch = Path(tempfile.mkdtemp(prefix="yss-python-standin-"))
    rootfs = scratch / "rootfs"
    try:
        log(f"debootstrap {DEBIAN_SUITE} (minbase + python3) into {rootfs}")
        _as_root(
            "debootstrap",
            "--variant=minbase",
            "--include=python3,python3-venv,ca-certificates",
            DEBIAN_SUITE,
            str(rootfs),
            archive,
            stdout=subprocess.DEVNULL,
        )
        # The real image keeps CPython and pip in /usr/local; so does the stand-in (pip from
        # Debian's own pip wheel, outside dpkg, so an image can uninstall it like the real one).
        script = """
set -eu
ln -sf /usr/bin/python3 /usr/local/bin/python3
ln -sf /usr/bin/python3 /usr/local/bin/python
wheel=$(ls /usr/share/python-wheels/pip-*.whl | head -n1)
# Debian's pip installs to /usr/local by default.
python3 "$wheel/pip" install --quiet --no-index --no-cache-dir --root-user-action=ignore \
    --break-system-packages "$wheel"
mkdir -p /usr/local/share/ca-certificates
rm -f /etc/apt/sources.list /etc/resolv.conf /etc/hostname
rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin /var/cache/apt/archives/*.deb /tmp/* \
    /usr/share/doc/* /usr/share/man/* /var/log/*.log /var/log/apt/*
"""
        _as_root("chroot", str(rootfs), "/bin/sh", "-c", script)
        sources = _sources(archive, security)
        bundle = HOST_CA_BUNDLE.read_bytes()
        staged = scratch / "staged"
        staged.mkdir()
        (staged / "debian.sources").write_text(sources)
        (staged / "ca.crt").write_bytes(bundle)
        # The bundle replaces Debian's and is kept as a local CA too, so an update-ca-certificates
        # run inside a derived image keeps trusting the host's roots.
        for source, dest in (
            ("debian.sources", "etc/apt/sources.list.d/debian.sources"),
            ("ca.crt", "etc/ssl/certs/ca-certificates.crt"),
            ("ca.crt", "usr/local/share/ca-certificates/host-ca-bundle.crt"),
        ):
            _as_root("cp", str(staged / source), str(rootfs / dest))
        version = subprocess.run(
            [*([] if os.geteuid() == 0 else ["sudo"]), "chroot", str(rootfs), "python3", "-V"],
            check=True,
            capture_output=True,
            text=True,
        ).stdout.split()[-1]
        description = (
            f"LOCAL STAND-IN for {' and '.join(tags)} (Debian {DEBIAN_SUITE} by debootstrap, "
            f"Debian python3 {version}, host CA bundle); built by tests/containers/standins "
            "because no container registry was reachable. Not the official image."
        )
        changes = [
            "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            "ENV LANG=C.UTF-8",
            f"ENV PYTHON_VERSION={version}",
            *(f"ENV {key}={value}" for key, value in CA_ENV.items()),
            f'LABEL org.opencontainers.image.description="{description}"',
            f'LABEL {STAND_IN_LABEL}="true"',
            f'LABEL {RECIPE_LABEL}="{recipe()}"',
            'CMD ["python3"]',
        ]
        change_args = [arg for change in changes for arg in ("--change", change)]
        log(f"importing the root filesystem as {tags[0]}")
        prefix = [] if os.geteuid() == 0 else ["sudo"]
        with subprocess.Popen(
            [*prefix, "tar", "--numeric-owner", "-C", str(rootfs), "-c", "."],
            stdout=subprocess.PIPE,
        ) as tar:
            imported = subprocess.run(
                [docker.docker_client(), "import", *change_args, "-", tags[0]],
                stdin=tar.stdout,
                capture_output=True,
                text=True,
                check=False,
            )
        if tar.returncode != 0 or imported.returncode != 0:
            raise RuntimeError(f"docker import of the Python stand-in failed: {imported.stderr}")
        for tag in tags[1:]:
            docker.run("tag", tags[0], tag)
    finally:
        _as_root("rm", "-rf", "--one-file-system", str(scratch))


def _pinned_uv_version() -> str:
    text = (STANDINS_DIR / "uv-requirements.txt").read_text()
    match = re.search(r"^uv==(\S+)", text, re.MULTILINE)
    assert match, "uv-requirements.txt pins no uv version"
    return match.group(1)


def build_uv_stand_in(tag: str, log: Log) -> None:
    version = tag.rpartition(":")[2]
    if version != _pinned_uv_version():
        raise RuntimeError(
            f"{tag} needs uv {version} but uv-requirements.txt pins {_pinned_uv_version()}."
        )
    log(f"building {tag} from the uv {version} wheel")
    docker.build_image(
        STANDINS_DIR / "uv.Dockerfile",
        tag,
        context=STANDINS_DIR,
        build_args={"UV_VERSION": version, "PYTHON_IMAGE": PYTHON_IMAGES[0], "RECIPE": recipe()},
    )


def ensure_base_images(log: Log = print) -> dict[str, str]:
    """Make every image in ``PUBLIC_IMAGES`` present; return tag -> how it got there."""
    how: dict[str, str] = {}
    for tag in PUBLIC_IMAGES:
        current = _current(tag)
        if current:
            how[tag] = current
        elif _pull(tag):
            how[tag] = "pulled"
    missing_python = tuple(tag for tag in PYTHON_IMAGES if tag not in how)
    if missing_python:
        build_python_stand_in(missing_python, log)
        how.update(dict.fromkeys(missing_python, "stand-in built"))
    if UV_IMAGE not in how:
        build_uv_stand_in(UV_IMAGE, log)
        how[UV_IMAGE] = "stand-in built"
    return how
