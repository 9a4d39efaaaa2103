"""``python -m yoto_mqtt.healthcheck`` as ECS runs it: exit codes and sentences."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

from tests.mqtt.conftest import HandlerProcess
from tests.support.template import REPO_ROOT


def healthcheck(heartbeat: Path, max_age: str = "600") -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "PYTHONPATH": str(REPO_ROOT),
        "MQTT_HEARTBEAT_FILE": str(heartbeat),
        "MQTT_HEALTH_MAX_AGE_SECONDS": max_age,
    }
    return subprocess.run(
        [sys.executable, "-m", "yoto_mqtt.healthcheck"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_missing_heartbeat_is_unhealthy(tmp_path: Path) -> None:
    result = healthcheck(tmp_path / "never-written")
    assert result.returncode == 1
    assert "no heartbeat yet" in result.stdout


def test_stale_heartbeat_is_unhealthy(tmp_path: Path) -> None:
    heartbeat = tmp_path / "heartbeat"
    heartbeat.write_text("0\n")
    old = time.time() - 900
    os.utime(heartbeat, (old, old))
    result = healthcheck(heartbeat)
    assert result.returncode == 1
    assert re.search(r"no broker round trip for 9\d\d s \(limit 600 s\)", result.stdout)


def test_connected_handler_is_healthy(handler: HandlerProcess) -> None:
    result = healthcheck(handler.heartbeat_file, max_age="60")
    assert result.returncode == 0, result.stdout
    assert result.stdout.startswith("healthy")
