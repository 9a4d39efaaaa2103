"""The handler against a real broker (amqtt over WebSockets + TLS), moto and the fake Yoto
cloud, run as a real subprocess."""

from __future__ import annotations

import json
import secrets
import threading
import time
import uuid
from collections.abc import Callable
from decimal import Decimal

import boto3
import httpx
import pytest

from tests.mqtt.conftest import (
    HANDLER_CLIENT_PREFIX,
    PLAYER_ID,
    HandlerProcess,
    Publisher,
    event_items,
    wait_until,
)
from tests.support.app_server import app_env, running_app_server
from tests.support.moto_server import TEST_REGION
from tests.support.mqtt_broker import MqttBroker, acknowledged_messages
from tests.support.yoto_fake import FakeYoto
from yoto_smart_stream.core.storage import schema


def events_payload(n: int, **extra: object) -> str:
    return json.dumps(
        {
            "eventUtc": 1_780_000_000 + n,
            "cardId": f"card-{n}",
            "playbackStatus": "playing",
            "volume": 40,
            "position": 12.5,
            "streaming": False,
            **extra,
        }
    )


def test_both_topic_generations_land_in_dynamodb_and_the_api(
    handler: HandlerProcess, publisher: Publisher, table_name: str, yoto: FakeYoto
) -> None:
    sent = {
        f"device/{PLAYER_ID}/data/events": events_payload(1),
        f"device/{PLAYER_ID}/events": events_payload(2, trackTitle="Old generation"),
        f"device/{PLAYER_ID}/data/status": json.dumps({"status": {"batteryLevel": 80}}),
        f"device/{PLAYER_ID}/status": json.dumps({"batteryLevel": 75, "charging": True}),
        f"device/{PLAYER_ID}/response": json.dumps({"status": {"card/pause": "OK"}}),
    }
    for topic, payload in sent.items():
        publisher.publish(topic, payload)

    items = wait_until(
        lambda: (found := event_items(table_name)) and len(found) >= len(sent) and found,
        20,
        "five stored events",
    )
    assert len(items) == len(sent)
    by_topic = {item["topic"]: item for item in items}
    assert set(by_topic) == set(sent)
    now = time.time()
    for topic, item in by_topic.items():
        assert set(schema.EVENT_ATTRIBUTES) <= item.keys()
        assert item["player_id"] == PLAYER_ID
        assert item["SK"] == (
            f"{schema.EVENT_SK_PREFIX}{item['event_utc']}#"
            f"{schema.event_digest(topic, sent[topic].encode())}"
        )
        assert (
            now + schema.EVENT_TTL_SECONDS - 120
            < item["expires_at"]
            <= now + schema.EVENT_TTL_SECONDS + 5
        )
    assert by_topic[f"device/{PLAYER_ID}/data/events"]["kind"] == "events"
    assert by_topic[f"device/{PLAYER_ID}/events"]["kind"] == "events"
    assert by_topic[f"device/{PLAYER_ID}/data/status"]["kind"] == "status"
    assert by_topic[f"device/{PLAYER_ID}/status"]["kind"] == "status"
    assert by_topic[f"device/{PLAYER_ID}/response"]["kind"] == "response"
    assert by_topic[f"device/{PLAYER_ID}/data/events"]["event_utc"] == "2026-05-28T20:26:41.000Z"
    assert by_topic[f"device/{PLAYER_ID}/data/events"]["data"] == {
        "cardId": "card-1",
        "playbackStatus": "playing",
        "volume": 40,
        "position": Decimal("12.5"),
        "streaming": False,
    }
    assert by_topic[f"device/{PLAYER_ID}/status"]["data"] == {"batteryLevel": 75, "charging": True}

    state = (
        boto3.resource("dynamodb")
        .Table(table_name)
        .get_item(Key=schema.player_state_key(PLAYER_ID), ConsistentRead=True)["Item"]
    )
    assert state["cardId"] == "card-2"  # the newest events payload wins
    assert state["trackTitle"] == "Old generation"
    assert state["batteryLevel"] in (75, 80)
    assert handler.alive()

    # The API's events endpoint serves what the handler stored, newest first.
    password = secrets.token_urlsafe(16)
    bucket = f"mqtt-audio-{uuid.uuid4().hex[:12]}"
    boto3.client("s3").create_bucket(
        Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": TEST_REGION}
    )
    env = app_env(table_name=table_name, bucket_name=bucket, yoto=yoto, admin_password=password)
    with running_app_server(env) as server, httpx.Client(base_url=server.base_url) as http:
        login = http.post("/api/user/login", json={"username": "admin", "password": password})
        assert login.status_code == 200, login.text
        response = http.get(f"/api/players/{PLAYER_ID}/events", params={"limit": 10})
    assert response.status_code == 200, response.text
    served = response.json()["items"]
    assert {e["topic"] for e in served} == set(sent)
    assert [e["event_utc"] for e in served] == sorted(
        (e["event_utc"] for e in served), reverse=True
    )
    served_events = next(e for e in served if e["topic"] == f"device/{PLAYER_ID}/data/events")
    assert served_events["kind"] == "events"
    assert served_events["data"]["cardId"] == "card-1"


def test_handler_requests_events_periodically(
    start_handler: Callable[..., HandlerProcess], broker: MqttBroker, yoto: FakeYoto
) -> None:
    spy = Publisher(broker, yoto.valid_access_tokens()[0])
    requests: list[str] = []
    spy.client.on_message = lambda client, userdata, message: requests.append(message.topic)
    subscribed = threading.Event()
    spy.client.on_subscribe = lambda *args: subscribed.set()
    spy.client.subscribe(f"device/{PLAYER_ID}/command/#", qos=1)
    assert subscribed.wait(10)
    try:
        start_handler(MQTT_EVENTS_REQUEST_INTERVAL_SECONDS="1")
        wait_until(
            lambda: requests.count(f"device/{PLAYER_ID}/command/events/request") >= 3,
            20,
            "three events requests",
        )
    finally:
        spy.close()
    assert f"device/{PLAYER_ID}/command/status/request" in requests


def test_broker_restart_mid_stream_resumes_without_duplicates(
    handler: HandlerProcess, broker: MqttBroker, publisher: Publisher, table_name: str
) -> None:
    topic = f"device/{PLAYER_ID}/data/events"
    first = [events_payload(n) for n in range(20)]
    for payload in first:
        publisher.publish(topic, payload)
    wait_until(lambda: len(event_items(table_name)) >= 20, 20, "the first 20 events")

    broker.kill()
    broker.start()
    handler.wait_for("subscribed", times=2, timeout=30)
    wait_until(publisher.client.is_connected, 30, "the publisher to reconnect")

    # The second half, plus five of the first half again, as a QoS 1 redelivery would.
    second = [events_payload(n) for n in range(20, 40)]
    for payload in second + first[:5]:
        publisher.publish(topic, payload)
    wait_until(lambda: len(event_items(table_name)) >= 40, 20, "all 40 events")
    time.sleep(1)  # let any duplicate arrive before counting

    items = event_items(table_name)
    assert len(items) == 40
    assert sorted(item["data"]["cardId"] for item in items) == sorted(
        f"card-{n}" for n in range(40)
    )
    assert handler.alive()
    assert "broker connection problem, reconnecting" in handler.log()


@pytest.mark.parametrize("token_problem", ["expired", "revoked"])
def test_rejected_token_is_refreshed_then_connects(
    token_problem: str,
    handler: HandlerProcess,
    broker: MqttBroker,
    yoto: FakeYoto,
    table_name: str,
) -> None:
    refreshes_before = yoto.refresh_uses
    # The stored token still looks valid to the handler, but Yoto no longer accepts it.
    if token_problem == "expired":
        yoto.expire_access_tokens()
    else:
        yoto.revoke_access_tokens()
    broker.kill()
    broker.start()

    handler.wait_for("subscribed", times=2, timeout=40)
    assert yoto.refresh_uses == refreshes_before + 1
    assert "broker refused the token" in handler.log()
    assert "HTTP 401" in broker.log_tail(20_000) or "HTTP 403" in broker.log_tail(20_000)

    publisher = Publisher(broker, yoto.valid_access_tokens()[0])
    try:
        publisher.publish(f"device/{PLAYER_ID}/data/events", events_payload(1))
    finally:
        publisher.close()
    wait_until(lambda: event_items(table_name), 20, "an event after the refresh")


MALFORMED_PAYLOADS: list[bytes] = [
    b"not json at all",
    b"\xff\xfe\x00garbage",
    b"",
    b"[1, 2, 3]",
    b'"just a string"',
    b"null",
    b'{"volume": {"nested": 1}, "playbackStatus": [7], "batteryLevel": null}',
    b'{"volume": NaN}',
    b'{"position": Infinity}',
    b"[" * 100_000 + b"]" * 100_000,
    b'{"cardId": "' + b"x" * 200_000 + b'"}',
    b'{"eventUtc": "yesterday", "unknownField": {"deep": [1, 2]}}',
    b"{" + b'"a": 1, ' * 10 + b"",
]


def test_burst_of_malformed_payloads_never_crashes(
    handler: HandlerProcess, broker: MqttBroker, publisher: Publisher, table_name: str
) -> None:
    topics = [
        f"device/{PLAYER_ID}/data/events",
        f"device/{PLAYER_ID}/events",
        f"device/{PLAYER_ID}/data/status",
        f"device/{PLAYER_ID}/response",
    ]
    for round_number in range(5):
        for topic in topics:
            for payload in MALFORMED_PAYLOADS:
                publisher.publish(topic, payload, wait=False)
        publisher.publish(topics[0], events_payload(round_number))
    # A valid event with one bad field keeps its good fields.
    publisher.publish(topics[0], events_payload(99, volume="loud"))

    items = wait_until(
        lambda: (found := event_items(table_name)) and len(found) >= 6 and found,
        30,
        "the six valid events",
    )
    time.sleep(1)
    items = event_items(table_name)
    assert sorted(item["data"]["cardId"] for item in items) == sorted(
        [f"card-{n}" for n in range(5)] + ["card-99"]
    )
    partial = next(item for item in items if item["data"]["cardId"] == "card-99")
    assert "volume" not in partial["data"]
    assert handler.alive()
    assert handler.count("skipped invalid payload") >= 5 * len(topics) * (
        len(MALFORMED_PAYLOADS) - 1
    )
    # Skipped messages are acknowledged too (otherwise the broker would redeliver them forever).
    assert broker.delivery_log is not None
    acked = acknowledged_messages(broker.delivery_log, HANDLER_CLIENT_PREFIX)
    assert len(acked) == 5 * len(topics) * len(MALFORMED_PAYLOADS) + 6


def test_sigterm_during_burst_exits_cleanly_with_every_ack_stored(
    handler: HandlerProcess, broker: MqttBroker, publisher: Publisher, table_name: str
) -> None:
    topic = f"device/{PLAYER_ID}/data/events"
    stop = threading.Event()
    published = 0

    def burst() -> None:
        nonlocal published
        while not stop.is_set():
            publisher.publish(topic, events_payload(published), wait=False)
            published += 1
            if published % 50 == 0:
                time.sleep(0.01)

    thread = threading.Thread(target=burst)
    thread.start()
    try:
        wait_until(lambda: len(event_items(table_name)) >= 50, 30, "the burst to be stored")
        code, seconds = handler.terminate(timeout=35)
    finally:
        stop.set()
        thread.join(10)

    assert code == 0, handler.log()[-3000:]
    assert seconds < 30
    assert '"message":"stopped cleanly"' in handler.log()
    assert broker.delivery_log is not None
    acked = acknowledged_messages(broker.delivery_log, HANDLER_CLIENT_PREFIX)
    stored_sort_keys = {item["SK"] for item in event_items(table_name)}
    stored_digests = {sk.rsplit("#", 1)[1] for sk in stored_sort_keys}
    assert len(acked) >= 50
    missing = [m for m in acked if schema.event_digest(m.topic, m.payload) not in stored_digests]
    assert missing == [], f"{len(missing)} acknowledged messages were not stored"


def test_one_poisoned_number_does_not_poison_its_batch(
    handler: HandlerProcess, broker: MqttBroker, publisher: Publisher, table_name: str
) -> None:
    """10 good events and one whose number DynamoDB cannot hold, published back to back so they
    share a write batch: all ten are stored, all eleven acknowledged, and SIGTERM exits 0."""
    topic = f"device/{PLAYER_ID}/data/events"
    good = [events_payload(n) for n in range(10)]
    poisoned = '{"eventUtc": 1780000500, "cardId": "poison", "position": 1e200}'
    for payload in [*good[:5], poisoned, *good[5:]]:
        publisher.publish(topic, payload, wait=False)

    wait_until(lambda: len(event_items(table_name)) >= 10, 20, "the ten good events")
    assert broker.delivery_log is not None
    wait_until(
        lambda: len(acknowledged_messages(broker.delivery_log, HANDLER_CLIENT_PREFIX)) >= 11,  # type: ignore[arg-type]
        20,
        "eleven acknowledgements",
    )
    items = event_items(table_name)
    assert {item["data"]["cardId"] for item in items} >= {f"card-{n}" for n in range(10)}
    # The poisoned event keeps its good fields (the bad one is dropped and named in the log).
    assert [item["data"] for item in items if item["data"]["cardId"] == "poison"] == [
        {"cardId": "poison"}
    ]
    acked = acknowledged_messages(broker.delivery_log, HANDLER_CLIENT_PREFIX)
    assert sorted(m.payload.decode() for m in acked) == sorted([*good, poisoned])

    code, _ = handler.terminate(timeout=35)
    assert code == 0, handler.log()[-3000:]
    assert '"message":"stopped cleanly"' in handler.log()
