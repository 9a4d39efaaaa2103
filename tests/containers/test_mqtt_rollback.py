"""A broken MQTT image fails the smoke test and is rolled back; the summary names what runs.

Three real images of mqtt/Dockerfile, each a different digest: release one, release two (the
same handler, another label) and a broken one whose handler exits at start. moto's ECS runs no
task, so in the emulator the smoke test runs the image the task definition names with the local
Docker engine and polls the image's own HEALTHCHECK. The broken deploy's smoke test fails at
`mqtt handler`, dev rolls back to release two, and the summary's image line shows release two's
image running, not the broken one; a manual rollback then restores release one and says so.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.support import docker
from tests.support.moto_server import running_moto_server
from tests.support.pipeline_cli import PipelineRunner
from tests.support.residue import client, remaining_of
from yoto_smart_stream_ci import environments, images

pytestmark = [pytest.mark.usefixtures("docker_ready"), pytest.mark.timeout(1200)]
ENV = "dev"


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
    broken = variant(
        mqtt_image,
        "yoto-smart-stream-mqtt:broken",
        tmp_path,
        'ENTRYPOINT ["python", "-c", "raise SystemExit(\'the handler cannot start\')"]',
    )
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
