"""Container benchmark: the toolchain image build, and the emulator lifecycle in containers.

Measured side by side in one run with a real Docker engine:

1. The toolchain image (``ci/Dockerfile``, stage ``workspace``) built cold (BuildKit's cache,
   including uv's cache mount, pruned first: a fresh machine), then warm after a change only in
   ``yoto_smart_stream/`` (the dependency layers are reused; only the source layers rebuild).
   Goal: warm / cold <= 0.2. The build context is a copy of the tracked files, so the working
   tree is never touched. ``--no-prune`` skips the prune (a "cold" that is only layer-cold).
2. The emulator lifecycle (package, ``deploy --env pr-42``, smoke test, teardown) in containers
   (moto as a sibling container, each core command in its own container: what ``dagger call``
   runs) and on the host (the same core against a moto server on 127.0.0.1), alternated
   ``--rounds`` times; the ratio containers / host of the medians.

Usage: ``uv run python -m bench.container_bench [--rounds 1] [--no-prune] [--skip-build]``.
Pruning the build cache slows the next container test run; don't run it during one.
"""

from __future__ import annotations

import argparse
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO_ROOT), str(REPO_ROOT / "ci" / "src")]

from tests.containers.standins import ensure_base_images  # noqa: E402
from tests.support import docker  # noqa: E402
from tests.support.container_pipeline import KEPT_ACCOUNT, emulated_account  # noqa: E402
from tests.support.moto_server import running_moto_server  # noqa: E402
from tests.support.pipeline_cli import PipelineRunner  # noqa: E402
from yoto_smart_stream_ci import contract  # noqa: E402
from yoto_smart_stream_ci.main import OCI_TARBALL, deploy_request, smoke_request, teardown_request  # noqa: E402
from yoto_smart_stream_ci.shared import (  # noqa: E402
    ADMIN_PASSWORD_VAR,
    BUILD_DIR,
    MQTT_DOCKERFILE,
    TOOLCHAIN_DOCKERFILE,
    WORKSPACE_STAGE,
)

BUILD_GOAL = 0.2
TAG = "yoto-smart-stream-toolchain:bench"
MQTT_TAG = "yoto-smart-stream-mqtt:bench"
ENV = "pr-42"


def copy_tracked_files(destination: Path) -> None:
    files = subprocess.run(
        ["git", "ls-files", "-z"], cwd=REPO_ROOT, capture_output=True, check=True
    ).stdout.split(b"\0")
    for name in filter(None, files):
        source = REPO_ROOT / name.decode()
        if source.is_file():
            target = destination / name.decode()
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(source.read_bytes())


def timed_build(context: Path) -> float:
    started = time.monotonic()
    docker.build_image(context / TOOLCHAIN_DOCKERFILE, TAG, target=WORKSPACE_STAGE, context=context)
    return time.monotonic() - started


def build_benchmark(prune: bool) -> dict[str, float]:
    with tempfile.TemporaryDirectory(prefix="toolchain-bench-") as tmp:
        context = Path(tmp)
        copy_tracked_files(context)
        if prune:
            docker.run("builder", "prune", "--all", "--force", timeout=600)
        cold = timed_build(context)
        marker = context / "yoto_smart_stream" / "__init__.py"
        marker.write_text(marker.read_text() + f"\n# bench change {secrets.token_hex(4)}\n")
        warm = timed_build(context)
    return {"toolchain build, cold (s)": cold, "toolchain build, warm (s)": warm}


def lifecycle_in_containers(image: str, tarball: Path) -> float:
    password = secrets.token_urlsafe(18)
    started = time.monotonic()
    with emulated_account(image) as account:
        steps: list[tuple[contract.Request, dict[str, object]]] = [
            (contract.PackageRequest(build_dir=BUILD_DIR), {}),
            (
                deploy_request(env=ENV, no_cloudfront=True, yoto_client_id="bench",
                               github_repository="", commit="0123456789ab", account=KEPT_ACCOUNT),
                {"secrets": {ADMIN_PASSWORD_VAR: password},
                 "mounts": ("--volume", f"{tarball}:{OCI_TARBALL}:ro")},
            ),
            (smoke_request(env=ENV, url=None, account=KEPT_ACCOUNT), {}),
            (teardown_request(env=ENV, force=False, github_repository="", account=KEPT_ACCOUNT), {}),
        ]  # fmt: skip
        for request, kwargs in steps:
            result = account.run(request, **kwargs)  # type: ignore[arg-type]
            if result.code != 0:
                raise SystemExit(
                    f"{request.command} failed in a container:\n{result.stderr[-3000:]}"
                )
    return time.monotonic() - started


def lifecycle_on_host(tarball: Path) -> float:
    started = time.monotonic()
    with tempfile.TemporaryDirectory() as tmp, running_moto_server() as endpoint:
        runner = PipelineRunner(endpoint, secrets={ADMIN_PASSWORD_VAR: secrets.token_urlsafe(18)})
        build = str(Path(tmp) / "build")
        for args in (
            ("package", "--build-dir", build),
            ("deploy", "--env", ENV, "--build-dir", build, "--oci-tarball", str(tarball),
             "--no-cloudfront", "--dashboard-dir", "yoto_smart_stream/api/static"),
            ("smoke", "--env", ENV),
            ("teardown", "--env", ENV),
        ):  # fmt: skip
            result = runner.run(*args, timeout=900)
            if result.returncode != 0:
                raise SystemExit(f"{args[0]} failed on the host:\n{result.stderr[-3000:]}")
    return time.monotonic() - started


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--no-prune", action="store_true")
    parser.add_argument("--skip-build", action="store_true")
    args = parser.parse_args(argv)
    ensure_base_images(log=print)
    results: dict[str, float] = {}
    ok = True
    if not args.skip_build:
        results |= build_benchmark(prune=not args.no_prune)
        ratio = results["toolchain build, warm (s)"] / results["toolchain build, cold (s)"]
        results["toolchain build, warm / cold"] = ratio
        ok = ratio <= BUILD_GOAL
    else:
        docker.build_image(REPO_ROOT / TOOLCHAIN_DOCKERFILE, TAG, target=WORKSPACE_STAGE)
    docker.build_image(REPO_ROOT / MQTT_DOCKERFILE, MQTT_TAG)
    with tempfile.TemporaryDirectory() as tmp:
        tarball = Path(tmp) / "mqtt.tar"
        docker.save_oci(MQTT_TAG, tarball)
        inside: list[float] = []
        host: list[float] = []
        for _ in range(args.rounds):
            inside.append(lifecycle_in_containers(TAG, tarball))
            host.append(lifecycle_on_host(tarball))
    results["lifecycle in containers, median (s)"] = statistics.median(inside)
    results["lifecycle on the host, median (s)"] = statistics.median(host)
    results["lifecycle containers / host"] = statistics.median(inside) / statistics.median(host)
    width = max(map(len, results))
    print(f"Container benchmark ({args.rounds} lifecycle round(s), 2 shared CPUs)")
    for name, value in results.items():
        print(f"  {name:<{width}}  {value:8.3f}")
    if not args.skip_build:
        verdict = "meets" if ok else "MISSES"
        print(f"  warm / cold build {verdict} the goal <= {BUILD_GOAL}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
