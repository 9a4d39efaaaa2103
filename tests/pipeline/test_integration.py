"""deploy --env dev -> integration-test --env dev, against a moto server and the Yoto fake.

The develop workflow runs exactly these two core commands (through `dagger call`). The deploy
also writes the GitHub step outputs and summary when their variables are set, as in Actions.
"""

from __future__ import annotations

import secrets
from pathlib import Path

import pytest

from tests.pipeline.test_end_to_end import link_yoto_account
from tests.support.oci import build_oci_tarball
from tests.support.pipeline_cli import REPO_ROOT, PipelineRunner
from tests.support.residue import remaining_of
from tests.support.yoto_fake import running_yoto_fake
from yoto_smart_stream_ci import costs, environments

ENV = "dev"
ADMIN_PASSWORD = f"canary-{secrets.token_hex(16)}"
pytestmark = pytest.mark.timeout(600)


def test_develop_deploy_then_integration_suite(
    built_package: Path, endpoint: str, tmp_path: Path
) -> None:
    tarball = tmp_path / "mqtt.tar"
    build_oci_tarball(REPO_ROOT / "mqtt", tarball)
    outputs, summary = tmp_path / "github-output", tmp_path / "step-summary.md"
    runner = PipelineRunner(
        endpoint,
        secrets={
            "YOTO_ADMIN_PASSWORD": ADMIN_PASSWORD,
            "GITHUB_OUTPUT": str(outputs),
            "GITHUB_STEP_SUMMARY": str(summary),
        },
    )
    try:
        deployed = runner.run(
            "deploy", "--env", ENV, "--build-dir", str(built_package),
            "--oci-tarball", str(tarball), "--commit", "feedface",
        )  # fmt: skip
        assert deployed.returncode == 0, deployed.stdout[-4000:] + deployed.stderr[-4000:]
        # What the workflow reads back: the deployment URL and the step summary.
        written = dict(line.split("=", 1) for line in outputs.read_text().splitlines())
        assert set(written) == {"url", "api-url", "monitoring-url"}
        assert written["monitoring-url"] == environments.cloudwatch_dashboard_url(ENV, "eu-west-2")
        markdown = summary.read_text()
        assert markdown.startswith(f"### `{ENV}` deployed, smoke test passed")
        assert costs.describe(ENV) in markdown
        assert "smoke test  : passed" in markdown
        # The CloudWatch dashboard is created in the emulator and probed, not just claimed.
        verified = deployed.stdout.split("verified in the emulator")[1].split("NOT created")[0]
        assert f"MonitoringDashboard: {environments.cloudwatch_dashboard_name(ENV)}" in verified
        # The emulator has no HTTP API, so there is no URL to give GitHub: said, not faked.
        url = runner.run("environment-url", "--env", ENV)
        assert url.returncode == 1
        assert "has no DashboardUrl output (the emulator cannot create the HTTP API)." in url.stderr

        with running_yoto_fake() as yoto:
            yoto.set_players([{"deviceId": "p1", "name": "Kitchen", "online": True}])
            link_yoto_account(endpoint, ENV, yoto)
            refreshes_before = yoto.refresh_uses
            suite = runner.run("integration-test", "--env", ENV)
            assert suite.returncode == 0, suite.stdout[-6000:] + suite.stderr[-3000:]
            assert yoto.refresh_uses == refreshes_before + 1, "the token was not refreshed"
            assert yoto.content == {}, "the card the suite created was left at Yoto"
            created = [path for method, path in yoto.requests if method == "POST"]
            assert "/content" in created, "no card was created at the Yoto API"
        out = suite.stdout
        for check in (
            "health", "ready", "admin login", "user lifecycle", "yoto account and players",
            "audio streaming", "card creation", "token refresh",
        ):  # fmt: skip
            assert f"[PASS] {check}:" in out, out
        assert "Integration test passed." in out

        # Without a linked account the suite fails, and says what to do.
        with running_yoto_fake() as other:
            link_yoto_account(endpoint, ENV, other)
            other.revoke_refresh_tokens()
            other.expire_access_tokens()
            broken = runner.run("integration-test", "--env", ENV)
        assert broken.returncode == 1
        assert "[FAIL]" in broken.stdout
    finally:
        torn = runner.run("teardown", "--env", ENV)
        assert torn.returncode == 0, torn.stdout + torn.stderr
    assert remaining_of(endpoint, ENV) == []
    assert all(ADMIN_PASSWORD not in text for text in runner.outputs)
