"""Static checks of mqtt/Dockerfile; tests/containers/test_mqtt_image.py builds and runs it."""

from __future__ import annotations

import re

from tests.support.template import REPO_ROOT

DOCKERFILE = (REPO_ROOT / "mqtt" / "Dockerfile").read_text()


def final_stage() -> str:
    return re.split(r"^FROM ", DOCKERFILE, flags=re.MULTILINE)[-1]


def test_multi_stage_on_python_313_slim() -> None:
    bases = re.findall(r"^FROM (\S+)", DOCKERFILE, flags=re.MULTILINE)
    assert len(bases) >= 2
    assert all(base == "python:3.13-slim" for base in bases)


def test_final_stage_runs_as_non_root_without_build_tools() -> None:
    stage = final_stage()
    user = re.search(r"^USER (\S+)", stage, flags=re.MULTILINE)
    assert user is not None
    assert user.group(1).split(":")[0] not in ("0", "root")
    for tool in ("apt-get install", "gcc", "build-essential", "/uv", "pip install"):
        assert tool not in stage


def test_dependencies_come_hash_checked_from_the_lock() -> None:
    assert "uv export --frozen --package yoto-smart-stream-mqtt --no-dev" in DOCKERFILE
    assert "--require-hashes" in DOCKERFILE


def test_entrypoint_and_healthcheck_match_the_package() -> None:
    pyproject = (REPO_ROOT / "mqtt" / "pyproject.toml").read_text()
    assert 'yoto-mqtt-handler = "yoto_mqtt.__main__:main"' in pyproject
    assert 'ENTRYPOINT ["yoto-mqtt-handler"]' in DOCKERFILE
    assert '"python", "-m", "yoto_mqtt.healthcheck"' in DOCKERFILE


def test_builds_offline_with_uv_cache_mounts() -> None:
    # A "# syntax=" directive makes BuildKit fetch a frontend image: no build without a registry.
    assert not re.search(r"^#\s*syntax=", DOCKERFILE, flags=re.MULTILINE | re.IGNORECASE)
    uv_runs = re.findall(r"^RUN (.*?)(?<!\\)$", DOCKERFILE, flags=re.MULTILINE | re.DOTALL)
    installs = [run for run in uv_runs if "uv pip install" in run or "uv export" in run]
    assert installs
    assert all("--mount=type=cache,target=/root/.cache/uv" in run for run in installs)
