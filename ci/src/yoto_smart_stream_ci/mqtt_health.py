"""The MQTT handler's part of the smoke test: is the image the stack runs alive?

The handler proves liveness by touching a heartbeat file (``yoto_mqtt.health``) on every broker
round trip, or on every successful look for players while there is nothing to listen to; the
image's own health check (``python -m yoto_mqtt.healthcheck``, the Dockerfile's HEALTHCHECK and
the task definition's healthCheck) fails once that file is stale. The file never leaves the
container, so each target reads the health check's verdict where it lands:

- **AWS**: the ECS service must want at least one task, run at least as many as it wants in
  its primary deployment (the task definition just deployed) within a bound, and ECS must
  report each of those tasks' handler container ``HEALTHY``, i.e. the heartbeat is fresh.
- **Emulator**: moto's ECS records services but runs no task, so the pipeline runs the image
  the task definition names itself (resolved through the emulated ECR's manifest to the image
  the local Docker engine holds: the host's build put it there, or a deploy with
  ``docker_load`` loads it from its OCI tarball, as ECS would pull it), the way the task
  definition runs it, and polls the image's own HEALTHCHECK command in it. The handler reaches
  the emulated account at the request's ``handler_endpoint``.
  Under ``dagger call`` the engine is the host's, through ``--docker-socket``, and the account
  must be a kept one (``--emulator tcp://localhost:N``): a Dagger service is reachable from no
  container of that engine. Without an engine, an account the handler can reach, or the image,
  the check is SKIPPED with the reason and the flag that fixes it, never passed.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from yoto_smart_stream_ci import contract, environments, images
from yoto_smart_stream_ci.aws import AwsTarget
from yoto_smart_stream_ci.smoke import SmokeFailure, SmokeSkipped

CONTAINER_NAME = "mqtt-handler"
# ECS: StartPeriod 60 s + three 30 s intervals is when a task that never beats turns UNHEALTHY.
ECS_WAIT_SECONDS = 300.0
ECS_POLL_SECONDS = 10.0
# Emulator: the handler's first beat comes from its first look for players (a DynamoDB read).
EMULATOR_WAIT_SECONDS = 90.0
EMULATOR_POLL_SECONDS = 2.0


DOCKER_SOCKET_HINT = "--docker-socket /var/run/docker.sock"
KEPT_ACCOUNT_HINT = (
    "--emulator tcp://localhost:5000 (a kept account: `dagger call emulator up --ports 5000:5000`)"
)


@dataclass(frozen=True)
class LocalDocker:
    """Where the emulator's check runs the handler image: the Docker CLI of an engine that
    answers, and the emulated account's URL as that engine's containers reach it."""

    cli: str | None
    account_url: str | None

    @property
    def missing(self) -> str:
        """Why the check cannot run here, naming the flag that fixes it; empty when it can."""
        if self.cli is None and self.account_url is None:
            return (
                "no Docker engine answers here, and this call's own emulated account is a "
                f"Dagger service no Docker container can reach: add {DOCKER_SOCKET_HINT} and "
                f"{KEPT_ACCOUNT_HINT} to `dagger call`"
            )
        if self.cli is None:
            return (
                f"no Docker engine answers here: add {DOCKER_SOCKET_HINT} to `dagger call` "
                "(on the host: start Docker)"
            )
        if self.account_url is None:
            return (
                "this call's own emulated account is a Dagger service no Docker container can "
                f"reach: add {KEPT_ACCOUNT_HINT} to `dagger call`"
            )
        return ""


NO_LOCAL_DOCKER = LocalDocker(cli=None, account_url=None)


def local_docker(target: AwsTarget, request: contract.HandlerCheck) -> LocalDocker:
    """The engine and URL the emulator's check uses for ``request``; a real account needs none."""
    if not target.emulated:
        return NO_LOCAL_DOCKER
    return LocalDocker(
        cli=images.docker_engine(), account_url=request.handler_endpoint(target.endpoint_url)
    )


def hold_image(local: LocalDocker, tarball: Path, image_uri: str) -> str | None:
    """Emulator: have the local engine hold the image the stack is about to run, as ECS pulls
    it from ECR; one sentence on what was done, ``None`` when the check cannot run anyway."""
    if local.cli is None or local.missing:
        return None
    repository, _, digest = image_uri.rpartition("@")
    # Named by its digest, so no later deploy moves the tag onto another image.
    tag = f"{repository}:{digest.replace(':', '-')[:19]}"
    image_id, loaded = images.load_oci_tarball(local.cli, tarball, tag)
    if not loaded:
        return f"the local Docker engine already holds the image {image_id[:19]}"
    return f"loaded the image {image_id[:19]} into the local Docker engine as {tag}"


def check_handler(target: AwsTarget, env: str, local: LocalDocker) -> str:
    """One sentence on the running handler, or ``SmokeFailure`` saying what is wrong."""
    if not environments.settings_for(env).mqtt_enabled:
        raise SmokeSkipped(f"{env} runs no MQTT handler")
    try:
        return _emulated(target, env, local) if target.emulated else _ecs(target, env)
    except (BotoCoreError, ClientError, OSError, subprocess.SubprocessError) as error:
        raise SmokeFailure(f"the handler's state could not be read: {error}") from error


def _ecs(target: AwsTarget, env: str, *, wait_s: float = ECS_WAIT_SECONDS) -> str:
    ecs = target.client("ecs")
    cluster = environments.ecs_cluster_name(env)
    service = environments.ecs_service_name(env)
    deadline = time.monotonic() + wait_s
    while True:
        found = ecs.describe_services(cluster=cluster, services=[service])["services"]
        if not found or found[0].get("status") != "ACTIVE":
            raise SmokeFailure(f"the ECS service {service} is not active in cluster {cluster}")
        described = found[0]
        desired = int(described["desiredCount"])
        if desired < 1:
            raise SmokeFailure(f"the ECS service {service} wants {desired} tasks, not at least 1")
        primary = next((d for d in described["deployments"] if d["status"] == "PRIMARY"), None)
        if primary is None:
            raise SmokeFailure(f"the ECS service {service} has no primary deployment")
        if primary.get("rolloutState") == "FAILED":
            raise SmokeFailure(
                f"the deployment of {primary['taskDefinition']} failed: "
                f"{primary.get('rolloutStateReason', 'no reason given')}"
            )
        healthy, problem = _healthy_tasks(ecs, cluster, service, primary["taskDefinition"])
        if len(healthy) >= desired:
            return (
                f"{len(healthy)} of {desired} task(s) of {primary['taskDefinition'].rsplit('/')[-1]} "
                "running with a fresh heartbeat (ECS health check HEALTHY)"
            )
        problem = f"{len(healthy)} of {desired} task(s) running and healthy ({problem})"
        if time.monotonic() >= deadline:
            raise SmokeFailure(f"after {wait_s:.0f} s, {problem}")
        print(f"MQTT handler: {problem}; waiting", flush=True)
        time.sleep(ECS_POLL_SECONDS)


def _healthy_tasks(ecs: Any, cluster: str, service: str, definition: str) -> tuple[list[str], str]:
    arns = ecs.list_tasks(cluster=cluster, serviceName=service, desiredStatus="RUNNING")
    tasks = (
        ecs.describe_tasks(cluster=cluster, tasks=arns["taskArns"])["tasks"]
        if arns["taskArns"]
        else []
    )
    current = [t for t in tasks if t["taskDefinitionArn"] == definition]
    healthy = [
        t["taskArn"]
        for t in current
        if t.get("lastStatus") == "RUNNING"
        and any(
            c["name"] == CONTAINER_NAME and c.get("healthStatus") == "HEALTHY"
            for c in t.get("containers", [])
        )
    ]
    states = sorted(
        f"{t.get('lastStatus')}/{next((c.get('healthStatus', 'UNKNOWN') for c in t.get('containers', []) if c['name'] == CONTAINER_NAME), 'no container')}"
        for t in current
    )
    return healthy, ", ".join(states) or "no task of this task definition yet"


def task_image_and_environment(target: AwsTarget, env: str) -> tuple[str, dict[str, str]]:
    """The image (``repository@sha256:...``) and environment the env's handler task runs.

    In AWS: the service's task definition. In the emulator: the stack's parameters, which are
    what CloudFormation puts into that task definition, because moto's stack update leaves
    the service on its first revision and re-registers one without its image.
    """
    if target.emulated:
        return _emulated_task(target, env)
    ecs = target.client("ecs")
    cluster = environments.ecs_cluster_name(env)
    service = environments.ecs_service_name(env)
    found = ecs.describe_services(cluster=cluster, services=[service])["services"]
    if not found:
        raise SmokeFailure(f"the ECS service {service} does not exist in cluster {cluster}")
    definition = ecs.describe_task_definition(taskDefinition=found[0]["taskDefinition"])
    container = next(
        c
        for c in definition["taskDefinition"]["containerDefinitions"]
        if c["name"] == CONTAINER_NAME
    )
    variables = {e["name"]: e["value"] for e in container.get("environment", [])}
    return str(container["image"]), variables


def _emulated_task(target: AwsTarget, env: str) -> tuple[str, dict[str, str]]:
    stacks = target.client("cloudformation").describe_stacks(
        StackName=environments.stack_name(env)
    )["Stacks"]
    given = {
        p["ParameterKey"]: p.get("ParameterValue", "") for p in stacks[0].get("Parameters", [])
    }
    if not given.get("MqttImageUri"):
        raise SmokeFailure(f"the stack of {env} names no MQTT image (MqttImageUri)")
    return given["MqttImageUri"], task_environment(env, given)


def task_environment(env: str, parameters: dict[str, str]) -> dict[str, str]:
    """The handler container's environment as infrastructure/template.yaml writes it."""
    return {
        "ENVIRONMENT": env,
        "DYNAMODB_TABLE": environments.table_name(env),
        "YOTO_CLIENT_ID": parameters.get("YotoClientId", ""),
        "LOG_LEVEL": parameters.get("LogLevel", "INFO"),
        "GIT_COMMIT": parameters.get("GitCommit", ""),
    }


def _local_image_id(target: AwsTarget, env: str, image_uri: str) -> str:
    """The emulated ECR holds the image's manifest; its config digest is Docker's image id."""
    repository, _, digest = image_uri.rpartition("@")
    images = target.client("ecr").batch_get_image(
        repositoryName=repository.split("/", 1)[1], imageIds=[{"imageDigest": digest}]
    )["images"]
    if not images:
        raise SmokeFailure(f"the emulated ECR does not hold {image_uri}")
    return str(json.loads(images[0]["imageManifest"])["config"]["digest"])


def _emulated(
    target: AwsTarget, env: str, local: LocalDocker, *, wait_s: float = EMULATOR_WAIT_SECONDS
) -> str:
    image_uri, task_env = task_image_and_environment(target, env)
    docker, account_url = local.cli, local.account_url
    if docker is None or account_url is None:
        raise SmokeSkipped(
            f"moto's ECS runs no task, so the image {image_uri} and its health check would run "
            f"with a local Docker engine, but {local.missing}"
        )
    image_id = _local_image_id(target, env, image_uri)
    inspected = subprocess.run(  # noqa: S603 - fixed argv
        [docker, "image", "inspect", image_id], capture_output=True, text=True, check=False
    )
    if inspected.returncode != 0:
        raise SmokeSkipped(
            f"moto's ECS runs no task, and the local Docker engine does not hold {image_uri} "
            f"(image {image_id[:19]}) to run it: a deploy of that image with this engine at "
            f"hand loads it ({DOCKER_SOCKET_HINT} under `dagger call`)"
        )
    health = (json.loads(inspected.stdout)[0].get("Config") or {}).get("Healthcheck") or {}
    command = _health_command(health.get("Test") or [])
    if not command:
        raise SmokeFailure(f"the image {image_uri} declares no HEALTHCHECK")
    name = f"yss-smoke-{env}-mqtt-{secrets.token_hex(3)}"
    environment = {
        **task_env,
        **{k: v for k, v in os.environ.items() if k.startswith("AWS_") and v},
        # The account as the engine's containers reach it (under Dagger not the core's `moto`).
        "AWS_ENDPOINT_URL": account_url,
        "AWS_REGION": target.region,
        "AWS_DEFAULT_REGION": target.region,
    }
    run = [
        docker, "run", "--detach", "--name", name, "--network", "host",
        # As the task definition: read-only root, /tmp the one writable path (the heartbeat).
        "--read-only", "--tmpfs", "/tmp:rw,nosuid,nodev,mode=1777",  # noqa: S108 - in the container
        *(arg for key in sorted(environment) for arg in ("--env", key)),
        image_id,
    ]  # fmt: skip
    started = subprocess.run(  # noqa: S603 - fixed argv; values travel in the environment
        run, capture_output=True, text=True, check=False, env={**os.environ, **environment}
    )
    if started.returncode != 0:
        raise SmokeFailure(f"`docker run` of {image_uri} failed: {started.stderr.strip()[-300:]}")
    try:
        return _poll_health(docker, name, command, image_uri, wait_s)
    finally:
        subprocess.run([docker, "rm", "--force", name], capture_output=True, check=False)  # noqa: S603


def _health_command(test: list[str]) -> list[str]:
    if test[:1] == ["CMD"]:
        return test[1:]
    if test[:1] == ["CMD-SHELL"]:
        return ["/bin/sh", "-c", *test[1:]]
    return []


def _poll_health(docker: str, name: str, command: list[str], image_uri: str, wait_s: float) -> str:
    deadline = time.monotonic() + wait_s
    while True:
        state = json.loads(
            subprocess.run(  # noqa: S603 - fixed argv
                [docker, "inspect", "--format", "{{json .State}}", name],
                capture_output=True, text=True, check=True,
            ).stdout
        )  # fmt: skip
        if not state.get("Running"):
            logs = subprocess.run(  # noqa: S603 - fixed argv
                [docker, "logs", "--tail", "5", name], capture_output=True, text=True, check=False
            )
            tail = (logs.stdout + logs.stderr).strip().replace("\n", " | ")[-300:]
            raise SmokeFailure(
                f"the handler in {image_uri} exited with code {state.get('ExitCode')} ({tail})"
            )
        probe = subprocess.run(  # noqa: S603 - the image's own health check command
            [docker, "exec", name, *command], capture_output=True, text=True, check=False
        )
        lines = (probe.stdout + probe.stderr).strip().splitlines()
        said = lines[-1] if lines else f"exit code {probe.returncode}"
        if probe.returncode == 0:
            return (
                f"the image's own health check passes in {image_uri.rsplit('@')[-1][:19]}: {said}"
            )
        if time.monotonic() >= deadline:
            raise SmokeFailure(
                f"the image's own health check still fails after {wait_s:.0f} s: {said}"
            )
        time.sleep(EMULATOR_POLL_SECONDS)


def image_running(target: AwsTarget, env: str) -> str | None:
    """The image the env's handler task runs now; ``None`` without an MQTT handler.

    Raises ``SmokeFailure`` with the reason when it cannot be read back.
    """
    if not environments.settings_for(env).mqtt_enabled:
        return None
    try:
        return task_image_and_environment(target, env)[0]
    except (BotoCoreError, ClientError) as error:
        raise SmokeFailure(str(error)) from error
