"""Entry point: ``yoto-mqtt-handler`` / ``python -m yoto_mqtt``."""

from __future__ import annotations

import logging
import signal
import sys
from typing import Any

from botocore.exceptions import BotoCoreError

from yoto_mqtt.handler import MqttHandler
from yoto_mqtt.logs import configure_logging
from yoto_mqtt.settings import (
    ConfigurationError,
    MqttSettings,
    SharedSettings,
    load_configuration,
)
from yoto_mqtt.store import EventWriter
from yoto_smart_stream.core.aws import aws_clients
from yoto_smart_stream.core.storage.tokens import TokenStore
from yoto_smart_stream.core.yoto.client import YotoApiClient, YotoAuthClient
from yoto_smart_stream.core.yoto.tokens import YotoTokenManager

logger = logging.getLogger("yoto_mqtt")


def build_handler(settings: SharedSettings, mqtt_settings: MqttSettings) -> MqttHandler:
    aws = aws_clients(settings)
    tokens = YotoTokenManager.from_settings(
        settings, TokenStore(aws.table), YotoAuthClient.from_settings(settings)
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


def start(settings: SharedSettings, mqtt_settings: MqttSettings) -> MqttHandler:
    """Build the handler; an AWS setting boto3 cannot use becomes a ``ConfigurationError``."""
    if not aws_clients(settings).session.region_name:
        raise ConfigurationError(
            "no AWS region is configured; set AWS_REGION (ECS sets it for the task)."
        )
    try:
        return build_handler(settings, mqtt_settings)
    except (BotoCoreError, ValueError) as exc:
        # e.g. an AWS_ENDPOINT_URL that is not a URL; boto3's own message names the value.
        detail = " ".join(str(exc).split()).rstrip(".")
        raise ConfigurationError(f"cannot set up the AWS clients: {detail}.") from None


def main() -> None:
    try:
        settings, mqtt_settings = load_configuration()
        configure_logging(settings.log_level)
        handler = start(settings, mqtt_settings)
    except ConfigurationError as exc:
        sys.exit(f"yoto-mqtt-handler: {exc}")
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
