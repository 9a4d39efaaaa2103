"""The handler's own settings (``MQTT_*``); table, Yoto URLs and token policy come from the app's
``yoto_smart_stream.config.Settings`` so both processes read those facts from one place."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

# Yoto's AWS IoT endpoint (shared/yoto-api.md): MQTT over WebSockets with TLS on 443.
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
