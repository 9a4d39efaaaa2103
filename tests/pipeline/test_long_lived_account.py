"""One emulated account across commands, as `dagger call emulator up` gives it.

`python -m yoto_smart_stream_ci emulator` runs moto in the foreground; every other command
takes `--emulator URL` and acts on that one account: two PR environments and dev side by side,
each command a separate process, a redeploy of the same commit, and teardown of one leaving
the others whole. Nothing here sets AWS variables by hand.
"""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.oci import build_oci_tarball
from tests.support.pipeline_cli import CI_SRC, REPO_ROOT
from tests.support.residue import remaining_of
from yoto_smart_stream_ci import environments

pytestmark = pytest.mark.timeout(900)


def host_environ() -> dict[str, str]:
    """The developer's shell: no AWS or pipeline variables at all."""
    keep = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "YOTO_"))}
    return {**keep, "PYTHONPATH": str(CI_SRC)}


def core(*args: str, timeout: float = 400) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "yoto_smart_stream_ci", *args],
        cwd=REPO_ROOT,
        env=host_environ(),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


@pytest.fixture(scope="module")
def emulator_url() -> Iterator[str]:
    server = subprocess.Popen(
        [sys.executable, "-m", "yoto_smart_stream_ci", "emulator", "--port", "0"],
        cwd=REPO_ROOT,
        env=host_environ(),
        stdout=subprocess.PIPE,
        text=True,
    )
    assert server.stdout is not None
    ready, _, _ = select.select([server.stdout], [], [], 60)
    line = server.stdout.readline() if ready else ""
    assert line.startswith("Emulated AWS account (moto) listening on http://127.0.0.1:"), line
    url = line.rsplit(" ", 1)[1].strip()
    try:
        yield url
    finally:
        server.send_signal(signal.SIGINT)
        assert server.wait(30) == 0
        rest = server.stdout.read()
        assert "Emulated account stopped." in rest


@pytest.fixture(scope="module")
def tarball(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("image") / "mqtt.tar"
    build_oci_tarball(REPO_ROOT / "mqtt", path)
    return path


def deploy(env: str, build: Path, tarball: Path, url: str, commit: str = "0123456789ab") -> str:
    result = core(
        "deploy", "--env", env, "--build-dir", str(build), "--oci-tarball", str(tarball),
        "--no-cloudfront", "--commit", commit, "--emulator", url,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-3000:]
    return result.stdout


def test_a_kept_account_holds_envs_side_by_side_across_commands(
    emulator_url: str, built_package: Path, tarball: Path
) -> None:
    first = deploy("pr-42", built_package, tarball, emulator_url)
    # Live progress: stack events (moto reports only the stack's own) and SAM's lines before
    # the summary, and no SAM hints for a person at a shell.
    events = first.index(
        "CREATE_COMPLETE      AWS::CloudFormation::Stack           yoto-smart-stream-pr-42"
    )
    assert first.index("Successfully packaged artifacts") < events < first.index("Deploy summary")
    assert "<YOUR STACK NAME>" not in first
    assert "Execute the following command" not in first
    assert "preview     : http://127.0.0.1:8080/pr-42/" in first
    assert "lives for this call only" not in first

    deploy("pr-7", built_package, tarball, emulator_url)
    deploy("dev", built_package, tarball, emulator_url)

    # Later commands, each its own process, find the same account.
    smoked = core("smoke-test", "--env", "pr-42", "--emulator", emulator_url)
    assert smoked.returncode == 0, smoked.stdout + smoked.stderr
    assert "Smoke test passed." in smoked.stdout
    planned = core(
        "plan", "--env", "pr-42", "--build-dir", str(built_package), "--oci-tarball",
        str(tarball), "--no-cloudfront", "--commit", "0123456789ab", "--emulator", emulator_url,
    )  # fmt: skip
    assert planned.returncode == 0, planned.stdout + planned.stderr
    assert "Plan for yoto-smart-stream-pr-42 (update), not executed:" in planned.stdout

    # The same commit again: the image is already in ECR, the stack has nothing to change.
    again = deploy("pr-42", built_package, tarball, emulator_url)
    assert "Smoke test passed." in again

    torn = core("teardown", "--env", "pr-42", "--emulator", emulator_url)
    assert torn.returncode == 0, torn.stdout + torn.stderr
    assert remaining_of(emulator_url, "pr-42") == []
    # The others are whole: their resources are there and they still pass their smoke test.
    for env in ("pr-7", "dev"):
        assert environments.table_name(env) in remaining_of(emulator_url, env)
        other = core("smoke-test", "--env", env, "--emulator", emulator_url)
        assert other.returncode == 0, other.stdout + other.stderr

    # cleanup-stale sees every pr-* env of the account, and only those.
    none = core("cleanup-stale", "--max-age-hours", "1000", "--emulator", emulator_url)
    assert none.returncode == 0, none.stdout + none.stderr
    assert "No stale pr-* environments" in none.stdout
    swept = core("cleanup-stale", "--max-age-hours", "0.0001", "--emulator", emulator_url)
    assert swept.returncode == 0, swept.stdout + swept.stderr
    assert "Tearing down pr-7" in swept.stdout
    assert "dev" not in swept.stdout.split("Tearing down", 1)[1].split()[0]
    assert remaining_of(emulator_url, "pr-7") == []
    assert environments.table_name("dev") in remaining_of(emulator_url, "dev")

    down = core("teardown", "--env", "dev", "--emulator", emulator_url)
    assert down.returncode == 0, down.stdout + down.stderr


def test_without_credentials_or_emulator_the_host_names_its_own_flags() -> None:
    result = core("teardown", "--env", "pr-3")
    assert result.returncode == 2
    assert "--emulator http://127.0.0.1:5000" in result.stderr
    assert "--aws-access-key-id" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_an_emulator_that_cannot_listen_is_one_sentence(emulator_url: str) -> None:
    port = emulator_url.rsplit(":", 1)[1]
    result = core("emulator", "--port", port, timeout=60)
    assert result.returncode == 1
    assert f"cannot listen on 127.0.0.1:{port}" in result.stderr
    assert "Traceback" not in result.stderr
