"""package -> deploy --env pr-42 -> smoke test -> plan -> teardown, against a moto server.

Every step runs ``python -m yoto_smart_stream_ci`` in a subprocess, exactly as the Dagger
containers do. One random canary value is passed as every secret (admin password, GitHub
token, AWS secret key and session token) and must appear in no captured output.
"""

from __future__ import annotations

import secrets
import time
from pathlib import Path
from typing import Any

import boto3
import pytest

from tests.support.github_fake import running_fake_github
from tests.support.moto_server import TEST_REGION
from tests.support.oci import build_oci_tarball
from tests.support.pipeline_cli import REPO_ROOT, PipelineRunner
from tests.support.residue import client, remaining_of
from tests.support.yoto_fake import running_yoto_fake
from yoto_smart_stream.core.storage.tokens import TokenStore
from yoto_smart_stream.core.yoto.client import TokenSet
from yoto_smart_stream_ci import environments

ENV = "pr-42"
REPOSITORY = "example/yoto-smart-stream"
CANARY = f"canary-{secrets.token_hex(16)}"
pytestmark = pytest.mark.timeout(600)


def link_yoto_account(endpoint: str, env: str, yoto: Any) -> None:
    """What a family's device-code login leaves behind, and the Lambda pointed at the fake."""
    issued = yoto.issue_tokens()
    table = boto3.resource(
        "dynamodb",
        endpoint_url=endpoint,
        region_name=TEST_REGION,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    ).Table(environments.table_name(env))
    TokenStore(table).store(
        TokenSet(issued.access_token, issued.refresh_token, time.time() + issued.expires_in)
    )
    lam = client(endpoint, "lambda")
    name = environments.api_function_name(env)
    variables = lam.get_function_configuration(FunctionName=name)["Environment"]["Variables"]
    lam.update_function_configuration(
        FunctionName=name, Environment={"Variables": {**variables, **yoto.settings_env()}}
    )


def test_pr_environment_end_to_end(built_package: Path, endpoint: str, tmp_path: Path) -> None:
    tarball = tmp_path / "mqtt.tar"
    digest = build_oci_tarball(REPO_ROOT / "mqtt", tarball)
    with running_fake_github(token=CANARY) as github:
        runner = PipelineRunner(
            endpoint,
            secrets={
                "YOTO_ADMIN_PASSWORD": CANARY,
                "GITHUB_TOKEN": CANARY,
                "GITHUB_API_URL": github.base_url,
                "AWS_SECRET_ACCESS_KEY": CANARY,
                "AWS_SESSION_TOKEN": CANARY,
            },
        )

        deployed = runner.run(
            "deploy",
            "--env", ENV,
            "--build-dir", str(built_package),
            "--oci-tarball", str(tarball),
            "--commit", "0123456789abcdef",
            "--no-cloudfront",
            "--dashboard-dir", "yoto_smart_stream/api/static",
            "--github-repository", REPOSITORY,
        )  # fmt: skip
        assert deployed.returncode == 0, deployed.stdout[-4000:] + deployed.stderr[-4000:]
        out = deployed.stdout
        assert "TARGET: EMULATED AWS ACCOUNT" in out
        assert "Smoke test passed." in out
        assert f"/{environments.ecr_repository(ENV)}@{digest}" in out
        # Honest emulator report: verified resources, and what it could not create.
        assert f"Table: {environments.table_name(ENV)}" in out
        assert f"ApiFunction: {environments.api_function_name(ENV)}" in out
        assert "HttpApi: AWS::ApiGatewayV2::Api" in out.split("NOT created")[1]
        assert "MISSING" not in out
        comments = github.bodies(REPOSITORY, 42)
        assert len(comments) == 1
        assert "pr-42" in comments[0]

        with running_yoto_fake() as yoto:
            yoto.set_players(
                [
                    {"deviceId": "p1", "name": "Kitchen", "online": True},
                    {"deviceId": "p2", "name": "Bedroom", "online": False},
                ]
            )
            link_yoto_account(endpoint, ENV, yoto)
            smoked = runner.run("smoke", "--env", ENV)
        assert smoked.returncode == 0, smoked.stdout + smoked.stderr
        assert "[PASS] player list: 2 player(s) listed" in smoked.stdout
        assert "[PASS] audio round trip" in smoked.stdout

        planned = runner.run(
            "plan", "--env", ENV, "--build-dir", str(built_package), "--oci-tarball", str(tarball)
        )
        assert planned.returncode == 0, planned.stdout + planned.stderr
        assert f"Plan for {environments.stack_name(ENV)} (update), not executed:" in planned.stdout
        stacks = client(endpoint, "cloudformation").describe_stacks(
            StackName=environments.stack_name(ENV)
        )["Stacks"]
        assert stacks[0]["StackStatus"] in ("CREATE_COMPLETE", "UPDATE_COMPLETE")

        torn = runner.run("teardown", "--env", ENV, "--github-repository", REPOSITORY)
        assert torn.returncode == 0, torn.stdout + torn.stderr
        assert f"Verified: nothing of {ENV} remains." in torn.stdout
        assert remaining_of(endpoint, ENV) == []
        assert "removed" in github.bodies(REPOSITORY, 42)[0]

        again = runner.run("teardown", "--env", ENV)
        assert again.returncode == 0, again.stdout + again.stderr
        assert "the stack does not exist" in again.stdout

    timings = Path(tmp_path / "outputs.txt")
    timings.write_text("\n=====\n".join(runner.outputs))
    leaked = [i for i, text in enumerate(runner.outputs) if CANARY in text]
    assert leaked == [], "the canary secret appeared in captured output"
    assert all(CANARY not in body for body in github.bodies(REPOSITORY, 42))
