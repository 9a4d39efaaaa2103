"""Feed a player's MQTT payload through the MQTT handler's own validation and writer.

Tests that need "what the MQTT handler would have stored" use the handler's code
(``validate_payload`` and ``EventWriter``) against the moto table instead of writing items by
hand, so the app reads exactly what production writes. The broker leg is covered in tests/mqtt.
"""

from __future__ import annotations

import datetime
import json
import threading
from collections.abc import Sequence
from typing import Any

import boto3

from yoto_mqtt.payloads import format_utc, validate_payload
from yoto_mqtt.store import Acknowledgement, Delivery, EventWriter, PlayerEvent
from yoto_smart_stream.core.storage import schema


def store_player_payload(table_name: str, player_id: str, payload: dict[str, Any]) -> None:
    """Store one ``device/{id}/data/events`` message as the MQTT handler does; wait for it."""
    topic = f"device/{player_id}/data/events"
    raw = json.dumps(payload).encode()
    validated = validate_payload(raw, "events", max_bytes=64 * 1024)
    now = datetime.datetime.now(tz=datetime.UTC)
    event = PlayerEvent(
        player_id=player_id,
        event_utc=validated.event_utc or format_utc(now),
        topic=topic,
        kind="events",
        data=validated.data,
        received_at=format_utc(now),
        digest=schema.event_digest(topic, raw),
    )
    stored = threading.Event()

    def on_stored(acks: Sequence[Acknowledgement]) -> None:
        stored.set()

    table = boto3.resource("dynamodb").Table(table_name)
    writer = EventWriter(table.meta.client, table_name, on_stored=on_stored)
    writer.start()
    writer.submit(Delivery(event=event, ack=Acknowledgement(connection=0, mid=1, qos=1)))
    try:
        if not stored.wait(10):
            raise RuntimeError("The MQTT handler's writer did not store the event in 10 s.")
    finally:
        writer.close(5)
