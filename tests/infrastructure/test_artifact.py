"""`sam build` on the host, then the built artifact's handler answers /api/health (defect 7).

The handler runs in a subprocess whose sys.path holds only the standard library, the built
artifact and a stand-in for what the python3.13 Lambda runtime itself provides (boto3 and its
dependencies) - never the source tree or the project's virtualenv.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.infrastructure.conftest import Deployment
from tests.support.sam_template import substitute
from tests.support.template import REPO_ROOT, TEMPLATE_PATH, load_template
from yoto_smart_stream_ci import environments, sam

# The target for the zipped artifact: well under Lambda's 50 MB direct-upload limit
# and quick to cold-start.
MAX_ZIPPED_BYTES = 15 * 1024 * 1024
# What the python3.13 Lambda runtime ships besides the standard library; the artifact leaves
# these out (infrastructure/Makefile prunes boto3 and what only it needs).
RUNTIME_PROVIDED = ("boto3", "botocore", "s3transfer", "dateutil", "urllib3", "six")
FAKE_ATTRIBUTES = {
    "HttpApi": "a1b2c3d4e5",
    "Distribution.DomainName": "d111111abcdef8.cloudfront.net",
}

_INVOKE = """
import json, sys
artifact, runtime = sys.argv[1], sys.argv[2]
sys.path[:0] = [artifact, runtime]

class Context:
    function_name = "yoto-smart-stream-pr-42-api"
    memory_limit_in_mb = 512
    invoked_function_arn = "arn:aws:lambda:eu-west-2:123456789012:function:" + function_name
    aws_request_id = "c6af9ac6-7b61-11e6-9a41-93e812345678"

from yoto_smart_stream.api.lambda_handler import handler
import fastapi, pydantic_core, yoto_smart_stream
event = json.loads(sys.stdin.read())
result = handler(event, Context())
print(json.dumps({
    "result": result,
    "modules": {m.__name__: m.__file__ for m in (yoto_smart_stream, fastapi, pydantic_core)},
    "sys_path": sys.path,
}))
"""


@dataclass(frozen=True)
class Build:
    directory: Path
    template: dict[str, Any]

    @property
    def function_dir(self) -> Path:
        return self.directory / str(
            self.template["Resources"]["ApiFunction"]["Properties"]["CodeUri"]
        )


@pytest.fixture(scope="session")
def sam_build(tmp_path_factory: pytest.TempPathFactory) -> Build:
    """One `sam build` per session (the build takes the machine's two cores for a few seconds)."""
    build_dir = tmp_path_factory.mktemp("sam-build") / "build"
    # The pipeline's own `sam build` arguments, run with this environment's sam.
    _, *arguments = sam.build_args(build_dir, TEMPLATE_PATH)
    env = {**os.environ, "SAM_CLI_TELEMETRY": "0"}
    done = subprocess.run(
        [str(Path(sys.executable).with_name("sam")), *arguments],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=280,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return Build(directory=build_dir, template=load_template(build_dir / "template.yaml"))


@pytest.fixture(scope="session")
def lambda_runtime_standin(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder holding only what the Lambda runtime provides, linked from this environment."""
    import importlib

    folder = tmp_path_factory.mktemp("lambda-runtime")
    for name in RUNTIME_PROVIDED:
        module = importlib.import_module(name)
        source = Path(str(module.__file__))
        source = source.parent if source.name == "__init__.py" else source
        (folder / source.name).symlink_to(source)
    return folder


def _lambda_environment(deployment: Deployment) -> dict[str, str]:
    """The function's environment variables as CloudFormation would resolve them for pr-42."""
    names = {
        "Table": environments.table_name(deployment.env),
        "AudioBucket": environments.audio_bucket_name(deployment.env, "123456789012", "eu-west-2"),
    }
    variables = deployment.props("ApiFunction")["Environment"]["Variables"]
    resolved: dict[str, str] = {}
    for key, value in variables.items():
        if isinstance(value, dict) and "Ref" in value:
            resolved[key] = names[value["Ref"]]
        else:
            resolved[key] = substitute(value, deployment.parameters, FAKE_ATTRIBUTES)
    return resolved


def _http_api_event(stage: str, path: str) -> dict[str, Any]:
    """An API Gateway HTTP API (payload 2.0) event for GET <path> on a named stage."""
    raw_path = f"/{stage}{path}"
    return {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": raw_path,
        "rawQueryString": "",
        "headers": {
            "accept": "application/json",
            "host": "a1b2c3d4e5.execute-api.eu-west-2.amazonaws.com",
            "user-agent": "infrastructure-test",
            "x-forwarded-for": "203.0.113.7",
            "x-forwarded-port": "443",
            "x-forwarded-proto": "https",
        },
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "a1b2c3d4e5",
            "domainName": "a1b2c3d4e5.execute-api.eu-west-2.amazonaws.com",
            "domainPrefix": "a1b2c3d4e5",
            "http": {
                "method": "GET",
                "path": raw_path,
                "protocol": "HTTP/1.1",
                "sourceIp": "203.0.113.7",
                "userAgent": "infrastructure-test",
            },
            "requestId": "JKJaXmPLvHcESHA=",
            "routeKey": "$default",
            "stage": stage,
            "time": "25/Nov/2026:07:00:00 +0000",
            "timeEpoch": 1795590000000,
        },
        "isBase64Encoded": False,
    }


def test_built_template_points_at_the_built_function(sam_build: Build) -> None:
    function = sam_build.template["Resources"]["ApiFunction"]["Properties"]
    assert function["Handler"] == "yoto_smart_stream.api.lambda_handler.handler"
    assert function["Runtime"] == "python3.13"
    assert (sam_build.function_dir / "yoto_smart_stream" / "api" / "lambda_handler.py").is_file()


def test_defect07_artifact_holds_the_app_and_its_locked_dependencies(sam_build: Build) -> None:
    top_level = {p.name for p in sam_build.function_dir.iterdir()}
    assert {
        "yoto_smart_stream",
        "fastapi",
        "mangum",
        "pydantic",
        "pydantic_core",
        "jwt",
        "argon2",
    } <= top_level
    assert {"httpx", "pydantic_settings"} <= top_level
    # The runtime's JSON log format does the logging (lambda_handler.py); no Powertools.
    assert "aws_lambda_powertools" not in top_level
    assert not top_level & {"boto3", "botocore", "s3transfer"}, "the runtime provides these"
    # Nothing from the dev tree: no tests, no caches of the source checkout, no other packages.
    assert not top_level & {"tests", "yoto_mqtt", "yoto_smart_stream_ci", "moto", "pytest"}


def test_defect02_artifact_is_built_for_python313_on_linux(sam_build: Build) -> None:
    extensions = sorted(p.name for p in sam_build.function_dir.rglob("*.so"))
    assert extensions
    assert all("cpython-313-x86_64-linux-gnu" in name or "abi3" in name for name in extensions), (
        extensions
    )


def test_artifact_zips_under_the_size_goal(sam_build: Build, tmp_path: Path) -> None:
    archive = tmp_path / "api.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zipped:
        for path in sorted(sam_build.function_dir.rglob("*")):
            if path.is_file():
                zipped.write(path, path.relative_to(sam_build.function_dir))
    size = archive.stat().st_size
    print(f"zipped artifact: {size / 1024 / 1024:.1f} MB")
    assert size <= MAX_ZIPPED_BYTES


def test_defect07_built_handler_answers_health_from_the_artifact_alone(
    sam_build: Build,
    lambda_runtime_standin: Path,
    pr: Deployment,
    moto_endpoint: str,
    tmp_path: Path,
) -> None:
    environment = {
        **_lambda_environment(pr),
        # What the Lambda runtime sets; the template must not (defect 1).
        "AWS_REGION": "eu-west-2",
        "AWS_DEFAULT_REGION": "eu-west-2",
        "AWS_LAMBDA_FUNCTION_NAME": "yoto-smart-stream-pr-42-api",
        "LAMBDA_TASK_ROOT": str(sam_build.function_dir),
        # Any AWS call the health check might make stays on the local emulator.
        "AWS_ENDPOINT_URL": moto_endpoint,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "PATH": "/usr/bin:/bin",
    }
    # -I: ignore PYTHON* variables and the user site; -S: no site-packages at all.
    done = subprocess.run(
        [
            sys.executable,
            "-I",
            "-S",
            "-c",
            _INVOKE,
            str(sam_build.function_dir),
            str(lambda_runtime_standin),
        ],
        input=json.dumps(_http_api_event("pr-42", "/api/health")),
        cwd=tmp_path,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    for module, location in report["modules"].items():
        assert location.startswith(str(sam_build.function_dir)), (module, location)
    assert not any(str(REPO_ROOT) in entry for entry in report["sys_path"])
    response = report["result"]
    assert response["statusCode"] == 200, response
    body = json.loads(response["body"])
    assert body["status"] == "ok"
    assert body["environment"] == "pr-42"
    assert body["commit"] == pr.parameters["GitCommit"]


def test_artifact_is_precompiled_without_build_leftovers(sam_build: Build) -> None:
    """/var/task is read-only, so bytecode is compiled at build time (for 3.13) or on every
    cold start; the Makefile's scratch requirements file and console scripts are removed."""
    package = sam_build.function_dir / "yoto_smart_stream"
    sources = {p.stem for p in package.rglob("*.py")}
    compiled = {p.name.split(".")[0] for p in package.rglob("*.cpython-313.pyc")}
    assert sources <= compiled
    leftovers = {p.name for p in sam_build.function_dir.iterdir()} & {".requirements.txt", "bin"}
    assert leftovers == set()
