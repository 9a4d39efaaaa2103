"""The emulator deploy, run the way the Dagger layer runs it: every step in a container.

moto runs from the toolchain's workspace stage as a sibling container on a Docker network,
under the alias the Dagger layer binds (``moto:5000``); package, deploy, smoke test and
teardown each run their one core command in a fresh container of the same stage. The account
outlives each call (the moto container stays up), and the host then asks moto directly that
nothing of pr-42 remains.
"""

from __future__ import annotations

import secrets
from pathlib import Path

import pytest

from tests.support import docker
from tests.support.container_pipeline import KEPT_ACCOUNT, emulated_account
from tests.support.residue import remaining_of
from yoto_smart_stream_ci import contract, environments
from yoto_smart_stream_ci.main import OCI_TARBALL, deploy_request, smoke_request, teardown_request
from yoto_smart_stream_ci.shared import ADMIN_PASSWORD_VAR, BUILD_DIR

ENV = "pr-42"
pytestmark = [pytest.mark.usefixtures("docker_ready"), pytest.mark.timeout(1500)]


def test_deploy_smoke_teardown_in_containers_leave_nothing_behind(
    workspace_image: str, mqtt_image: str, tmp_path: Path
) -> None:
    tarball = tmp_path / "mqtt-image.tar"
    digest = docker.save_oci(mqtt_image, tarball)
    password = secrets.token_urlsafe(18)
    with emulated_account(workspace_image) as account:

        def step(request: contract.Request, **kwargs: object) -> str:
            result = account.run(request, **kwargs)  # type: ignore[arg-type]
            output = result.stdout + result.stderr
            assert result.code == 0, f"{request.command} exited {result.code}:\n{output[-6000:]}"
            assert password not in output, "a secret was printed"
            return result.stdout

        step(contract.PackageRequest(build_dir=BUILD_DIR))

        request = deploy_request(
            env=ENV,
            no_cloudfront=True,
            yoto_client_id="client-in-container",
            github_repository="",
            commit="0123456789abcdef",
            account=KEPT_ACCOUNT,
        )
        deployed = step(
            request,
            secrets={ADMIN_PASSWORD_VAR: password},
            mounts=("--volume", f"{tarball}:{OCI_TARBALL}:ro"),
        )
        assert "TARGET: EMULATED AWS ACCOUNT" in deployed
        assert "Smoke test passed." in deployed
        assert f"/{environments.ecr_repository(ENV)}@{digest}" in deployed
        assert "MISSING" not in deployed

        # A later call finds the same account: the moto container is still there.
        smoked = step(smoke_request(env=ENV, url=None, account=KEPT_ACCOUNT))
        assert "Smoke test passed." in smoked
        assert remaining_of(account.endpoint, ENV), "the deploy left nothing to tear down"

        torn = step(
            teardown_request(env=ENV, force=False, github_repository="", account=KEPT_ACCOUNT)
        )
        assert f"Verified: nothing of {ENV} remains." in torn
        assert remaining_of(account.endpoint, ENV) == []
