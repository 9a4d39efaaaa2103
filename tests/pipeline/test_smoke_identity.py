"""The deploy's smoke test signs in as a principal no person can change and no outsider can lock.

An outsider at the pipeline's own address (a shared CI runner's egress) fails enough logins to
throttle `admin`, the smoke principal's name and the whole address; the next deploy's smoke test
still passes. A later deploy with a different `--admin-password` (which only seeds the first
admin, so the bootstrap password no longer signs anyone in) also passes. Both ran against the
deployed artifact, served from the emulated account.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from tests.support.moto_server import aws_env, patched_environ
from tests.support.oci import build_oci_tarball
from tests.support.pipeline_cli import REPO_ROOT, PipelineRunner
from tests.support.residue import remaining_of
from yoto_smart_stream_ci import deploy, environments
from yoto_smart_stream_ci.aws import AwsTarget
from yoto_smart_stream_ci.shared import ADMIN_PASSWORD_VAR

ENV = "pr-77"
pytestmark = pytest.mark.timeout(600)
# More than the per-(name, address) limit (5) for each name, and past the per-address one (50).
OUTSIDER_FAILURES_PER_NAME = 30


@contextmanager
def deployed_api(endpoint: str) -> Iterator[str]:
    """The env's deployed artifact, served on 127.0.0.1 as the pipeline's smoke test sees it."""
    with patched_environ({**aws_env(endpoint), "YOTO_PIPELINE_EMULATOR": "1"}):
        target = AwsTarget.from_environ()
        with deploy.serving_api(target, ENV) as url:
            yield url


def login(url: str, username: str, password: str) -> int:
    response = httpx.post(
        f"{url}/api/user/login", json={"username": username, "password": password}, timeout=30
    )
    return response.status_code


def deploy_env(runner: PipelineRunner, build: Path, tarball: Path, commit: str) -> str:
    """Deploy ENV (its smoke test included) and return what it printed; any failure fails the
    test with the end of both outputs."""
    result = runner.run(
        "deploy", "--env", ENV, "--build-dir", str(build), "--oci-tarball", str(tarball),
        "--commit", commit, "--no-cloudfront",
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result.stdout


def teardown(runner: PipelineRunner) -> None:
    """Tear ENV down and check it left nothing behind."""
    torn = runner.run("teardown", "--env", ENV)
    assert torn.returncode == 0, torn.stdout + torn.stderr
    assert remaining_of(runner.endpoint, ENV) == []


@pytest.fixture
def tarball(tmp_path: Path) -> Path:
    path = tmp_path / "mqtt.tar"
    build_oci_tarball(REPO_ROOT / "mqtt", path)
    return path


def test_an_outsider_who_locks_admin_and_the_smoke_name_cannot_fail_the_next_deploy(
    built_package: Path, endpoint: str, tarball: Path
) -> None:
    password = secrets.token_urlsafe(18)
    runner = PipelineRunner(endpoint, secrets={ADMIN_PASSWORD_VAR: password})
    deploy_env(runner, built_package, tarball, "first0000001")

    with deployed_api(endpoint) as url:
        for _ in range(OUTSIDER_FAILURES_PER_NAME):
            for name in ("admin", environments.SMOKE_PRINCIPAL):
                assert login(url, name, "guess-" + secrets.token_hex(4)) in (401, 429)
        # The outsider's lock holds: the admin's right password from this address is refused.
        assert login(url, "admin", password) == 429

    out = deploy_env(runner, built_package, tarball, "second000002")
    assert f"[PASS] sign-in: logged in as {environments.SMOKE_PRINCIPAL}" in out
    assert "[PASS] read-only: a write as the smoke principal is refused (HTTP 403)" in out
    assert "Smoke test passed." in out
    with deployed_api(endpoint) as url:
        assert login(url, "admin", password) == 429  # still locked: the deploy got past it

    teardown(runner)


def test_a_later_deploy_with_another_admin_password_still_passes_its_smoke_test(
    built_package: Path, endpoint: str, tarball: Path
) -> None:
    first_password = secrets.token_urlsafe(18)
    runner = PipelineRunner(endpoint, secrets={ADMIN_PASSWORD_VAR: first_password})
    deploy_env(runner, built_package, tarball, "first0000001")
    with deployed_api(endpoint) as url:
        assert login(url, "admin", first_password) == 200  # the first admin now exists

    changed = PipelineRunner(endpoint, secrets={ADMIN_PASSWORD_VAR: secrets.token_urlsafe(18)})
    assert "Smoke test passed." in deploy_env(changed, built_package, tarball, "second000002")

    teardown(runner)


def test_each_deploy_writes_a_new_256_bit_smoke_credential(
    built_package: Path, endpoint: str, tarball: Path
) -> None:
    runner = PipelineRunner(endpoint)
    seen = []
    for commit in ("first0000001", "second000002"):
        deploy_env(runner, built_package, tarball, commit)
        with patched_environ(aws_env(endpoint)):
            target = AwsTarget.from_environ({**aws_env(endpoint), "YOTO_PIPELINE_EMULATOR": "1"})
            seen.append(deploy.read_smoke_credential(target, ENV))
    assert all(value and len(value) >= 43 for value in seen)  # 32 bytes, base64url
    assert seen[0] != seen[1]
    assert not any(value and value in out for value in seen for out in runner.outputs)
    teardown(runner)
