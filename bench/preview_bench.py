"""Preview benchmark: from an empty machine state to a browsable preview, and a redeploy.

Measured in one run on the host, with the same commands a newcomer types (README quick start):

1. Wall time from `emulator` start to a preview whose `/api/health` answers: emulator up,
   `package` (reused when the inputs are unchanged; `--cold-package` rebuilds), `deploy --env
   pr-42`, `preview --env pr-42` up and answering.
2. The second deploy of the same commit into the same account, as a ratio to the first.

Usage: ``uv run python -m bench.preview_bench [--cold-package]``.
"""

from __future__ import annotations

import argparse
import os
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO_ROOT), str(REPO_ROOT / "ci" / "src")]

from tests.support.moto_server import free_port  # noqa: E402
from tests.support.oci import build_oci_tarball  # noqa: E402

BUILD_DIR = REPO_ROOT / ".aws-sam" / "bench-preview" / "build"


def environ() -> dict[str, str]:
    keep = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "YOTO_"))}
    return {**keep, "PYTHONPATH": str(REPO_ROOT / "ci" / "src")}


def core(*args: str) -> float:
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-m", "yoto_smart_stream_ci", *args],
        cwd=REPO_ROOT, env=environ(), capture_output=True, text=True, check=False,
    )  # fmt: skip
    if result.returncode != 0:
        raise SystemExit(f"{args[0]} failed:\n{result.stdout[-2000:]}{result.stderr[-2000:]}")
    return time.monotonic() - started


def first_line(process: subprocess.Popen[str], marker: str, seconds: float) -> str:
    assert process.stdout is not None
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        ready, _, _ = select.select([process.stdout], [], [], 1)
        line = process.stdout.readline() if ready else ""
        if marker in line:
            return line
    raise SystemExit(f"no {marker!r} within {seconds} s")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cold-package", action="store_true")
    args = parser.parse_args(argv)
    if args.cold_package and BUILD_DIR.exists():
        shutil.rmtree(BUILD_DIR)
    started = time.monotonic()
    processes: list[subprocess.Popen[str]] = []
    try:
        emulator = subprocess.Popen(
            [sys.executable, "-m", "yoto_smart_stream_ci", "emulator", "--port", "0"],
            cwd=REPO_ROOT, env=environ(), stdout=subprocess.PIPE, text=True,
        )  # fmt: skip
        processes.append(emulator)
        url = first_line(emulator, "listening on", 60).rsplit(" ", 1)[1].strip()
        figures = {"emulator up (s)": time.monotonic() - started}
        figures["package (s)"] = core("package", "--build-dir", str(BUILD_DIR))
        with tempfile.TemporaryDirectory() as tmp:
            tarball = Path(tmp) / "mqtt.tar"
            build_oci_tarball(REPO_ROOT / "mqtt", tarball)
            deploy = ("deploy", "--env", "pr-42", "--build-dir", str(BUILD_DIR), "--oci-tarball",
                      str(tarball), "--no-cloudfront", "--commit", "0123456789ab", "--emulator", url)  # fmt: skip
            figures["first deploy (s)"] = core(*deploy)
            port = free_port()
            preview = subprocess.Popen(
                [sys.executable, "-m", "yoto_smart_stream_ci", "preview", "--env", "pr-42",
                 "--port", str(port), "--emulator", url],
                cwd=REPO_ROOT, env=environ(), stdout=subprocess.PIPE, text=True,
            )  # fmt: skip
            processes.append(preview)
            first_line(preview, "Preview of pr-42", 120)
            health = f"http://127.0.0.1:{port}/pr-42/api/health"
            while httpx.get(health, timeout=10).status_code != 200:
                time.sleep(0.2)
            figures["emulator start -> preview answers /api/health (s)"] = (
                time.monotonic() - started
            )
            figures["second deploy, same commit (s)"] = core(*deploy)
    finally:
        for process in reversed(processes):
            process.send_signal(signal.SIGINT)
            process.wait(30)
    figures["second deploy / first deploy"] = (
        figures["second deploy, same commit (s)"] / figures["first deploy (s)"]
    )
    width = max(map(len, figures))
    print("Preview benchmark (host, 2 shared CPUs)")
    for name, value in figures.items():
        print(f"  {name:<{width}}  {value:8.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
