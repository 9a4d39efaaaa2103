"""Lambda benchmarks for the API, measured side by side with a FastAPI + Mangum hello-world.

Run from the repository root (the README's benchmarks section shows the output):

    uv run python -m bench.app_bench                # all three, 7 rounds
    uv run python -m bench.app_bench --importtime   # plus where the app's import time goes

First both Lambda artifacts are built: the app's by ``sam build`` of
``infrastructure/template.yaml`` (its ``ApiFunction`` directory), the hello-world's by
installing FastAPI and Mangum at the app's locked versions as Linux wheels for CPython 3.13
with precompiled bytecode. Then, like the Lambda runtime, every measurement runs in a child
interpreter that sees only the artifact (working directory first on ``sys.path``, ``-S`` so the
dev virtualenv's packages cannot leak in, no bytecode writing since ``/var/task`` is
read-only) plus what the python3.13 runtime provides (boto3 and its dependencies, at the
locked versions).

1. Cold init: a fresh process imports the handler module and serves its first ``/api/health``
   API Gateway HTTP API (v2) event. Goal: app / hello-world <= 1.2.
2. Warm throughput: ``/api/health`` events per second through the handler, in-process.
   Goal: app / hello-world >= 1.0.
3. Artifact size: the zipped ``sam build`` artifact. Goal: <= 7 MB.

App and hello-world children are interleaved round by round so machine noise hits both alike;
medians are reported. Children print one ``BENCH_RESULT <json>`` line; anything else they print
(the app's logs) is ignored. A health event that does not answer 200 fails the run: a
benchmark of error responses would be meaningless.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
TEMPLATE = REPO_ROOT / "infrastructure" / "template.yaml"
FUNCTION_ID = "ApiFunction"
MODULES = {
    "app": "yoto_smart_stream.api.lambda_handler",
    "hello": "hello_world.app",
}
LABELS = {"hello": "hello-world", "app": "app"}
RESULT_PREFIX = "BENCH_RESULT "
COLD_INIT_GOAL = 1.2
THROUGHPUT_GOAL = 1.0
ARTIFACT_GOAL_MB = 7.0
MB = 1024 * 1024
# The same target the infrastructure Makefile builds for: the python3.13 runtime is Amazon
# Linux 2023 (glibc 2.34).
LAMBDA_PLATFORM = "x86_64-manylinux_2_28"
LAMBDA_PYTHON = "3.13"
# What the python3.13 Lambda runtime provides; the artifact leaves it out (``--prune boto3``).
RUNTIME_PROVIDED = "boto3"

# Settings the app reads; /api/health touches none of the AWS resources named here.
BENCH_ENV = {
    "ENVIRONMENT": "bench",
    "DYNAMODB_TABLE": "yoto-smart-stream-bench",
    "S3_AUDIO_BUCKET": "yoto-smart-stream-bench-audio",
    "PUBLIC_URL": "https://bench.invalid",
    "GIT_COMMIT": "bench",
    "AWS_DEFAULT_REGION": "eu-west-2",
    "AWS_REGION": "eu-west-2",
    "AWS_LAMBDA_FUNCTION_NAME": "yoto-smart-stream-bench-api",
}


def health_event(request_number: int = 0) -> dict[str, object]:
    """An API Gateway HTTP API payload v2.0 event for GET /api/health on the $default stage."""
    now = time.time()
    return {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": "/api/health",
        "rawQueryString": "",
        "headers": {
            "accept": "application/json",
            "host": "bench.execute-api.eu-west-2.amazonaws.com",
            "user-agent": "yoto-bench",
            "x-forwarded-for": "203.0.113.10",
            "x-forwarded-port": "443",
            "x-forwarded-proto": "https",
        },
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "bench",
            "domainName": "bench.execute-api.eu-west-2.amazonaws.com",
            "domainPrefix": "bench",
            "http": {
                "method": "GET",
                "path": "/api/health",
                "protocol": "HTTP/1.1",
                "sourceIp": "203.0.113.10",
                "userAgent": "yoto-bench",
            },
            "requestId": f"bench-{request_number}",
            "routeKey": "$default",
            "stage": "$default",
            "time": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(now)),
            "timeEpoch": int(now * 1000),
        },
        "isBase64Encoded": False,
    }


class LambdaContext:
    """The attributes of the Lambda context object that Mangum reads."""

    function_name = BENCH_ENV["AWS_LAMBDA_FUNCTION_NAME"]
    function_version = "$LATEST"
    invoked_function_arn = (
        f"arn:aws:lambda:eu-west-2:123456789012:function:{BENCH_ENV['AWS_LAMBDA_FUNCTION_NAME']}"
    )
    memory_limit_in_mb = 512
    aws_request_id = "bench-request"
    log_group_name = f"/aws/lambda/{BENCH_ENV['AWS_LAMBDA_FUNCTION_NAME']}"
    log_stream_name = "bench"

    def get_remaining_time_in_millis(self) -> int:
        return 30_000


def _check_health(response: dict[str, object], module: str) -> None:
    if response.get("statusCode") != 200:
        raise SystemExit(
            f"{module}: /api/health answered {response.get('statusCode')} "
            f"instead of 200: {response.get('body')!r}"
        )


# ---------------------------------------------------------------- child side


def child_cold(module_name: str) -> dict[str, float]:
    import importlib

    started, started_cpu = time.perf_counter(), time.process_time()
    module = importlib.import_module(module_name)
    imported = time.perf_counter()
    response = module.handler(health_event(), LambdaContext())
    served, served_cpu = time.perf_counter(), time.process_time()
    _check_health(response, module_name)
    return {
        "import_ms": (imported - started) * 1000,
        "first_event_ms": (served - imported) * 1000,
        "init_ms": (served - started) * 1000,
        "init_cpu_ms": (served_cpu - started_cpu) * 1000,
    }


def child_warm(module_name: str, events: int) -> dict[str, float]:
    import importlib

    handler = importlib.import_module(module_name).handler
    context = LambdaContext()
    batch = [health_event(i) for i in range(events)]
    for event in batch[: min(100, events)]:  # warm-up: first-call caches, lazy imports
        _check_health(handler(event, context), module_name)
    started = time.perf_counter()
    for event in batch:
        response = handler(event, context)
    elapsed = time.perf_counter() - started
    _check_health(response, module_name)
    return {"events_per_s": events / elapsed}


def run_child(args: argparse.Namespace) -> None:
    if args.child == "cold":
        result = child_cold(args.module)
    else:
        result = child_warm(args.module, args.events)
    # Logs the handler wrote are on stdout too; the parent reads only this line.
    sys.stdout.flush()
    print(RESULT_PREFIX + json.dumps(result), flush=True)


# ---------------------------------------------------------------- artifacts


@dataclass(frozen=True)
class Artifacts:
    app: Path  # sam build's ApiFunction directory
    hello: Path  # the hello-world's equivalent
    runtime: Path  # what the python3.13 Lambda runtime provides (boto3 & co)


def run(command: list[str], what: str, cwd: Path = REPO_ROOT) -> str:
    env = {**os.environ, "SAM_CLI_TELEMETRY": "0"}
    proc = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise SystemExit(f"{what} failed (exit {proc.returncode}):\n{proc.stderr[-3000:]}")
    return proc.stdout


def locked_requirements(*extra_args: str) -> list[str]:
    exported = run(
        ["uv", "export", "--frozen", "--no-dev", "--no-emit-project", "--no-hashes",
         "--no-header", "--no-annotate", "--extra", "api", *extra_args],
        "uv export",
    )  # fmt: skip
    return [line.split(";")[0].strip() for line in exported.splitlines() if line[:1].isalnum()]


def install_for_lambda(requirements: list[str], target: Path, *, resolve: bool = False) -> None:
    """Install Linux wheels for the Lambda runtime, as the infrastructure Makefile does.

    ``requirements`` is a complete locked set unless ``resolve`` asks to add dependencies.
    """
    req_file = target.parent / f"{target.name}-requirements.txt"
    req_file.write_text("\n".join(requirements) + "\n")
    run(
        ["uv", "pip", "install", "--quiet", *(() if resolve else ("--no-deps",)),
         "--target", str(target), "--python-platform", LAMBDA_PLATFORM,
         "--python-version", LAMBDA_PYTHON, "--only-binary", ":all:", "--compile-bytecode",
         "-r", str(req_file)],
        f"Installing Lambda wheels into {target.name}",
    )  # fmt: skip
    shutil.rmtree(target / "bin", ignore_errors=True)


def build_artifacts(work: Path) -> Artifacts:
    build_dir = work / "sam-build"
    run(
        [str(Path(sys.executable).parent / "sam"), "build", "--template-file", str(TEMPLATE),
         "--build-dir", str(build_dir)],
        "sam build",
    )  # fmt: skip
    app = build_dir / FUNCTION_ID
    if not (app / "yoto_smart_stream" / "api" / "lambda_handler.py").is_file():
        raise SystemExit(f"sam build produced no {FUNCTION_ID} with yoto_smart_stream in {app}")

    locked = {line.split("==")[0].lower(): line for line in locked_requirements()}
    hello = work / "hello"
    install_for_lambda([locked["fastapi"], locked["mangum"]], hello, resolve=True)
    shutil.copytree(
        REPO_ROOT / "bench" / "hello_world",
        hello / "hello_world",
        ignore=shutil.ignore_patterns("__pycache__"),
    )
    run([sys.executable, "-m", "compileall", "-q", str(hello / "hello_world")], "compileall")

    shipped = set(locked_requirements("--prune", RUNTIME_PROVIDED))
    runtime = work / "runtime"
    install_for_lambda(sorted(set(locked.values()) - shipped), runtime)
    return Artifacts(app=app, hello=hello, runtime=runtime)


# ---------------------------------------------------------------- parent side


def spawn(
    kind: str, target: str, artifacts: Artifacts, *extra: str, python_flags: tuple[str, ...] = ()
) -> dict:
    """One child interpreter that sees only the target's artifact and the runtime's boto3."""
    directory = artifacts.app if target == "app" else artifacts.hello
    # -S: no site-packages (the dev virtualenv); -m puts the working directory (the artifact)
    # first on sys.path, as /var/task is on Lambda; REPO_ROOT comes last, only for `bench`.
    command = [sys.executable, "-S", *python_flags, "-m", "bench.app_bench", "--child", kind]
    command += ["--module", MODULES[target], *extra]
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "PYTHON", "VIRTUAL"))},
        **BENCH_ENV,
        "PYTHONPATH": os.pathsep.join([str(artifacts.runtime), str(REPO_ROOT)]),
        "PYTHONDONTWRITEBYTECODE": "1",
    }
    started = time.perf_counter()
    proc = subprocess.run(
        command, cwd=directory, env=env, capture_output=True, text=True, check=False
    )
    wall_ms = (time.perf_counter() - started) * 1000
    if proc.returncode != 0:
        raise SystemExit(
            f"The {kind} benchmark child for {target} failed (exit {proc.returncode}):\n"
            f"{proc.stderr[-3000:]}{proc.stdout[-1000:]}"
        )
    lines = [line for line in proc.stdout.splitlines() if line.startswith(RESULT_PREFIX)]
    if not lines:
        raise SystemExit(f"The {kind} benchmark child for {target} printed no result.")
    result = json.loads(lines[-1][len(RESULT_PREFIX) :])
    result["wall_ms"] = wall_ms
    result["stderr"] = proc.stderr
    return result


def verdict(ok: bool) -> str:
    return "meets goal" if ok else "MISSES goal"


def bench_cold(artifacts: Artifacts, rounds: int) -> dict[str, float]:
    samples: dict[str, list[dict]] = {"app": [], "hello": []}
    for _ in range(rounds):
        for target in ("hello", "app"):
            samples[target].append(spawn("cold", target, artifacts))
    figures = {
        f"{target}_{key}": statistics.median(s[key] for s in samples[target])
        for target in samples
        for key in ("import_ms", "first_event_ms", "init_ms", "init_cpu_ms", "wall_ms")
    }
    ratios = {
        key: figures[f"app_{key}"] / figures[f"hello_{key}"]
        for key in ("init_ms", "init_cpu_ms", "wall_ms")
    }
    print(f"\nCold init (median of {rounds} fresh processes each; import + first /api/health)")
    print(
        f"  {'':12} {'import':>10} {'1st event':>10} {'init':>10} {'init CPU':>10} {'process':>10}"
    )
    for target in ("hello", "app"):
        print(
            f"  {LABELS[target]:12}"
            + "".join(
                f" {figures[f'{target}_{key}']:8.1f}ms"
                for key in ("import_ms", "first_event_ms", "init_ms", "init_cpu_ms", "wall_ms")
            )
        )
    print(
        f"  ratio app/hello-world: init {ratios['init_ms']:.2f} (goal <= {COLD_INIT_GOAL}: "
        f"{verdict(ratios['init_ms'] <= COLD_INIT_GOAL)}), init CPU {ratios['init_cpu_ms']:.2f}, "
        f"whole process {ratios['wall_ms']:.2f}"
    )
    return {**figures, **{f"ratio_{key}": value for key, value in ratios.items()}}


def bench_warm(artifacts: Artifacts, rounds: int, events: int) -> dict[str, float]:
    samples: dict[str, list[float]] = {"app": [], "hello": []}
    for _ in range(rounds):
        for target in ("hello", "app"):
            result = spawn("warm", target, artifacts, "--events", str(events))
            samples[target].append(result["events_per_s"])
    app = statistics.median(samples["app"])
    hello = statistics.median(samples["hello"])
    ratio = app / hello
    print(f"\nWarm throughput (median of {rounds} processes x {events} events, in-process)")
    print(f"  hello-world  {hello:8.0f} events/s")
    print(f"  app          {app:8.0f} events/s")
    print(
        f"  ratio app/hello-world: {ratio:.2f} (goal >= {THROUGHPUT_GOAL}: "
        f"{verdict(ratio >= THROUGHPUT_GOAL)})"
    )
    return {"app_events_per_s": app, "hello_events_per_s": hello, "ratio": ratio}


def import_costs(artifacts: Artifacts, target: str) -> dict[str, int]:
    """Self import time (us) per top-level package in one cold child (python -X importtime)."""
    result = spawn("cold", target, artifacts, python_flags=("-X", "importtime"))
    per_package: dict[str, int] = {}
    for line in result["stderr"].splitlines():
        if not line.startswith("import time:") or "self [us]" in line:
            continue
        self_us, _cumulative, name = (part.strip() for part in line[12:].split("|"))
        package = name.split(".")[0]
        per_package[package] = per_package.get(package, 0) + int(self_us)
    return per_package


def importtime_report(artifacts: Artifacts, rounds: int, top: int = 15) -> None:
    """What the app's import adds over the hello-world's, per top-level package (medians)."""
    runs: dict[str, list[dict[str, int]]] = {"app": [], "hello": []}
    for _ in range(rounds):
        for target in ("hello", "app"):
            runs[target].append(import_costs(artifacts, target))
    packages = {package for run in runs["app"] + runs["hello"] for package in run}
    median = {
        target: {p: statistics.median(run.get(p, 0) for run in runs[target]) for p in packages}
        for target in runs
    }
    added = {p: median["app"][p] - median["hello"][p] for p in packages}
    totals = {target: sum(median[target].values()) / 1000 for target in median}
    print(
        f"\nImport time the app adds, per top-level package (-X importtime, median of {rounds}; "
        f"app {totals['app']:.0f} ms, hello-world {totals['hello']:.0f} ms)"
    )
    for package, micros in sorted(added.items(), key=lambda kv: -kv[1])[:top]:
        print(
            f"  {package:28} +{micros / 1000:6.1f} ms  "
            f"(app {median['app'][package] / 1000:6.1f}, hello {median['hello'][package] / 1000:6.1f})"
        )


def zip_artifact(directory: Path, zip_path: Path) -> tuple[int, dict[str, int]]:
    """Zip like a Lambda deployment package; return its size and compressed bytes per package."""
    with zipfile.ZipFile(zip_path, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(directory.rglob("*")):
            if path.is_file():
                archive.write(path, path.relative_to(directory).as_posix())
    per_package: dict[str, int] = {}
    with zipfile.ZipFile(zip_path) as archive:
        for info in archive.infolist():
            top = info.filename.split("/")[0].split("-")[0].removesuffix(".py")
            per_package[top] = per_package.get(top, 0) + info.compress_size
    return zip_path.stat().st_size, per_package


def bench_size(artifacts: Artifacts, work: Path) -> dict[str, float]:
    app_size, per_package = zip_artifact(artifacts.app, work / "app.zip")
    hello_size, _ = zip_artifact(artifacts.hello, work / "hello.zip")
    runtime_size, _ = zip_artifact(artifacts.runtime, work / "runtime.zip")
    print(f"\nArtifact size (zipped, deflate; sam build {FUNCTION_ID}; CPython {LAMBDA_PYTHON})")
    print(f"  hello-world  {hello_size / MB:7.2f} MB")
    print(
        f"  app          {app_size / MB:7.2f} MB (goal <= {ARTIFACT_GOAL_MB:.0f} MB: "
        f"{verdict(app_size / MB <= ARTIFACT_GOAL_MB)}), ratio {app_size / hello_size:.2f}"
    )
    print(f"  left to the Lambda runtime ({RUNTIME_PROVIDED} & deps): {runtime_size / MB:.2f} MB")
    largest = sorted(per_package.items(), key=lambda kv: -kv[1])[:6]
    print("  largest parts: " + ", ".join(f"{n} {s / MB:.2f} MB" for n, s in largest))
    return {"app_mb": app_size / MB, "hello_mb": hello_size / MB, "runtime_mb": runtime_size / MB}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=7, help="processes per target and benchmark")
    parser.add_argument("--events", type=int, default=2000, help="events per warm process")
    parser.add_argument("--importtime", action="store_true", help="break down app import time")
    parser.add_argument("--child", choices=("cold", "warm"), help=argparse.SUPPRESS)
    parser.add_argument("--module", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        run_child(args)
        return
    print(
        f"Yoto Smart Stream Lambda benchmarks (Python {sys.version.split()[0]}, {os.cpu_count()} CPUs)"
    )
    with tempfile.TemporaryDirectory(prefix="yoto-bench-") as tmp:
        work = Path(tmp)
        artifacts = build_artifacts(work)
        bench_cold(artifacts, args.rounds)
        bench_warm(artifacts, args.rounds, args.events)
        if args.importtime:
            importtime_report(artifacts, min(args.rounds, 5))
        bench_size(artifacts, work)


if __name__ == "__main__":
    main()
