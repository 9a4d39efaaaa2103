"""mqtt/Dockerfile, built by Docker and run the way the ECS task definition runs it.

The container gets what infrastructure/template.yaml gives the task: the image's own user, a
read-only root filesystem with only /tmp writable (a tmpfs here, a task volume on Fargate), the
task definition's environment and health check command, plus what Fargate adds (the region) and
what stands in for the rest of the world on 127.0.0.1 (``--network host``): moto for DynamoDB,
the real amqtt broker over WebSockets + TLS whose CA file is mounted read-only, and the fake
Yoto cloud for tokens and players.
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.mqtt.conftest import PLAYER_ID, Publisher, event_items, wait_until
from tests.support import docker
from tests.support.moto_server import TEST_REGION
from tests.support.mqtt_broker import MqttBroker
from tests.support.template import load_template
from tests.support.yoto_fake import FakeYoto

CA_IN_CONTAINER = "/run/yoto-test/ca.pem"
TASK_USER = "10001"


def task_container() -> dict[str, Any]:
    resources = load_template()["Resources"]
    definition = resources["MqttTaskDefinition"]["Properties"]
    (container,) = definition["ContainerDefinitions"]
    return dict(container)


def task_environment(table: str, yoto: FakeYoto) -> dict[str, str]:
    """The task definition's variables, with the values a deploy would resolve them to."""
    resolved = {
        "ENVIRONMENT": "test",
        "DYNAMODB_TABLE": table,
        "YOTO_CLIENT_ID": yoto.client_id,
        "LOG_LEVEL": "INFO",
        "GIT_COMMIT": "0123456789ab",
    }
    names = [entry["Name"] for entry in task_container()["Environment"]]
    assert sorted(names) == sorted(resolved), "the task definition's variables changed"
    return resolved


def docker_run_options(ca_file: Path) -> list[str]:
    """``docker run`` options for what the task definition says about the container."""
    container = task_container()
    options = ["--network", "host", "--volume", f"{ca_file}:{CA_IN_CONTAINER}:ro"]
    assert container["ReadonlyRootFilesystem"] is True
    options.append("--read-only")
    (mount,) = container["MountPoints"]
    assert mount["ContainerPath"] == "/tmp"
    options += ["--tmpfs", "/tmp:rw,nosuid,nodev,mode=1777"]
    assert "User" not in container, "the task definition now overrides the image's user"
    # The task definition's health check command, polled fast so the test need not wait 30 s.
    command = container["HealthCheck"]["Command"]
    assert command[0] == "CMD"
    options += [
        "--health-cmd",
        " ".join(command[1:]),
        "--health-interval",
        "2s",
        "--health-timeout",
        f"{container['HealthCheck']['Timeout']}s",
        "--health-retries",
        str(container["HealthCheck"]["Retries"]),
    ]
    return options


@pytest.fixture
def ca_copy(tmp_path_factory: pytest.TempPathFactory, broker: MqttBroker) -> Path:
    """The broker's CA certificate, world-readable (uid 10001 reads it; it is public)."""
    directory = tmp_path_factory.mktemp("ca", numbered=True)
    directory.chmod(0o755)
    target = directory / "ca.pem"
    shutil.copyfile(broker.tls.ca_file, target)
    target.chmod(0o644)
    return target


@pytest.fixture
def container_env(
    aws_environ: dict[str, str], yoto: FakeYoto, table_name: str, broker: MqttBroker
) -> dict[str, str]:
    return {
        **task_environment(table_name, yoto),
        # What Fargate sets for every task; the task role's credentials stand in as env vars.
        "AWS_REGION": TEST_REGION,
        "AWS_DEFAULT_REGION": TEST_REGION,
        "AWS_ACCESS_KEY_ID": aws_environ["AWS_ACCESS_KEY_ID"],
        "AWS_SECRET_ACCESS_KEY": aws_environ["AWS_SECRET_ACCESS_KEY"],
        # The world on 127.0.0.1.
        "AWS_ENDPOINT_URL": aws_environ["AWS_ENDPOINT_URL"],
        "YOTO_API_BASE_URL": yoto.base_url,
        "YOTO_AUTH_BASE_URL": yoto.base_url,
        "MQTT_BROKER_HOST": broker.host,
        "MQTT_BROKER_PORT": str(broker.port),
        "MQTT_CA_FILE": CA_IN_CONTAINER,
        "MQTT_CLIENT_ID_PREFIX": "handler-in-container",
        "MQTT_RECONNECT_MIN_SECONDS": "0.2",
        "MQTT_RECONNECT_MAX_SECONDS": "2",
    }


def logs(name: str) -> str:
    result = docker.run("logs", name, check=False)
    return result.stdout + result.stderr


def log_count(name: str, message: str) -> int:
    return logs(name).count(f'"message":"{message}"')


def state(name: str) -> dict[str, Any]:
    return dict(docker.inspect("container", name)["State"])


@pytest.fixture
def running_handler(
    mqtt_image: str, container_env: dict[str, str], ca_copy: Path
) -> Iterator[Callable[[], str]]:
    """Start the handler container; yields a function that returns its name once subscribed."""
    with docker.containers() as names:

        def start() -> str:
            name = docker.unique_name("yss-mqtt")
            names.append(name)
            docker.run(
                *docker.run_args(
                    mqtt_image, name=name, env=container_env, extra=docker_run_options(ca_copy)
                )
            )

            def subscribed() -> bool:
                if not state(name)["Running"]:
                    raise AssertionError(f"handler container exited:\n{logs(name)[-3000:]}")
                return log_count(name, "subscribed") >= 1

            try:
                wait_until(subscribed, 60, "the handler container to subscribe")
            except AssertionError as exc:
                raise AssertionError(f"{exc}\n{logs(name)[-3000:]}") from None
            return name

        yield start


def test_events_are_stored_health_passes_and_sigterm_exits_0(
    running_handler: Callable[[], str], publisher: Publisher, table_name: str, mqtt_image: str
) -> None:
    name = running_handler()
    event = {"eventUtc": "2026-12-01T10:00:00Z", "volume": 7, "playbackStatus": "playing"}
    publisher.publish(f"device/{PLAYER_ID}/data/events", json.dumps(event))
    stored = wait_until(lambda: event_items(table_name), 30, "the event in DynamoDB")
    assert len(stored) == 1
    assert stored[0]["topic"] == f"device/{PLAYER_ID}/data/events"

    # The task definition's health check, run by Docker in the container.
    wait_until(
        lambda: state(name).get("Health", {}).get("Status") == "healthy",
        30,
        f"Docker to report the container healthy ({state(name).get('Health')})",
    )
    # The image's own HEALTHCHECK: the same command as the task definition's, and it passes.
    image_config = docker.inspect("image", mqtt_image)["Config"]
    test_command = image_config["Healthcheck"]["Test"]
    assert test_command == task_container()["HealthCheck"]["Command"]
    probe = docker.run("exec", name, *test_command[1:], check=False)
    assert probe.returncode == 0, probe.stdout + probe.stderr
    assert probe.stdout.startswith("healthy"), probe.stdout

    # Read-only root, writable /tmp (the heartbeat lives there), as the task's user.
    assert docker.run("exec", name, "id", "-u").stdout.strip() == TASK_USER
    assert docker.run("exec", name, "touch", "/opt/venv/x", check=False).returncode != 0
    assert (
        docker.run("exec", name, "test", "-s", "/tmp/yoto-mqtt-heartbeat", check=False).returncode
        == 0
    )

    sent = time.monotonic()
    docker.run("stop", "--time", "30", name, timeout=60)
    elapsed = time.monotonic() - sent
    final = state(name)
    assert final["ExitCode"] == 0, logs(name)[-3000:]
    assert not final["OOMKilled"]
    assert elapsed < 30, f"SIGTERM took {elapsed:.1f} s"
    assert log_count(name, "stopped cleanly") == 1, logs(name)[-3000:]


def test_table_without_region_exits_with_one_sentence(mqtt_image: str, table_name: str) -> None:
    """The task environment without the region Fargate adds: one sentence, not a traceback."""
    result = docker.run(
        "run",
        "--rm",
        "--read-only",
        "--label",
        docker.TEST_LABEL,
        "--env",
        f"DYNAMODB_TABLE={table_name}",
        "--env",
        "AWS_ACCESS_KEY_ID=testing",
        mqtt_image,
        check=False,
        timeout=60,
    )
    assert result.returncode != 0
    assert "Traceback" not in result.stderr, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "AWS_REGION" in lines[0]


def test_missing_table_exits_with_one_sentence(mqtt_image: str) -> None:
    result = docker.run(
        "run",
        "--rm",
        "--read-only",
        "--env",
        f"AWS_REGION={TEST_REGION}",
        mqtt_image,
        check=False,
        timeout=60,
    )
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "DYNAMODB_TABLE" in lines[0]


def test_image_runs_as_10001_without_installers(mqtt_image: str) -> None:
    """Checked: the configured user, that no pip, pip3, uv or uvx is on PATH, that ``import pip``
    fails in the image's Python, and that the virtualenv holds no pip."""
    config = docker.inspect("image", mqtt_image)["Config"]
    assert config["User"] == "10001:10001"
    script = (
        "id -u; for tool in pip pip3 uv uvx; do command -v $tool; done; "
        "python -c 'import pip' 2>/dev/null && echo pip-importable; "
        "ls /opt/venv/bin | grep -E '^(pip|uv)' || true"
    )
    result = docker.run("run", "--rm", "--entrypoint", "sh", mqtt_image, "-c", script)
    assert result.stdout.split() == [TASK_USER], result.stdout
    # The handler's own dependencies are there.
    check = docker.run(
        "run",
        "--rm",
        "--entrypoint",
        "python",
        mqtt_image,
        "-c",
        "import paho.mqtt, boto3, yoto_mqtt, yoto_smart_stream.core; print('ok')",
    )
    assert check.stdout.strip() == "ok"


# The web stack's top-level modules (the API's `api` extra); none belongs in the handler image.
WEB_MODULES = ("fastapi", "starlette", "mangum", "argon2", "jwt", "aws_lambda_powertools")
# The API's settings and validation stack: the handler reads settings with the standard library.
PYDANTIC_MODULES = ("pydantic", "pydantic_core", "pydantic_settings", "dotenv")


def importable_in(mqtt_image: str, names: list[str]) -> dict[str, bool]:
    """Which of ``names`` the image's Python finds; the handler's entry points must import
    first, so an image that lost what the handler needs fails here too."""
    script = (
        "import importlib.util, json; "
        f"names = {names!r}; "
        "import yoto_mqtt.__main__, yoto_mqtt.healthcheck; "
        "print(json.dumps({n: importlib.util.find_spec(n) is not None for n in names}))"
    )
    result = docker.run("run", "--rm", "--entrypoint", "python", mqtt_image, "-c", script)
    found: dict[str, bool] = json.loads(result.stdout.strip().splitlines()[-1])
    return found


def test_image_carries_no_web_framework(mqtt_image: str) -> None:
    """The handler shares only the core: no FastAPI, Starlette, Mangum, argon2, PyJWT or
    Powertools is importable, and no API module of our own was installed."""
    found = importable_in(mqtt_image, [*WEB_MODULES, "yoto_smart_stream.api"])
    assert set(found) == {*WEB_MODULES, "yoto_smart_stream.api"}
    assert [name for name, present in found.items() if present] == []
    imported = docker.run(
        "run", "--rm", "--entrypoint", "python", mqtt_image, "-c", "import fastapi", check=False
    )
    assert imported.returncode != 0
    assert "ModuleNotFoundError" in imported.stderr, imported.stderr


def test_image_carries_no_pydantic(mqtt_image: str) -> None:
    """The handler's settings and payload checks are standard library: pydantic, its core,
    pydantic-settings and python-dotenv are not installed (the handler still imports)."""
    found = importable_in(mqtt_image, list(PYDANTIC_MODULES))
    assert set(found) == set(PYDANTIC_MODULES)
    assert [name for name, present in found.items() if present] == []
