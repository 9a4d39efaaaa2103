"""A host emulator deploy given no image: the core builds mqtt/Dockerfile with Docker itself.

This is the host's stand-in for the engine's `docker_build(...).as_tarball()`: the digest the
template runs must be that of the image Docker built, as ECR records it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import boto3
import pytest

from tests.support import docker
from tests.support.moto_server import TEST_REGION, running_moto_server
from tests.support.pipeline_cli import CI_SRC, REPO_ROOT
from yoto_smart_stream_ci import environments

pytestmark = [pytest.mark.usefixtures("docker_ready"), pytest.mark.timeout(900)]
ENV = "pr-9"


def test_a_deploy_without_a_tarball_builds_and_registers_the_image(built_package: Path) -> None:
    keep = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "YOTO_"))}
    environ = {**keep, "PYTHONPATH": str(CI_SRC), "YSS_DOCKER": docker.docker_client()}
    with running_moto_server() as url:
        result = subprocess.run(
            [sys.executable, "-m", "yoto_smart_stream_ci", "deploy", "--env", ENV,
             "--build-dir", str(built_package), "--no-cloudfront", "--emulator", url],
            cwd=REPO_ROOT, env=environ, capture_output=True, text=True, timeout=800, check=False,
        )  # fmt: skip
        assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-3000:]
        assert "Building yoto-smart-stream-mqtt:local from mqtt/Dockerfile" in result.stdout
        assert "Smoke test passed." in result.stdout
        ecr = boto3.client(
            "ecr", endpoint_url=url, region_name=TEST_REGION,
            aws_access_key_id="x", aws_secret_access_key="x",
        )  # fmt: skip
        (image,) = ecr.describe_images(repositoryName=environments.ecr_repository(ENV))[
            "imageDetails"
        ]
        assert f"@{image['imageDigest']}" in result.stdout
        # The registered manifest is the built image's: its config is Docker's image id.
        manifest = json.loads(
            ecr.batch_get_image(
                repositoryName=environments.ecr_repository(ENV),
                imageIds=[{"imageDigest": image["imageDigest"]}],
            )["images"][0]["imageManifest"]
        )
        built_id = docker.image_id("yoto-smart-stream-mqtt:local")
        assert manifest["config"]["digest"] == built_id
