"""Where the emulator's MQTT check runs the handler, and what it says when it cannot.

The check runs the image with a Docker engine, and the handler must reach the emulated account
from that engine's containers. On the host that is the `--emulator` URL; under `dagger call` the
core reaches the account as `moto`, which no Docker container resolves, so the request carries
the URL the host's containers use (`emulator_from_docker`, filled from a kept account's port).
Without an engine (no `--docker-socket`) or without an account the handler can reach (a Dagger
service started for the call), the check is SKIPPED with the flag that fixes it, never passed.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.moto_server import TEST_REGION, aws_env, patched_environ
from tests.support.residue import client
from yoto_smart_stream_ci import contract, environments, main, mqtt_health
from yoto_smart_stream_ci.aws import AwsTarget
from yoto_smart_stream_ci.smoke import SmokeReport

IMAGE = f"123456789012.dkr.ecr.eu-west-2.amazonaws.com/yoto-smart-stream-mqtt-preview@sha256:{'ab' * 32}"
# What `_aws` makes of `dagger call ... --emulator tcp://localhost:5000`.
DAGGER_KEPT = main.Account(emulator="http://moto:5000", from_docker="http://127.0.0.1:5000")


def test_the_handler_reaches_the_account_where_the_request_says() -> None:
    # The host: the handler's containers reach the account where the core does.
    host = contract.SmokeRequest(env="dev", emulator="http://127.0.0.1:5000/")
    assert host.handler_endpoint("http://127.0.0.1:5000") == "http://127.0.0.1:5000"
    # `dagger call --emulator tcp://localhost:5000`: the core says `moto`, the host 127.0.0.1.
    for request in (
        main.smoke_request(env="dev", url=None, account=DAGGER_KEPT),
        main.deploy_request(env="dev", no_cloudfront=True, yoto_client_id="", github_repository="", commit="c", account=DAGGER_KEPT),
        main.rollback_request(env="dev", to="", lock_wait_seconds=60, account=DAGGER_KEPT),
    ):  # fmt: skip
        assert isinstance(request, contract.HandlerCheck)
        assert request.handler_endpoint("http://moto:5000") == "http://127.0.0.1:5000"
        assert json.loads(contract.core_command(request)[5])["emulator_from_docker"] == (
            "http://127.0.0.1:5000"
        )
    # The call's own moto service: no Docker container reaches it.
    call = main.smoke_request(env="dev", url=None, account=main.CALL_ACCOUNT)
    assert call.handler_endpoint("http://moto:5000") is None


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"emulator_from_docker": "http://127.0.0.1:5000"}, "needs --emulator"),
        ({"emulator": "http://moto:5000", "emulator_ends_with_call": True, "emulator_from_docker": "http://127.0.0.1:5000"}, "kept account"),
        ({"emulator": "http://moto:5000", "emulator_from_docker": "tcp://localhost:5000"}, "Invalid emulator URL from Docker"),
    ],
)  # fmt: skip
def test_an_unusable_docker_side_url_is_refused(fields: dict[str, object], message: str) -> None:
    with pytest.raises(contract.RequestError, match=message):
        contract.from_mapping("smoke", {"env": "dev", **fields})


@pytest.fixture
def stack_with_image(moto_endpoint: str) -> Iterator[tuple[AwsTarget, str]]:
    """A preview env's stack in moto naming the MQTT image, as a deploy leaves it."""
    env = f"pr-{secrets.randbelow(90000) + 10000}"
    with patched_environ(aws_env(moto_endpoint)):
        target = AwsTarget(region=TEST_REGION, endpoint_url=moto_endpoint, emulated=True)
        cfn = client(moto_endpoint, "cloudformation")
        template = {
            "Parameters": {"MqttImageUri": {"Type": "String"}},
            "Resources": {"Topic": {"Type": "AWS::SNS::Topic"}},
        }
        name = environments.stack_name(env)
        cfn.create_stack(
            StackName=name,
            TemplateBody=json.dumps(template),
            Parameters=[{"ParameterKey": "MqttImageUri", "ParameterValue": IMAGE}],
        )
        try:
            yield target, env
        finally:
            cfn.delete_stack(StackName=name)


def skip_line(target: AwsTarget, env: str, local: mqtt_health.LocalDocker) -> str:
    report = SmokeReport(base_url="http://127.0.0.1")
    report.check("mqtt handler", lambda: mqtt_health.check_handler(target, env, local))
    assert report.ok, "a check that cannot run must never fail the deploy"
    (line,) = report.render().splitlines()[1:2]
    return line


def test_without_a_docker_socket_the_check_skips_and_names_the_flag(
    stack_with_image: tuple[AwsTarget, str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    target, env = stack_with_image
    # The workspace's Docker CLI with no socket mounted: no engine answers it.
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/no-docker.sock")
    kept = mqtt_health.local_docker(
        target, main.smoke_request(env=env, url=None, account=DAGGER_KEPT)
    )
    assert kept == mqtt_health.LocalDocker(cli=None, account_url="http://127.0.0.1:5000")
    line = skip_line(target, env, kept)
    assert line.startswith(
        f"  [SKIP] mqtt handler: not checked: moto's ECS runs no task, so the image {IMAGE}"
    ), line
    assert (
        "no Docker engine answers here: add --docker-socket /var/run/docker.sock to `dagger call`"
        in line
    )

    per_call = mqtt_health.local_docker(
        target, main.smoke_request(env=env, url=None, account=main.CALL_ACCOUNT)
    )
    line = skip_line(target, env, per_call)
    assert "add --docker-socket /var/run/docker.sock and --emulator tcp://localhost:5000" in line, (
        line
    )


def test_a_dagger_service_account_skips_even_with_an_engine(
    stack_with_image: tuple[AwsTarget, str],
) -> None:
    """With a socket but the call's own moto service: no Docker container can reach it."""
    target, env = stack_with_image
    request = main.smoke_request(env=env, url=None, account=main.CALL_ACCOUNT)
    engine = mqtt_health.LocalDocker(
        cli="docker", account_url=request.handler_endpoint("http://moto:5000")
    )
    line = skip_line(target, env, engine)
    assert (
        "a Dagger service no Docker container can reach: add --emulator tcp://localhost:5000"
        in line
    ), line
    assert "--docker-socket" not in line
