"""The MQTT handler and the core carry no web framework: neither in what uv.lock installs for the
handler, nor in what its modules import. (tests/containers/test_mqtt_image.py checks the built
image.)"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys

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
    assert {"paho-mqtt", "boto3", "httpx", "pydantic-settings"} <= exported, exported
    assert not exported & set(WEB_DISTRIBUTIONS), sorted(exported & set(WEB_DISTRIBUTIONS))


def test_the_lambda_export_holds_the_web_stack() -> None:
    """The artifact's export (infrastructure/Makefile) asks for the `api` extra: the split must
    not lose the API's own dependencies."""
    makefile = (REPO_ROOT / "infrastructure" / "Makefile").read_text()
    assert "--extra api" in makefile
    exported = _exported_names("--no-dev", "--extra", "api", "--no-emit-project")
    assert set(WEB_DISTRIBUTIONS) - {"argon2-cffi-bindings"} <= exported, exported


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


@pytest.mark.parametrize("module", ["yoto_smart_stream.api.lambda_handler"])
def test_the_closure_check_sees_the_web_stack_where_it_is(module: str) -> None:
    """The same check on the Lambda handler finds FastAPI: a blind check would pass anything."""
    loaded = _imported_by(module)
    assert {"fastapi", "mangum", "yoto_smart_stream.api.main"} <= loaded
