"""The handler's own settings (``MQTT_*``); table, Yoto URLs and token policy come from the app's
``yoto_smart_stream.core.settings.Settings`` so both processes read those facts from one place."""

from __future__ import annotations

import ssl
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from yoto_smart_stream.core.settings import Settings

# Yoto's AWS IoT endpoint (docs/yoto-api.md): MQTT over WebSockets with TLS on 443.
YOTO_BROKER_HOST = "aqrphjqbp3u2z-ats.iot.eu-west-2.amazonaws.com"
# DynamoDB's BatchWriteItem limit.
MAX_BATCH_ITEMS = 25


class MqttSettings(BaseSettings):
    """Broker connection and handler behaviour; every value can be set as ``MQTT_<NAME>``."""

    model_config = SettingsConfigDict(env_prefix="MQTT_", frozen=True, extra="ignore")

    broker_host: str = YOTO_BROKER_HOST
    broker_port: int = Field(default=443, gt=0, lt=65536)
    transport: Literal["websockets", "tcp"] = "websockets"
    websocket_path: str = "/mqtt"
    tls: bool = True
    # CA bundle to verify the broker with; empty means the system's trust store (production).
    ca_file: Path | None = None
    # AWS IoT custom authorizer: the part after "?" names it; the part before is free text.
    authorizer_name: str = "PublicJWTAuthorizer"
    client_id_prefix: str = "yoto-smart-stream"
    keepalive_seconds: int = Field(default=60, ge=5)
    connect_timeout_seconds: float = Field(default=10.0, gt=0)

    # The broker stops pushing events ~5 minutes after the last request.
    events_request_interval_seconds: float = Field(default=240.0, gt=0)
    player_refresh_interval_seconds: float = Field(default=1800.0, gt=0)
    # How long to wait before asking again when no account is linked or it has no players.
    idle_poll_seconds: float = Field(default=300.0, gt=0)

    reconnect_min_seconds: float = Field(default=1.0, gt=0)
    reconnect_max_seconds: float = Field(default=120.0, gt=0)

    batch_size: int = Field(default=MAX_BATCH_ITEMS, ge=1, le=MAX_BATCH_ITEMS)
    queue_size: int = Field(default=10_000, ge=1)
    max_payload_bytes: int = Field(default=64 * 1024, ge=1)
    # A QoS 1 redelivery of a payload without eventUtc reuses the first receive time within
    # this window, so it lands on the same key.
    redelivery_window_seconds: float = Field(default=900.0, gt=0)

    heartbeat_file: Path = Path("/tmp/yoto-mqtt-heartbeat")  # noqa: S108 - container-local scratch file
    health_max_age_seconds: float = Field(default=600.0, gt=0)

    # Fargate sends SIGKILL 30 s after SIGTERM (stopTimeout). A SIGTERM during a blocking
    # connect waits up to connect_timeout_seconds first; both together stay well inside 30 s.
    shutdown_timeout_seconds: float = Field(default=15.0, gt=0)

    @field_validator("ca_file", mode="before")
    @classmethod
    def _empty_ca_file_means_system_store(cls, value: Any) -> Any:
        return None if value == "" else value

    @field_validator("ca_file")
    @classmethod
    def _ca_file_must_load(cls, value: Path | None) -> Path | None:
        # Checked at startup, not at the first TLS handshake deep inside the reconnect loop.
        if value is not None:
            try:
                ssl.create_default_context(cafile=str(value))
            except (OSError, ssl.SSLError):
                raise ValueError(f"{value} is not a readable PEM file of CA certificates") from None
        return value


class ConfigurationError(Exception):
    """A missing or invalid setting; ``str()`` is one sentence for stderr."""


def _problems(exc: ValidationError, env_prefix: str) -> list[str]:
    """One clause per invalid field, named by its environment variable, never echoing values
    (a secret may be among them)."""
    problems = []
    for error in exc.errors(include_url=False, include_input=False, include_context=False):
        field = str(error["loc"][0]) if error["loc"] else "?"
        message = " ".join(str(error["msg"]).removeprefix("Value error, ").split())
        problems.append(f"{env_prefix}{field.upper()}: {message[:1].lower()}{message[1:]}")
    return problems


def load_configuration() -> tuple[Settings, MqttSettings]:
    """Read and check every setting the handler needs; raise ``ConfigurationError`` naming
    every bad one at once."""
    problems: list[str] = []
    settings = mqtt_settings = None
    try:
        settings = Settings()
    except ValidationError as exc:
        problems += _problems(exc, "")
    try:
        mqtt_settings = MqttSettings()
    except ValidationError as exc:
        problems += _problems(exc, "MQTT_")
    if problems or settings is None or mqtt_settings is None:
        raise ConfigurationError(f"invalid configuration: {'; '.join(problems)}.")
    if not settings.dynamodb_table:
        raise ConfigurationError("DYNAMODB_TABLE is not set; it names the table to write to.")
    return settings, mqtt_settings


def load_mqtt_settings() -> MqttSettings:
    """``MqttSettings`` alone (the health check), with the same one-sentence errors."""
    try:
        return MqttSettings()
    except ValidationError as exc:
        raise ConfigurationError(
            f"invalid configuration: {'; '.join(_problems(exc, 'MQTT_'))}."
        ) from None
