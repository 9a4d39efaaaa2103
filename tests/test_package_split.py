"""The MQTT handler and the core carry no web framework: neither in what uv.lock installs for the
handler, nor in what its modules import. (tests/containers/test_mqtt_image.py checks the built
image.)"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.template import REPO_ROOT

# The web stack: the API's `api` extra and what it pulls in; none of it belongs to the handler.
WEB_DISTRIBUTIONS = (
    "fastapi",
    "starlette",
    "mangum",
    "argon2-cffi",
    "argon2-cffi-bindings",
    "pyjwt",
)
WEB_MODULES = ("fastapi", "starlette", "mangum", "argon2", "jwt", "aws_lambda_powertools")
# The API's validation and settings stack (its Settings, FastAPI's models). The handler reads
# its settings and vets its payloads with the standard library: pydantic cost it 14 MB of RSS.
PYDANTIC_DISTRIBUTIONS = ("pydantic", "pydantic-core", "pydantic-settings", "python-dotenv")
PYDANTIC_MODULES = ("pydantic", "pydantic_core", "pydantic_settings", "dotenv")


def _exported_names(*args: str) -> set[str]:
    uv = shutil.which("uv")
    assert uv is not None, "uv is not on PATH; run the tests with `uv run pytest`"
    result = subprocess.run(
        [uv, "export", "--frozen", "--no-hashes", "--no-header", "--no-annotate", *args],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    names = set()
    for line in result.stdout.splitlines():
        match = re.match(r"^([A-Za-z0-9][A-Za-z0-9._-]*)\s*(?:==|@|;|$)", line.strip())
        if match:
            names.add(re.sub(r"[._]+", "-", match.group(1)).lower())
    return names


def test_the_mqtt_package_exports_no_web_distribution() -> None:
    exported = _exported_names("--package", "yoto-smart-stream-mqtt", "--no-dev")
    # The export is real: it holds the handler's own dependencies.
    assert {"paho-mqtt", "boto3", "httpx", "tenacity"} <= exported, exported
    assert not exported & set(WEB_DISTRIBUTIONS), sorted(exported & set(WEB_DISTRIBUTIONS))


def test_the_mqtt_package_exports_no_pydantic() -> None:
    exported = _exported_names("--package", "yoto-smart-stream-mqtt", "--no-dev")
    assert "paho-mqtt" in exported, exported  # the export is real
    assert not exported & set(PYDANTIC_DISTRIBUTIONS), sorted(
        exported & set(PYDANTIC_DISTRIBUTIONS)
    )


def test_the_lambda_export_holds_the_web_stack() -> None:
    """The artifact's export (infrastructure/Makefile) asks for the `api` extra: the split must
    not lose the API's own dependencies."""
    makefile = (REPO_ROOT / "infrastructure" / "Makefile").read_text()
    assert "--extra api" in makefile
    exported = _exported_names("--no-dev", "--extra", "api", "--no-emit-project")
    assert set(WEB_DISTRIBUTIONS) - {"argon2-cffi-bindings"} <= exported, exported
    # The API's Settings moved its pydantic-settings into the extra: the artifact keeps it.
    assert "pydantic-settings" in exported, exported


# Runs in a fresh interpreter: what importing the handler and the core loads, nothing the test
# process already holds.
_CLOSURE = """
import importlib, json, sys
for name in sys.argv[1:]:
    importlib.import_module(name)
print(json.dumps(sorted(sys.modules)))
"""

CORE_AND_HANDLER_MODULES = (
    "yoto_mqtt.__main__",
    "yoto_mqtt.handler",
    "yoto_mqtt.healthcheck",
    "yoto_mqtt.logs",
    "yoto_mqtt.store",
    "yoto_smart_stream.core.settings",
    "yoto_smart_stream.core.aws",
    "yoto_smart_stream.core.yoto.client",
    "yoto_smart_stream.core.yoto.tokens",
)


def _imported_by(*modules: str) -> set[str]:
    result = subprocess.run(
        [sys.executable, "-c", _CLOSURE, *modules],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return set(json.loads(result.stdout.splitlines()[-1]))


def _core_storage_modules() -> list[str]:
    storage = REPO_ROOT / "yoto_smart_stream" / "core" / "storage"
    return [f"yoto_smart_stream.core.storage.{p.stem}" for p in sorted(storage.glob("[!_]*.py"))]


def test_the_core_and_the_handler_import_nothing_from_the_api_or_the_web() -> None:
    loaded = _imported_by(*CORE_AND_HANDLER_MODULES, *_core_storage_modules())
    assert "yoto_smart_stream.core.storage.schema" in loaded  # the closure is real
    forbidden = sorted(
        name
        for name in loaded
        if name == "yoto_smart_stream.api"
        or name.startswith("yoto_smart_stream.api.")
        or name.split(".")[0] in WEB_MODULES
    )
    assert forbidden == [], forbidden


# What the handler process imports: its own modules and the core modules it uses (not the
# API's pydantic Settings, core/settings.py).
HANDLER_PROCESS_MODULES = (
    "yoto_mqtt.__main__",
    "yoto_mqtt.healthcheck",
    "yoto_smart_stream.core.aws",
    "yoto_smart_stream.core.storage.tokens",
    "yoto_smart_stream.core.yoto.tokens",
)


def test_the_handler_imports_no_pydantic() -> None:
    loaded = _imported_by(*HANDLER_PROCESS_MODULES)
    assert {"yoto_mqtt.settings", "yoto_mqtt.payloads", "paho"} <= loaded  # the closure is real
    assert sorted(n for n in loaded if n.split(".")[0] in PYDANTIC_MODULES) == []


def test_the_handler_builds_its_clients_without_pydantic(tmp_path: Path) -> None:
    """Past the imports: loading the settings and building the AWS and Yoto clients (what
    ``start`` does before the broker connection) loads no pydantic either."""
    script = (
        "import json, sys; "
        "from yoto_mqtt.__main__ import start; "
        "from yoto_mqtt.settings import load_configuration; "
        "start(*load_configuration()); "
        "print(json.dumps(sorted(sys.modules)))"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "MQTT_", "YOTO_"))}
    env.update(
        {
            "DYNAMODB_TABLE": "events",
            "AWS_REGION": "eu-west-2",
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_CONFIG_FILE": str(tmp_path / "no-aws-config"),
            "MQTT_HEARTBEAT_FILE": str(tmp_path / "heartbeat"),
        }
    )
    result = subprocess.run(
        [sys.executable, "-c", script],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    loaded = set(json.loads(result.stdout.splitlines()[-1]))
    assert {"botocore.client", "yoto_mqtt.handler"} <= loaded  # the clients were built
    assert sorted(n for n in loaded if n.split(".")[0] in PYDANTIC_MODULES) == []


@pytest.mark.parametrize("module", ["yoto_smart_stream.api.lambda_handler"])
def test_the_closure_check_sees_the_web_stack_where_it_is(module: str) -> None:
    """The same check on the Lambda handler finds FastAPI: a blind check would pass anything."""
    loaded = _imported_by(module)
    assert {"fastapi", "mangum", "yoto_smart_stream.api.main"} <= loaded
