"""A failed smoke test on dev rolls back to the last good release and still exits non-zero.

Proven as far as the emulator allows: the broken release really reaches the emulated Lambda
(its code hash changes), the smoke test fails on it, the pipeline redeploys the recorded
last-good packaged template, and afterwards the function's code hash is the good one again and
the same smoke test passes against the code served from the redeployed artifact.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.pipeline.test_end_to_end import client, remaining_of
from tests.support.oci import build_oci_tarball
from tests.support.pipeline_cli import REPO_ROOT, PipelineRunner
from yoto_smart_stream_ci import environments

ENV = "dev"
pytestmark = pytest.mark.timeout(600)
BREAKAGE = """

_released_handler = handler


def handler(event, context):  # a release whose readiness check fails
    if event.get("rawPath", "").endswith("/api/ready"):
        return {"statusCode": 503, "body": '{"status": "broken release"}'}
    return _released_handler(event, context)
"""


def broken_copy(build: Path, destination: Path) -> Path:
    shutil.copytree(build, destination)
    handler = destination / "ApiFunction" / "yoto_smart_stream" / "api" / "lambda_handler.py"
    handler.write_text(handler.read_text() + BREAKAGE)
    return destination


def code_sha(endpoint: str) -> str:
    config = client(endpoint, "lambda").get_function_configuration(
        FunctionName=environments.api_function_name(ENV)
    )
    return str(config["CodeSha256"])


def test_failed_smoke_on_dev_rolls_back_to_the_last_good_release(
    built_package: Path, endpoint: str, tmp_path: Path
) -> None:
    tarball = tmp_path / "mqtt.tar"
    build_oci_tarball(REPO_ROOT / "mqtt", tarball)
    runner = PipelineRunner(endpoint)
    deploy = ["deploy", "--env", ENV, "--oci-tarball", str(tarball), "--build-dir"]

    good = runner.run(*deploy, str(built_package), "--commit", "good000000001")
    assert good.returncode == 0, good.stdout[-3000:] + good.stderr[-3000:]
    good_sha = code_sha(endpoint)

    broken = broken_copy(built_package, tmp_path / "broken")
    bad = runner.run(*deploy, str(broken), "--commit", "bad0000000002")
    out = bad.stdout
    assert bad.returncode == 1, out[-3000:] + bad.stderr[-3000:]
    assert "Smoke test FAILED at 'ready'." in out
    assert "broken release" in out
    assert "rolled back to the last good release (commit good000000001" in out
    assert "its smoke test passes" in out
    assert code_sha(endpoint) == good_sha

    again = runner.run("smoke", "--env", ENV)
    assert again.returncode == 0, again.stdout + again.stderr

    torn = runner.run("teardown", "--env", ENV)
    assert torn.returncode == 0, torn.stdout + torn.stderr
    assert remaining_of(endpoint, ENV) == []


def harmless_copy(build: Path, destination: Path) -> Path:
    """Another release that passes its smoke test (its code, and so its hash, differs)."""
    shutil.copytree(build, destination)
    handler = destination / "ApiFunction" / "yoto_smart_stream" / "api" / "lambda_handler.py"
    handler.write_text(handler.read_text() + "\n# release two\n")
    return destination


def release_ids(listing: str) -> list[str]:
    return [line.split()[0] for line in listing.splitlines() if line.startswith("  ")]


def test_releases_are_listed_and_a_manual_rollback_redeploys_one(
    built_package: Path, endpoint: str, tmp_path: Path
) -> None:
    tarball = tmp_path / "mqtt.tar"
    build_oci_tarball(REPO_ROOT / "mqtt", tarball)
    runner = PipelineRunner(endpoint)
    deploy = ["deploy", "--env", ENV, "--oci-tarball", str(tarball), "--build-dir"]

    none = runner.run("releases", "--env", ENV)
    assert none.returncode == 0, none.stdout + none.stderr
    assert f"No releases of {ENV} are recorded" in none.stdout

    one = runner.run(*deploy, str(built_package), "--commit", "one000000001")
    assert one.returncode == 0, one.stdout[-3000:] + one.stderr[-3000:]
    one_sha = code_sha(endpoint)
    two = runner.run(
        *deploy, str(harmless_copy(built_package, tmp_path / "two")), "--commit", "two000000002"
    )
    assert two.returncode == 0, two.stdout[-3000:] + two.stderr[-3000:]
    two_sha = code_sha(endpoint)
    assert two_sha != one_sha

    listed = runner.run("releases", "--env", ENV)
    assert listed.returncode == 0, listed.stdout + listed.stderr
    ids = release_ids(listed.stdout)
    assert [i.split("-", 1)[1] for i in ids] == ["two000000002", "one000000001"]
    assert "[last good, running]" in next(
        line for line in listed.stdout.splitlines() if ids[0] in line
    )

    back = runner.run("rollback", "--env", ENV)
    assert back.returncode == 0, back.stdout[-3000:] + back.stderr[-3000:]
    assert f"Rolling {ENV} back to release {ids[1]} (commit one000000001)." in back.stdout
    assert "smoke test  : passed" in back.stdout
    assert code_sha(endpoint) == one_sha
    after = runner.run("releases", "--env", ENV).stdout
    assert "[last good, running]" in next(line for line in after.splitlines() if ids[1] in line)

    forward = runner.run("rollback", "--env", ENV, "--to", ids[0])
    assert forward.returncode == 0, forward.stdout[-3000:] + forward.stderr[-3000:]
    assert code_sha(endpoint) == two_sha

    unknown = runner.run("rollback", "--env", ENV, "--to", "1-nosuchrelease")
    assert unknown.returncode == 2, unknown.stdout + unknown.stderr
    assert f"{ENV} has no recorded release 1-nosuchrelease" in unknown.stderr
    assert code_sha(endpoint) == two_sha

    torn = runner.run("teardown", "--env", ENV)
    assert torn.returncode == 0, torn.stdout + torn.stderr
    assert remaining_of(endpoint, ENV) == []
