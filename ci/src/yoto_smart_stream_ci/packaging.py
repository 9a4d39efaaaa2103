"""``package`` on the host: ``sam build``, skipped when its inputs have not changed.

Dagger caches the build step on the content of its inputs; the host mirrors that by hashing
the same input files (``shared.PACKAGE_INPUTS``) plus the tool versions and storing the digest
next to the output. An unchanged tree costs one hash instead of a build.
"""

from __future__ import annotations

import fcntl
import hashlib
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from yoto_smart_stream_ci import sam
from yoto_smart_stream_ci.shared import PACKAGE_INPUTS

DIGEST_FILE = ".inputs.sha256"
SKIPPED_PARTS = ("__pycache__", ".pyc")


@dataclass(frozen=True)
class PackageResult:
    build_dir: Path
    digest: str
    rebuilt: bool
    seconds: float


def input_files(repo_root: Path) -> list[Path]:
    files: set[Path] = set()
    for pattern in PACKAGE_INPUTS:
        files.update(p for p in repo_root.glob(pattern) if p.is_file())
    return sorted(
        p for p in files if not any(part in str(p.relative_to(repo_root)) for part in SKIPPED_PARTS)
    )


def inputs_digest(repo_root: Path) -> str:
    digest = hashlib.sha256()
    digest.update(f"python {sys.version}\n".encode())
    digest.update(f"sam {_sam_version()}\n".encode())
    for path in input_files(repo_root):
        digest.update(path.relative_to(repo_root).as_posix().encode() + b"\0")
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


def _sam_version() -> str:
    from importlib.metadata import version

    return version("aws-sam-cli")


def package(repo_root: Path, build_dir: Path) -> PackageResult:
    """Build into ``build_dir`` unless it already holds the build of these exact inputs."""
    started = time.monotonic()
    build_dir.parent.mkdir(parents=True, exist_ok=True)
    # Two runs sharing a build dir (two terminals, two test sessions) take turns.
    with open(build_dir.parent / f".{build_dir.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        return _package_locked(repo_root, build_dir, started)


def _package_locked(repo_root: Path, build_dir: Path, started: float) -> PackageResult:
    digest = inputs_digest(repo_root)
    marker = build_dir / DIGEST_FILE
    if marker.is_file() and marker.read_text().strip() == digest:
        return PackageResult(build_dir, digest, False, time.monotonic() - started)
    if build_dir.exists():
        # Empty it rather than remove it: the build dir may be a mount point (a volume shared
        # between the package container and the deploy container), which cannot be removed.
        for child in build_dir.iterdir():
            if child.is_dir() and not child.is_symlink():
                shutil.rmtree(child)
            else:
                child.unlink()
    try:
        result = subprocess.run(  # noqa: S603 - fixed argv built by sam.build_args
            sam.build_args(build_dir=build_dir.resolve()),
            cwd=repo_root,
            capture_output=True,
            text=True,
            check=False,
        )
    except FileNotFoundError as error:
        raise RuntimeError(
            "`sam` is not on PATH: run inside the project environment (`uv run ...`)."
        ) from error
    if result.returncode != 0:
        print(result.stdout + result.stderr, file=sys.stderr, flush=True)
        raise RuntimeError(f"`sam build` failed with exit code {result.returncode}.")
    marker.write_text(digest + "\n")
    return PackageResult(build_dir, digest, True, time.monotonic() - started)
