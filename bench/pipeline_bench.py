"""Pipeline benchmark: the host emulator run, step by step, and the package cache.

Measured side by side in one run, on the host, with the same core the Dagger containers run
(``python -m yoto_smart_stream_ci``) against a moto server on 127.0.0.1:

1. ``package`` twice on the same build directory: the first builds, the second finds the
   same input digest and reuses the build. Goal: second / first <= 0.2.
2. ``deploy --env pr-42`` (network, secrets, sam package, stack, dashboard, smoke test),
   ``smoke --env pr-42`` and ``teardown --env pr-42``: wall time per step.

Usage: ``uv run python bench/pipeline_bench.py`` (writes .bench-out/pipeline.json too).
"""

from __future__ import annotations

import json
import re
import sys
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO_ROOT), str(REPO_ROOT / "ci" / "src")]

from tests.support.moto_server import running_moto_server  # noqa: E402
from tests.support.oci import build_oci_tarball  # noqa: E402
from tests.support.pipeline_cli import PipelineRunner  # noqa: E402

PACKAGE_GOAL = 0.2


def timed(runner: PipelineRunner, *args: str) -> tuple[float, str]:
    started = time.monotonic()
    result = runner.run(*args, timeout=600)
    elapsed = time.monotonic() - started
    if result.returncode != 0:
        raise SystemExit(
            f"`{' '.join(args[:3])}` failed:\n{result.stdout[-2000:]}{result.stderr[-2000:]}"
        )
    return elapsed, result.stdout


def main() -> int:
    results: dict[str, float] = {}
    with (
        tempfile.TemporaryDirectory(prefix="pipeline-bench-") as tmp,
        running_moto_server() as endpoint,
    ):
        work = Path(tmp)
        build_dir = work / "build"
        runner = PipelineRunner(endpoint)
        results["package (first, builds)"], _ = timed(
            runner, "package", "--build-dir", str(build_dir)
        )
        results["package (second, unchanged)"], second = timed(
            runner, "package", "--build-dir", str(build_dir)
        )
        if "unchanged inputs" not in second:
            raise SystemExit("The second package rebuilt although nothing changed.")

        tarball = work / "mqtt.tar"
        build_oci_tarball(REPO_ROOT / "mqtt", tarball)
        results["deploy pr-42 (total)"], summary = timed(
            runner,
            "deploy", "--env", "pr-42", "--build-dir", str(build_dir),
            "--oci-tarball", str(tarball), "--no-cloudfront",
            "--dashboard-dir", "yoto_smart_stream/api/static",
        )  # fmt: skip
        steps = re.search(r"durations\s+: (.*)", summary)
        if steps:
            for item in steps.group(1).split(", "):
                name, _, seconds = item.rpartition(" ")
                results[f"  deploy: {name}"] = float(seconds.rstrip("s"))
        results["smoke pr-42"], _ = timed(runner, "smoke", "--env", "pr-42")
        results["teardown pr-42"], torn = timed(runner, "teardown", "--env", "pr-42")
        if "Verified: nothing of pr-42 remains." not in torn:
            raise SystemExit("Teardown left resources behind.")

    ratio = results["package (second, unchanged)"] / results["package (first, builds)"]
    width = max(len(k) for k in results)
    print("Pipeline benchmark (host, moto emulator on 127.0.0.1)")
    for name, seconds in results.items():
        print(f"  {name:<{width}}  {seconds:7.2f} s")
    verdict = "meets" if ratio <= PACKAGE_GOAL else "MISSES"
    print(f"  second package / first package = {ratio:.3f} ({verdict} the goal <= {PACKAGE_GOAL})")
    out = REPO_ROOT / ".bench-out"
    out.mkdir(exist_ok=True)
    (out / "pipeline.json").write_text(json.dumps({**results, "package_ratio": ratio}, indent=2))
    return 0 if ratio <= PACKAGE_GOAL else 1


if __name__ == "__main__":
    sys.exit(main())
