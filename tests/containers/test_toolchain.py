"""The pipeline's toolchain image (ci/Dockerfile), built and run by a real Docker engine.

Each test runs exactly the core command the Dagger function runs (`contract.core_command` or
`shared.TEST_COMMAND`) in the same Dockerfile stage the Dagger function builds, as root, with no
pyenv and the /dev/shm Docker gives: what `dagger call lint|package|test` would do.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support import docker
from yoto_smart_stream_ci import contract, lint
from yoto_smart_stream_ci.shared import (
    BUILD_DIR,
    TEST_COMMAND,
)

pytestmark = pytest.mark.usefixtures("docker_ready")


def run_core(image: str, argv: list[str], *, timeout: float, extra: tuple[str, ...] = ()) -> str:
    """Run one command in a fresh container of ``image``; fail with its output unless exit 0."""
    name = docker.unique_name("yss-core")
    with docker.containers() as names:
        names.append(name)
        docker.run(*docker.run_args(image, name=name, extra=extra, command=argv))
        code = int(docker.run("wait", name, timeout=timeout).stdout.strip())
        logs = docker.run("logs", name)
        output = logs.stdout + logs.stderr
        assert code == 0, f"{argv[:4]} exited {code}:\n{output[-6000:]}"
        return output


def test_the_toolchain_is_python_313_as_root_without_pyenv(workspace_image: str) -> None:
    out = run_core(
        workspace_image,
        ["sh", "-c", "id -u; python -c 'import sys; print(sys.version_info[:2])'; "
         "command -v pyenv || echo no-pyenv; command -v make uv sam"],
        timeout=60,
    )  # fmt: skip
    lines = out.split()
    assert lines[0] == "0"
    assert "(3, 13)" in out
    assert "no-pyenv" in out
    assert "/usr/bin/make" in out or "/bin/make" in out


def test_lint_passes_inside_the_toolchain(workspace_image: str) -> None:
    out = run_core(workspace_image, contract.core_command(contract.LintRequest()), timeout=900)
    summary = out.split("Lint summary:")[1]
    for name, _ in lint.LINTERS:
        assert f"PASS {name}" in summary


def test_package_builds_the_lambda_artifact_inside_the_toolchain(
    workspace_image: str, tmp_path: Path
) -> None:
    name = docker.unique_name("yss-package")
    request = contract.PackageRequest(build_dir=BUILD_DIR)
    with docker.containers() as names:
        names.append(name)
        docker.run(
            *docker.run_args(workspace_image, name=name, command=contract.core_command(request))
        )
        code = int(docker.run("wait", name, timeout=900).stdout.strip())
        logs = docker.run("logs", name)
        assert code == 0, logs.stdout[-4000:] + logs.stderr[-4000:]
        assert "package: built" in logs.stdout
        docker.run("cp", f"{name}:{BUILD_DIR}", str(tmp_path / "build"))
    function = tmp_path / "build" / "ApiFunction"
    assert (function / "yoto_smart_stream" / "api" / "main.py").is_file()
    assert (function / "fastapi").is_dir()
    # Linux CPython 3.13 wheels: the compiled parts must match the Lambda runtime.
    compiled = {p.name for p in function.rglob("*.so")}
    assert any("cpython-313-x86_64-linux-gnu" in n or "abi3" in n for n in compiled), compiled


@pytest.mark.timeout(2400)
def test_the_whole_suite_passes_inside_the_test_stage(test_image: str) -> None:
    # Inside, no Docker daemon answers and CI is unset, so tests/containers skip there (this
    # test is what runs them); everything else runs: moto, amqtt, the Yoto fake, Chromium.
    out = run_core(test_image, list(TEST_COMMAND), timeout=2300)
    tail = out.strip().splitlines()[-1]
    assert " passed" in tail, tail
    assert " failed" not in tail, tail
    assert " error" not in tail, tail
