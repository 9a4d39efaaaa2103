"""Topic parsing and payload validation: pure functions over untrusted input."""

from __future__ import annotations

import json

import pytest

from yoto_mqtt.payloads import InvalidPayload, parse_event_time, validate_payload
from yoto_mqtt.topics import PlayerTopic, parse_topic, request_topics, subscription_topics


@pytest.mark.parametrize(
    ("topic", "expected"),
    [
        ("device/p1/data/events", PlayerTopic("p1", "events")),
        ("device/p1/data/status", PlayerTopic("p1", "status")),
        ("device/p1/events", PlayerTopic("p1", "events")),
        ("device/p1/status", PlayerTopic("p1", "status")),
        ("device/p1/response", PlayerTopic("p1", "response")),
        ("device/p1/data/response", None),
        ("device/p1/command/events/request", None),
        ("device//events", None),
        ("device/+/events", None),
        ("other/p1/events", None),
        ("device/p1/events/extra", None),
        ("", None),
    ],
)
def test_parse_topic(topic: str, expected: PlayerTopic | None) -> None:
    assert parse_topic(topic) == expected


def test_every_subscribed_topic_parses_back_to_its_player() -> None:
    topics = subscription_topics("abc")
    assert len(topics) == 5
    assert {parse_topic(t) for t in topics} == {
        PlayerTopic("abc", "events"),
        PlayerTopic("abc", "status"),
        PlayerTopic("abc", "response"),
    }
    assert request_topics("abc") == [
        "device/abc/command/events/request",
        "device/abc/command/status/request",
    ]


def test_valid_events_payload_keeps_known_fields_only() -> None:
    raw = json.dumps(
        {"eventUtc": 1_780_000_000, "cardId": "c1", "volume": 40, "secret": "x", "position": 1.5}
    ).encode()
    result = validate_payload(raw, "events", max_bytes=1000)
    assert result.data == {"cardId": "c1", "volume": 40, "position": 1.5}
    assert result.event_utc == "2026-05-28T20:26:40.000Z"
    assert result.dropped_fields == []


def test_wrong_typed_fields_are_dropped_and_named() -> None:
    raw = b'{"cardId": "c1", "volume": "loud", "streaming": "yes", "position": -3}'
    result = validate_payload(raw, "events", max_bytes=1000)
    assert result.data == {"cardId": "c1"}
    assert sorted(result.dropped_fields) == ["position", "streaming", "volume"]


def test_wrapped_status_payload_is_unwrapped() -> None:
    result = validate_payload(b'{"status": {"batteryLevel": 80}}', "status", max_bytes=1000)
    assert result.data == {"batteryLevel": 80}


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"x" * 2000, "exceeds"),
        (b"not json", "not JSON"),
        (b"\xff\xfe", "not JSON"),
        (b"[1]", "not an object"),
        (b'{"volume": NaN}', "NaN"),
        (b"[" * 5000 + b"]" * 5000, "exceeds"),
        (b'{"unknown": 1}', "no known events field"),
        (b'{"volume": "loud"}', "invalid: volume"),
    ],
)
def test_unusable_payloads_are_rejected_with_a_reason(raw: bytes, reason: str) -> None:
    with pytest.raises(InvalidPayload, match=reason):
        validate_payload(raw, "events", max_bytes=1000)


def test_deep_nesting_is_rejected_not_crashing() -> None:
    with pytest.raises(InvalidPayload, match="nested too deeply"):
        validate_payload(b"[" * 100_000 + b"]" * 100_000, "events", max_bytes=1_000_000)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (1_780_000_000, "2026-05-28T20:26:40.000Z"),
        (1_780_000_000_123, "2026-05-28T20:26:40.123Z"),
        ("2026-05-28T20:26:40Z", "2026-05-28T20:26:40.000Z"),
        ("2026-05-28T21:26:40+01:00", "2026-05-28T20:26:40.000Z"),
        ("yesterday", None),
        (True, None),
        (-1, None),
        (float("inf"), None),
        ("1800-01-01T00:00:00Z", None),
    ],
)
def test_event_time_is_normalised_to_sortable_utc(value: object, expected: str | None) -> None:
    assert parse_event_time(value) == expected


def test_redelivery_without_event_time_reuses_the_first_receive_time() -> None:
    from yoto_mqtt.handler import RecentDeliveries

    recent = RecentDeliveries(window_seconds=60)
    first = recent.event_time("digest-a", now=1_780_000_000.0)
    assert recent.event_time("digest-a", now=1_780_000_030.0) == first
    assert recent.event_time("digest-b", now=1_780_000_030.0) != first
    # Outside the window the same payload is a new event.
    assert recent.event_time("digest-a", now=1_780_000_100.0) != first
