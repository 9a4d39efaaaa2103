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


# Numbers DynamoDB's Number type cannot hold (38 significant digits, magnitude 1E-130 to
# 9.99...E+125). Each one used to pass validation and then poison a whole write batch.
HOSTILE_NUMBERS: list[bytes] = [
    b"1e200",
    b"-1e200",
    b"1e126",
    b"1e-200",
    b"5e-324",
    b"1.7976931348623157e308",
    b"1e400",  # json.loads turns this into inf
    b"-1e400",
    str(10**40).encode(),
    str(-(10**40)).encode(),
    str(10**38).encode(),  # 39 digits
    b"1" * 4000,  # a huge int, still under Python's int parsing limit
]


@pytest.mark.parametrize("number", HOSTILE_NUMBERS, ids=lambda n: n[:24].decode())
def test_numbers_dynamodb_cannot_hold_are_dropped_and_named(number: bytes) -> None:
    raw = b'{"cardId": "c1", "position": ' + number + b', "trackLength": ' + number + b"}"
    result = validate_payload(raw, "events", max_bytes=10_000)
    assert result.data == {"cardId": "c1"}
    assert sorted(result.dropped_fields) == ["position", "trackLength"]


@pytest.mark.parametrize("number", HOSTILE_NUMBERS, ids=lambda n: n[:24].decode())
def test_hostile_numbers_in_status_and_responses_are_dropped(number: bytes) -> None:
    status = validate_payload(
        b'{"batteryLevel": ' + number + b', "charging": true}', "status", max_bytes=10_000
    )
    assert status.data == {"charging": True}
    assert status.dropped_fields == ["batteryLevel"]
    response = validate_payload(
        b'{"status": {"card/pause": ' + number + b'}, "correlationId": "c"}',
        "response",
        max_bytes=10_000,
    )
    assert response.data == {"correlationId": "c"}
    assert response.dropped_fields == ["status"]


@pytest.mark.parametrize(
    "number",
    [b"0", b"-0.0", b"1e125", b"-9.9e125", b"1e-130", b"0.1", str(10**37).encode(), b"12.5"],
)
def test_numbers_dynamodb_holds_are_kept(number: bytes) -> None:
    result = validate_payload(b'{"batteryLevel": ' + number + b"}", "status", max_bytes=1000)
    assert result.dropped_fields == []
    assert result.data == {"batteryLevel": json.loads(number)}


def test_a_huge_event_time_is_dropped_not_fatal() -> None:
    raw = b'{"cardId": "c1", "eventUtc": ' + b"9" * 400 + b"}"
    result = validate_payload(raw, "events", max_bytes=1000)
    assert result.data == {"cardId": "c1"}
    assert result.event_utc is None
    assert result.dropped_fields == ["eventUtc"]


def test_text_without_a_utf8_form_is_dropped() -> None:
    # A lone surrogate escape decodes to a str that cannot be encoded as UTF-8, which is how
    # DynamoDB stores strings.
    raw = b'{"cardId": "c1", "trackTitle": "a\\ud800b"}'
    result = validate_payload(raw, "events", max_bytes=1000)
    assert result.data == {"cardId": "c1"}
    assert result.dropped_fields == ["trackTitle"]


def test_a_deeply_nested_field_is_dropped_and_the_rest_kept() -> None:
    deep = b'{"a": ' * 5000 + b"1" + b"}" * 5000
    result = validate_payload(
        b'{"cardId": "c1", "trackTitle": ' + deep + b"}", "events", max_bytes=1_000_000
    )
    assert result.data == {"cardId": "c1"}
    assert result.dropped_fields == ["trackTitle"]
