"""Validation of untrusted MQTT payloads.

Every field is optional and every payload is untrusted. A payload that is not a JSON object
(or is too large, too deep, or carries no field we know) is rejected with a reason. Inside an
object, each known field is checked on its own: a field with the wrong type, or a value the
table cannot store, is dropped and named, the rest is kept. Unknown fields are ignored, so
nothing we did not vet reaches the table.

"Can store" is DynamoDB's Number type: at most 38 significant digits and a magnitude of
1E-130 to 9.99...E+125 (Amazon DynamoDB Developer Guide, "Supported data types and naming
rules", Number), checked with the same decimal context boto3 serialises with. JSON itself allows
1e200, 10**40 or a 4,000-digit integer; one such value used to fail a whole write batch.
"""

from __future__ import annotations

import datetime
import decimal
import json
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from boto3.dynamodb.types import DYNAMODB_CONTEXT

from yoto_mqtt.topics import EventKind

# DynamoDB's Number limits (magnitude as adjusted exponents: 1E-130 .. 9.99...E+125).
DYNAMODB_MIN_EXPONENT = -130
DYNAMODB_MAX_EXPONENT = 125
MAX_TEXT_LENGTH = 1024
MAX_RESPONSE_KEY_LENGTH = 128
MAX_RESPONSE_ENTRIES = 32


def dynamo_number(value: int | float) -> decimal.Decimal:
    """``value`` as the Decimal DynamoDB stores; ``ValueError`` if its Number type cannot hold it.

    boto3's context traps any rounding (more than 38 digits, 10**38 included) and its own
    exponent limits; DynamoDB's documented range is a little narrower, so both are checked.
    """
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{type(value).__name__} is not a number")
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError("DynamoDB has no NaN or Infinity")
    try:
        # repr: the shortest string that round-trips the float, not its binary expansion.
        number = DYNAMODB_CONTEXT.create_decimal(repr(value) if isinstance(value, float) else value)
    except decimal.DecimalException as exc:
        raise ValueError(f"DynamoDB cannot hold this number ({type(exc).__name__})") from exc
    if number and not DYNAMODB_MIN_EXPONENT <= number.adjusted() <= DYNAMODB_MAX_EXPONENT:
        raise ValueError("the number is outside DynamoDB's range")
    return number


# Field validators: the value as stored, or ValueError (the field is dropped). Strict: no
# coercion between JSON types, so "40" is no volume and true is no number. Plain functions,
# not a validation library: the handler's image carries no pydantic (14 MB of its memory).
Validator = Callable[[Any], Any]


def flag(value: Any) -> bool:
    if not isinstance(value, bool):
        raise ValueError("not a JSON boolean")
    return value


def text(value: Any, max_length: int = MAX_TEXT_LENGTH) -> str:
    if not isinstance(value, str):
        raise ValueError("not a JSON string")
    if len(value) > max_length:
        raise ValueError(f"longer than {max_length} characters")
    # DynamoDB strings are UTF-8; a lone surrogate (JSON "\ud800") has no UTF-8 form.
    value.encode("utf-8")
    return value


def integer(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError("not a JSON integer")
    dynamo_number(value)
    return value


def fraction(value: Any) -> float:
    # Only a JSON number with a fraction or exponent: an int DynamoDB cannot hold must be
    # dropped, not silently rounded to a float that it can.
    if not isinstance(value, float):
        raise ValueError("not a JSON number with a fraction or exponent")
    dynamo_number(value)  # also refuses inf (json.loads reads 1e400 as inf)
    return value


def non_negative(value: Any) -> int | float:
    number = fraction(value) if isinstance(value, float) else integer(value)
    if number < 0:
        raise ValueError("negative")
    return number


def volume(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 100:
        raise ValueError("not an integer from 0 to 100")
    return value


def scalar(value: Any) -> bool | int | float | str:
    """Any JSON scalar the table can store."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return integer(value)
    if isinstance(value, float):
        return fraction(value)
    return text(value)


def command_statuses(value: Any) -> dict[str, Any]:
    """``{"<command>": <scalar>}``, at most 32 entries; one bad entry drops the whole field."""
    if not isinstance(value, dict):
        raise ValueError("not a JSON object")
    if len(value) > MAX_RESPONSE_ENTRIES:
        raise ValueError(f"more than {MAX_RESPONSE_ENTRIES} entries")
    return {text(k, MAX_RESPONSE_KEY_LENGTH): scalar(v) for k, v in value.items()}


# Fields seen in the events payload (docs/yoto-api.md).
EVENT_FIELDS: dict[str, Validator] = {
    "trackLength": non_negative,
    "position": non_negative,
    "cardId": text,
    "repeatAll": flag,
    "source": text,
    "chapterTitle": text,
    "chapterKey": text,
    "trackTitle": text,
    "trackKey": text,
    "streaming": flag,
    "volume": volume,
    "volumeMax": volume,
    "playbackStatus": text,
    "playbackWait": flag,
    "sleepTimerActive": flag,
}
# Status fields as the public yoto-api client reads them (UNCONFIRMED: types vary between
# firmware versions, so any JSON scalar is accepted).
STATUS_FIELDS: dict[str, Validator] = dict.fromkeys(
    (
        "activeCard",
        "batteryLevel",
        "charging",
        "cardInserted",
        "volume",
        "userVolume",
        "playingStatus",
        "powerSource",
        "wifiStrength",
        "temperatureCelcius",
        "ambientLightSensorReading",
        "nightlightMode",
        "dayMode",
        "headphones",
        "freeDisk",
        "totalDisk",
        "upTime",
        "fwVersion",
        "networkSsid",
        "statusVersion",
    ),
    scalar,
)
# Command acknowledgements: {"status": {"<command>": "OK"}, "correlationId": ...} (UNCONFIRMED).
RESPONSE_FIELDS: dict[str, Validator] = {"status": command_statuses, "correlationId": text}
FIELDS_BY_KIND: dict[EventKind, dict[str, Validator]] = {
    "events": EVENT_FIELDS,
    "status": STATUS_FIELDS,
    "response": RESPONSE_FIELDS,
}

EVENT_TIME_FIELD = "eventUtc"
_EARLIEST = datetime.datetime(2000, 1, 1, tzinfo=datetime.UTC)
_LATEST = datetime.datetime(2100, 1, 1, tzinfo=datetime.UTC)
# Epoch values above this are milliseconds, not seconds (year 5138 in seconds).
_EPOCH_MILLIS_THRESHOLD = 1e11
# Larger integers are no time we accept (in seconds or milliseconds) and overflow a float.
_EPOCH_LIMIT = 10**15


class InvalidPayload(ValueError):
    """The payload cannot be stored; the message says why (for the log)."""


@dataclass(frozen=True)
class ValidatedPayload:
    data: dict[str, Any]
    # ISO 8601 UTC from the payload's eventUtc, or None when absent or unusable.
    event_utc: str | None
    dropped_fields: list[str] = field(default_factory=list)


def format_utc(moment: datetime.datetime) -> str:
    """Fixed-width ISO 8601 UTC with milliseconds, so sort keys order by time as strings."""
    return moment.astimezone(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def parse_event_time(value: Any) -> str | None:
    """eventUtc as epoch seconds/milliseconds or an ISO 8601 string; None if unusable."""
    moment: datetime.datetime | None = None
    if isinstance(value, bool):
        return None
    if isinstance(value, int) and not -_EPOCH_LIMIT < value < _EPOCH_LIMIT:
        return None  # far outside any usable time, and too large to become a float
    if isinstance(value, int | float) and math.isfinite(value):
        seconds = value / 1000 if value > _EPOCH_MILLIS_THRESHOLD else value
        if _EARLIEST.timestamp() <= seconds < _LATEST.timestamp():
            moment = datetime.datetime.fromtimestamp(seconds, tz=datetime.UTC)
    elif isinstance(value, str) and len(value) <= 64:
        try:
            moment = datetime.datetime.fromisoformat(value)
        except ValueError:
            return None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=datetime.UTC)
        if not _EARLIEST <= moment < _LATEST:
            moment = None
    return format_utc(moment) if moment else None


def _reject_constant(name: str) -> Any:
    raise InvalidPayload(f"payload contains {name}, which is not JSON")


def validate_payload(raw: bytes, kind: EventKind, *, max_bytes: int) -> ValidatedPayload:
    """Decode and vet one payload for ``kind``; raise ``InvalidPayload`` if nothing is usable."""
    if len(raw) > max_bytes:
        raise InvalidPayload(f"payload of {len(raw)} bytes exceeds the {max_bytes}-byte limit")
    try:
        document = json.loads(raw, parse_constant=_reject_constant)
    except RecursionError as exc:
        raise InvalidPayload("payload is nested too deeply") from exc
    except ValueError as exc:  # includes UnicodeDecodeError and json.JSONDecodeError
        if isinstance(exc, InvalidPayload):
            raise
        raise InvalidPayload(f"payload is not JSON: {type(exc).__name__}") from exc
    if not isinstance(document, dict):
        raise InvalidPayload(f"payload is JSON {type(document).__name__}, not an object")
    # Some firmware wraps the fields: {"events": {...}} / {"status": {...}}.
    if kind != "response" and isinstance(document.get(kind), dict):
        document = document[kind]

    data: dict[str, Any] = {}
    dropped: list[str] = []
    for name, validate in FIELDS_BY_KIND[kind].items():
        if name not in document:
            continue
        try:
            data[name] = validate(document[name])
        except ValueError:  # UnicodeEncodeError (a lone surrogate) is one
            dropped.append(name)
    event_utc = None
    if EVENT_TIME_FIELD in document:
        event_utc = parse_event_time(document[EVENT_TIME_FIELD])
        if event_utc is None:
            dropped.append(EVENT_TIME_FIELD)
    if not data:
        detail = f" (invalid: {', '.join(dropped)})" if dropped else ""
        raise InvalidPayload(f"payload has no known {kind} field{detail}")
    return ValidatedPayload(data=data, event_utc=event_utc, dropped_fields=dropped)
