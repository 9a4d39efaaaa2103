"""A broken MQTT image fails the smoke test and is rolled back; the summary names what runs.

Three real images of mqtt/Dockerfile, each a different digest: release one, release two (the
same handler, another label) and a broken one whose handler exits at start. moto's ECS runs no
task, so in the emulator the smoke test runs the image the task definition names with the local
Docker engine and polls the image's own HEALTHCHECK. The broken deploy's smoke test fails at
`mqtt handler`, dev rolls back to release two, and the summary's image line shows release two's
image running, not the broken one; a manual rollback then restores release one and says so.

The second test runs the core as `dagger call deploy --emulator tcp://localhost:N
--docker-socket /var/run/docker.sock` runs it: in the workspace container (ci/Dockerfile), the
account reached as `moto` and, from the host's containers, on its published 127.0.0.1 port (a
host service), the host's Docker socket mounted, and each image only as the tarball
`Container.as_tarball()` gives, never in the engine beforehand: the core loads it, the check
passes for a good image, and a broken one fails at `mqtt handler` and is rolled back.
"""

from __future__ import annotations

import re
import secrets
from pathlib import Path

import pytest

from tests.support import docker
from tests.support.container_pipeline import emulated_account
from tests.support.moto_server import running_moto_server
from tests.support.pipeline_cli import PipelineRunner
from tests.support.residue import client, remaining_of
from yoto_smart_stream_ci import environments, images
from yoto_smart_stream_ci.main import DOCKER_SOCKET, OCI_TARBALL, Account, deploy_request
from yoto_smart_stream_ci.shared import MOTO_HOST, MOTO_PORT

pytestmark = [pytest.mark.usefixtures("docker_ready"), pytest.mark.timeout(1200)]
ENV = "dev"
BROKEN_ENTRYPOINT = 'ENTRYPOINT ["python", "-c", "raise SystemExit(\'the handler cannot start\')"]'


def variant(base: str, tag: str, tmp_path: Path, lines: str) -> Path:
    """An image ``FROM base`` plus ``lines``, exported as the OCI archive a deploy takes."""
    context = tmp_path / tag.replace(":", "-")
    context.mkdir()
    (context / "Dockerfile").write_text(f"FROM {base}\n{lines}\n")
    docker.build_image(context / "Dockerfile", tag, context=context)
    # As a host deploy exports what it built: the manifest's config is Docker's image id.
    return images.export_oci_tarball(
        docker.docker_client(), tag, tmp_path / f"{tag.replace(':', '-')}.tar"
    )


def running_image(endpoint: str) -> str:
    """The image the stack's task definition gets (moto's stack update leaves the ECS service
    itself on its first task definition revision, so the stack is where this shows)."""
    stack = client(endpoint, "cloudformation").describe_stacks(
        StackName=environments.stack_name(ENV)
    )["Stacks"][0]
    return next(
        p["ParameterValue"] for p in stack["Parameters"] if p["ParameterKey"] == "MqttImageUri"
    )


def image_line(out: str) -> str:
    return next(line for line in out.splitlines() if line.startswith("  image       :"))


def uri_in(out: str, commit: str) -> str:
    found = re.search(r"(\S+/yoto-smart-stream-mqtt-dev@sha256:[0-9a-f]{64})", image_line(out))
    assert found, f"{commit}: {image_line(out)}"
    return found.group(1)


def report_lines(out: str) -> list[str]:
    return [line for line in out.splitlines() if line.startswith(("  [", "Smoke test", "  image"))]


def test_a_broken_image_is_rolled_back_and_the_summary_shows_the_restored_one(
    built_package: Path, mqtt_image: str, tmp_path: Path
) -> None:
    one = variant(mqtt_image, "yoto-smart-stream-mqtt:release-one", tmp_path, "LABEL release=one")
    two = variant(mqtt_image, "yoto-smart-stream-mqtt:release-two", tmp_path, "LABEL release=two")
    broken = variant(mqtt_image, "yoto-smart-stream-mqtt:broken", tmp_path, BROKEN_ENTRYPOINT)
    with running_moto_server() as endpoint:
        runner = PipelineRunner(endpoint, secrets={"YSS_DOCKER": docker.docker_client()})

        def deploy(archive: Path, commit: str) -> tuple[int, str]:
            result = runner.run(
                "deploy", "--env", ENV, "--build-dir", str(built_package),
                "--oci-tarball", str(archive), "--commit", commit, timeout=600,
            )  # fmt: skip
            return result.returncode, result.stdout + result.stderr

        code, out = deploy(one, "one000000001")
        assert code == 0, out[-4000:]
        assert "[PASS] mqtt handler: the image's own health check passes" in out, "\n".join(
            report_lines(out)
        )
        one_uri = uri_in(out, "one")
        code, out = deploy(two, "two000000002")
        assert code == 0, out[-4000:]
        two_uri = uri_in(out, "two")
        assert two_uri != one_uri

        code, out = deploy(broken, "bad000000003")
        assert code == 1, out[-4000:]
        assert "Smoke test FAILED at 'mqtt handler'." in out
        assert "exited with code 1" in out
        assert "the handler cannot start" in out
        assert "rolled back to the last good release (commit two000000002" in out
        assert "its smoke test passes" in out
        line = image_line(out)
        # What really runs after the rollback: release two's image, not the broken one.
        broken_digest = images.oci_manifest(broken)[2]
        assert line.startswith(f"  image       : {two_uri} (running; rolled back from "), line
        assert line.endswith(f"@{broken_digest})"), line
        assert running_image(endpoint) == two_uri

        back = runner.run("rollback", "--env", ENV, timeout=600)
        assert back.returncode == 0, back.stdout[-4000:] + back.stderr[-3000:]
        assert "[PASS] mqtt handler" in back.stdout
        assert image_line(back.stdout) == f"  image       : {one_uri}"
        assert running_image(endpoint) == one_uri

        torn = runner.run("teardown", "--env", ENV)
        assert torn.returncode == 0, torn.stdout + torn.stderr
        assert remaining_of(endpoint, ENV) == []


def as_dagger_tarball(base: str, name: str, tmp_path: Path, lines: str) -> tuple[Path, str]:
    """An image ``FROM base`` plus ``lines`` and a label of its own, only as the tarball
    ``Container.as_tarball()`` gives: the engine holds it no more. Returns it and its id."""
    tag = f"yoto-smart-stream-mqtt:{name}-{secrets.token_hex(4)}"
    context = tmp_path / name
    context.mkdir()
    (context / "Dockerfile").write_text(f"FROM {base}\nLABEL run={tag}\n{lines}\n")
    docker.build_image(context / "Dockerfile", tag, context=context)
    tarball = tmp_path / f"{name}.tar"
    image_id = docker.save_as_tarball(tag, tarball)
    docker.run("rmi", tag)
    assert not docker.image_exists(image_id)
    return tarball, image_id


def test_under_dagger_the_check_runs_on_the_hosts_engine_and_rolls_a_broken_image_back(
    workspace_image: str, mqtt_image: str, built_package: Path, tmp_path: Path
) -> None:
    good, good_id = as_dagger_tarball(mqtt_image, "dagger-good", tmp_path, "")
    broken, broken_id = as_dagger_tarball(mqtt_image, "dagger-broken", tmp_path, BROKEN_ENTRYPOINT)
    socket = ("--volume", f"/var/run/docker.sock:{DOCKER_SOCKET}")
    try:
        # The session's `sam build`, mounted where `package` writes it, as the layer mounts it.
        with emulated_account(workspace_image, build_dir=built_package) as account:
            # What `_aws` makes of `--emulator tcp://localhost:N`: `moto` for the core, the
            # host's loopback for the host's containers.
            kept = Account(emulator=f"http://{MOTO_HOST}:{MOTO_PORT}", from_docker=account.endpoint)

            def deploy(tarball: Path, commit: str) -> tuple[int, str]:
                request = deploy_request(
                    env=ENV, no_cloudfront=True, yoto_client_id="", github_repository="",
                    commit=commit, account=kept, docker_load=True,
                )  # fmt: skip
                mounts = (*socket, "--volume", f"{tarball}:{OCI_TARBALL}:ro")
                result = account.run(request, mounts=mounts, timeout=600)
                return result.code, result.stdout + result.stderr

            code, out = deploy(good, "good00000001")
            assert code == 0, out[-4000:]
            assert f"MQTT image: loaded the image {good_id[:19]}" in out
            assert "[PASS] mqtt handler: the image's own health check passes" in out, "\n".join(
                report_lines(out)
            )
            assert docker.image_exists(good_id)

            code, out = deploy(broken, "bad000000002")
            assert code == 1, out[-4000:]
            assert f"MQTT image: loaded the image {broken_id[:19]}" in out
            assert "Smoke test FAILED at 'mqtt handler'." in out, "\n".join(report_lines(out))
            assert "exited with code 1" in out
            assert "the handler cannot start" in out
            assert "rolled back to the last good release (commit good00000001" in out
            assert "its smoke test passes" in out
            assert "[SKIP]" not in out
    finally:
        docker.run("rmi", "--force", good_id, broken_id, check=False)
