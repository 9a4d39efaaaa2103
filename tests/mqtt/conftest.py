"""Fixtures for the MQTT handler: moto table with linked Yoto tokens, the fake Yoto cloud, a
real amqtt broker (WebSockets + TLS + token auth) and the handler as a real subprocess."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import paho.mqtt.client as mqtt
import pytest
from boto3.dynamodb.conditions import Key
from paho.mqtt.enums import CallbackAPIVersion

from tests.support.mqtt_broker import AUTHORIZER_SUFFIX, MqttBroker, running_mqtt_broker
from tests.support.template import REPO_ROOT, create_table_from_template
from tests.support.yoto_fake import FakeYoto, running_yoto_fake
from yoto_smart_stream.core.storage import schema
from yoto_smart_stream.core.storage.tokens import TokenStore
from yoto_smart_stream.core.yoto.client import TokenSet

PLAYER_ID = "player-kitchen"
HANDLER_CLIENT_PREFIX = "handler-under-test"


@pytest.fixture
def yoto() -> Iterator[FakeYoto]:
    with running_yoto_fake() as fake:
        fake.set_players([{"deviceId": PLAYER_ID, "name": "Kitchen", "online": True}])
        yield fake


@pytest.fixture
def table_name(aws_environ: dict[str, str], yoto: FakeYoto) -> str:
    """A fresh table from the template, with the family's Yoto tokens linked (as after login)."""
    name = f"mqtt-{uuid.uuid4().hex[:12]}"
    create_table_from_template(boto3.client("dynamodb"), name)
    issued = yoto.issue_tokens()
    TokenStore(boto3.resource("dynamodb").Table(name)).store(
        TokenSet(
            access_token=issued.access_token,
            refresh_token=issued.refresh_token,
            expires_at=time.time() + issued.expires_in,
        )
    )
    return name


@pytest.fixture
def broker(tmp_path: Path, yoto: FakeYoto) -> Iterator[MqttBroker]:
    with running_mqtt_broker(tmp_path / "broker", yoto.base_url, record_deliveries=True) as b:
        yield b


def event_items(table_name: str, player_id: str = PLAYER_ID) -> list[dict[str, Any]]:
    table = boto3.resource("dynamodb").Table(table_name)
    items: list[dict[str, Any]] = []
    kwargs: dict[str, Any] = {
        "KeyConditionExpression": Key(schema.PARTITION_KEY).eq(schema.player_pk(player_id))
        & Key(schema.SORT_KEY).begins_with(schema.EVENT_SK_PREFIX),
        "ConsistentRead": True,
    }
    while True:
        page = table.query(**kwargs)
        items.extend(page["Items"])
        if "LastEvaluatedKey" not in page:
            return items
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def wait_until(condition: Callable[[], Any], timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = condition()
        if result:
            return result
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


@dataclass
class HandlerProcess:
    """The handler (``python -m yoto_mqtt``) as a real subprocess with JSON logs in a file."""

    env: dict[str, str]
    log_file: Path
    heartbeat_file: Path
    process: subprocess.Popen[bytes] | None = None
    started: list[float] = field(default_factory=list)

    def start(self) -> None:
        with self.log_file.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "yoto_mqtt"],
                cwd=REPO_ROOT,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )

    def log(self) -> str:
        return self.log_file.read_text(errors="replace") if self.log_file.exists() else ""

    def count(self, message: str) -> int:
        return self.log().count(f'"message":"{message}"')

    def wait_for(self, message: str, times: int = 1, timeout: float = 30) -> None:
        def seen() -> bool:
            if self.process is not None and self.process.poll() is not None:
                raise AssertionError(
                    f"handler exited with {self.process.returncode}:\n{self.log()[-3000:]}"
                )
            return self.count(message) >= times

        try:
            wait_until(seen, timeout, f"{message!r} x{times} in the handler log")
        except AssertionError as exc:
            raise AssertionError(f"{exc}\n{self.log()[-3000:]}") from None

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def terminate(self, timeout: float = 30) -> tuple[int, float]:
        """SIGTERM; return (exit code, seconds until exit)."""
        assert self.process is not None
        sent = time.monotonic()
        self.process.send_signal(signal.SIGTERM)
        code = self.process.wait(timeout=timeout)
        return code, time.monotonic() - sent

    def stop(self) -> None:
        if self.alive():
            assert self.process is not None
            self.process.kill()
            self.process.wait(timeout=10)


@pytest.fixture
def handler_env(
    tmp_path: Path,
    aws_environ: dict[str, str],
    yoto: FakeYoto,
    table_name: str,
    broker: MqttBroker,
) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MQTT_", "YOTO_"))}
    env.update(aws_environ)
    env.update(yoto.settings_env())
    env.update(
        {
            "PYTHONPATH": str(REPO_ROOT),
            "ENVIRONMENT": "test",
            "DYNAMODB_TABLE": table_name,
            "LOG_LEVEL": "INFO",
            "MQTT_BROKER_HOST": broker.host,
            "MQTT_BROKER_PORT": str(broker.port),
            "MQTT_CA_FILE": str(broker.tls.ca_file),
            "MQTT_CLIENT_ID_PREFIX": HANDLER_CLIENT_PREFIX,
            "MQTT_RECONNECT_MIN_SECONDS": "0.2",
            "MQTT_RECONNECT_MAX_SECONDS": "2",
            "MQTT_HEARTBEAT_FILE": str(tmp_path / "heartbeat"),
        }
    )
    return env


@pytest.fixture
def start_handler(
    tmp_path: Path, handler_env: dict[str, str]
) -> Iterator[Callable[..., HandlerProcess]]:
    """Start the handler subprocess (env overrides as keyword arguments) and wait until it has
    subscribed; every process started is killed at teardown if it is still running."""
    started: list[HandlerProcess] = []

    def start(**overrides: str) -> HandlerProcess:
        process = HandlerProcess(
            env={**handler_env, **overrides},
            log_file=tmp_path / f"handler-{len(started)}.log",
            heartbeat_file=Path(handler_env["MQTT_HEARTBEAT_FILE"]),
        )
        started.append(process)
        process.start()
        process.wait_for("subscribed")
        return process

    try:
        yield start
    finally:
        for process in started:
            process.stop()


@pytest.fixture
def handler(start_handler: Callable[..., HandlerProcess]) -> HandlerProcess:
    return start_handler()


class Publisher:
    """A plain paho client publishing as a player would (QoS 1, same transport and auth)."""

    def __init__(self, broker: MqttBroker, token: str) -> None:
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=f"publisher-{uuid.uuid4().hex[:8]}",
            transport="websockets",
        )
        self.client.ws_set_options(path="/mqtt")
        self.client.tls_set(ca_certs=str(broker.tls.ca_file))
        self.client.username_pw_set("publisher" + AUTHORIZER_SUFFIX, token)
        self.client.connect(broker.host, broker.port)
        self.client.loop_start()

    def publish(self, topic: str, payload: bytes | str, *, wait: bool = True) -> None:
        info = self.client.publish(topic, payload, qos=1)
        if wait:
            info.wait_for_publish(timeout=10)
            assert info.is_published(), f"broker did not acknowledge {topic}"

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


@pytest.fixture
def publisher(broker: MqttBroker, yoto: FakeYoto) -> Iterator[Publisher]:
    client = Publisher(broker, yoto.valid_access_tokens()[0])
    try:
        yield client
    finally:
        client.close()
