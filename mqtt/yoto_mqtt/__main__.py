"""Entry point: ``yoto-mqtt-handler`` / ``python -m yoto_mqtt``."""

from __future__ import annotations

import logging
import signal
import sys
from typing import Any

from pydantic import ValidationError

from yoto_mqtt.handler import MqttHandler
from yoto_mqtt.logs import configure_logging
from yoto_mqtt.settings import MqttSettings
from yoto_mqtt.store import EventWriter
from yoto_smart_stream.aws import aws_clients
from yoto_smart_stream.config import Settings
from yoto_smart_stream.yoto.client import YotoApiClient, YotoAuthClient
from yoto_smart_stream.yoto.tokens import YotoTokenManager

logger = logging.getLogger("yoto_mqtt")


def build_handler(settings: Settings, mqtt_settings: MqttSettings) -> MqttHandler:
    aws = aws_clients(settings)
    tokens = YotoTokenManager.from_settings(
        settings, aws.table, YotoAuthClient.from_settings(settings)
    )
    api = YotoApiClient.from_settings(settings, tokens)

    def list_player_ids() -> list[str]:
        return [str(player["deviceId"]) for player in api.list_players()]

    def writer_factory(on_stored: Any) -> EventWriter:
        return EventWriter(
            aws.dynamodb,
            settings.dynamodb_table,
            on_stored=on_stored,
            batch_size=mqtt_settings.batch_size,
            queue_size=mqtt_settings.queue_size,
        )

    return MqttHandler(
        mqtt_settings,
        tokens=tokens,
        list_player_ids=list_player_ids,
        writer_factory=writer_factory,
    )


def main() -> None:
    try:
        settings = Settings()
        mqtt_settings = MqttSettings()
    except ValidationError as exc:
        sys.exit(f"yoto-mqtt-handler: invalid configuration: {exc}")
    configure_logging(settings.log_level)
    if not settings.dynamodb_table:
        sys.exit("yoto-mqtt-handler: DYNAMODB_TABLE is not set; it names the table to write to.")
    handler = build_handler(settings, mqtt_settings)
    signal.signal(signal.SIGTERM, lambda signum, frame: handler.request_stop())
    signal.signal(signal.SIGINT, lambda signum, frame: handler.request_stop())
    logger.info(
        "starting",
        extra={
            "environment": settings.environment,
            "broker": f"{mqtt_settings.broker_host}:{mqtt_settings.broker_port}",
            "transport": mqtt_settings.transport,
            "commit": settings.git_commit,
        },
    )
    sys.exit(handler.run())


if __name__ == "__main__":
    main()
