"""A missing or invalid setting stops the handler (and its health check) with one sentence on
stderr and a non-zero exit: no traceback, no secret values echoed."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.template import REPO_ROOT


def _run(module: str, tmp_path: Path, **settings: str) -> subprocess.CompletedProcess[str]:
    # Nothing from the host's AWS or handler configuration leaks in (no region, no profile).
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("AWS_", "MQTT_", "YOTO_", "DYNAMODB_"))
    }
    env.update(
        {
            "PYTHONPATH": str(REPO_ROOT),
            "AWS_CONFIG_FILE": str(tmp_path / "no-aws-config"),
            "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "no-aws-credentials"),
            "MQTT_HEARTBEAT_FILE": str(tmp_path / "heartbeat"),
            **settings,
        }
    )
    return subprocess.run(
        [sys.executable, "-m", module],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def assert_one_sentence(result: subprocess.CompletedProcess[str], *mentions: str) -> str:
    assert result.returncode != 0, result
    assert "Traceback" not in result.stderr, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].endswith("."), lines[0]
    for mention in mentions:
        assert mention in lines[0], lines[0]
    return lines[0]


def test_table_without_region_names_the_region_setting(tmp_path: Path) -> None:
    result = _run("yoto_mqtt", tmp_path, DYNAMODB_TABLE="events", AWS_ACCESS_KEY_ID="x")
    assert_one_sentence(result, "AWS_REGION")


def test_missing_table_is_one_sentence(tmp_path: Path) -> None:
    result = _run("yoto_mqtt", tmp_path, AWS_REGION="eu-west-2")
    assert_one_sentence(result, "DYNAMODB_TABLE")


@pytest.mark.parametrize(
    ("settings", "mentions"),
    [
        ({"MQTT_BROKER_PORT": "0"}, ["MQTT_BROKER_PORT"]),
        (
            {"MQTT_BROKER_PORT": "not-a-port", "MQTT_TRANSPORT": "udp"},
            ["MQTT_BROKER_PORT", "MQTT_TRANSPORT"],
        ),
        ({"MQTT_CA_FILE": "/nonexistent/ca.pem"}, ["MQTT_CA_FILE"]),
        ({"YOTO_TIMEOUT_SECONDS": "-1"}, ["YOTO_TIMEOUT_SECONDS"]),
        ({"LOG_LEVEL": "LOUD"}, ["LOG_LEVEL"]),
        ({"AWS_ENDPOINT_URL": "not a url"}, ["AWS clients", "not a url"]),
    ],
)
def test_invalid_values_name_every_bad_setting(
    tmp_path: Path, settings: dict[str, str], mentions: list[str]
) -> None:
    result = _run(
        "yoto_mqtt", tmp_path, DYNAMODB_TABLE="events", AWS_REGION="eu-west-2", **settings
    )
    assert_one_sentence(result, *mentions)


def test_ca_file_that_is_not_a_certificate_is_refused(tmp_path: Path) -> None:
    bogus = tmp_path / "ca.pem"
    bogus.write_text("not a certificate\n")
    result = _run(
        "yoto_mqtt",
        tmp_path,
        DYNAMODB_TABLE="events",
        AWS_REGION="eu-west-2",
        MQTT_CA_FILE=str(bogus),
    )
    assert_one_sentence(result, "MQTT_CA_FILE")


def test_secret_values_are_not_echoed(tmp_path: Path) -> None:
    result = _run(
        "yoto_mqtt",
        tmp_path,
        DYNAMODB_TABLE="events",
        AWS_REGION="eu-west-2",
        TOKEN_REFRESH_WAIT_SECONDS="hunter2-secret-looking",
    )
    line = assert_one_sentence(result, "TOKEN_REFRESH_WAIT_SECONDS")
    assert "hunter2" not in line


def test_healthcheck_with_an_invalid_setting_is_one_sentence(tmp_path: Path) -> None:
    result = _run("yoto_mqtt.healthcheck", tmp_path, MQTT_HEALTH_MAX_AGE_SECONDS="soon")
    assert_one_sentence(result, "MQTT_HEALTH_MAX_AGE_SECONDS")
