"""The handler's settings, read from the environment with the standard library.

``SharedSettings`` holds what the handler reads under the same names as the API's
``yoto_smart_stream.core.settings.Settings`` (table, AWS, Yoto URLs and token policy; defaults
from ``yoto_smart_stream.core.defaults``); ``MqttSettings`` its own ``MQTT_*`` values. No
pydantic: it cost the handler 14 MB of its resident memory (README, Benchmarks), for parsing a
few dozen variables. Each value is converted and checked on its own, and every bad one is named
in one sentence (never echoing a value: a secret may be among them).
"""

from __future__ import annotations

import math
import os
import ssl
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Literal, TypeVar

from yoto_smart_stream.core import defaults

# Yoto's AWS IoT endpoint (docs/yoto-api.md): MQTT over WebSockets with TLS on 443.
YOTO_BROKER_HOST = "aqrphjqbp3u2z-ats.iot.eu-west-2.amazonaws.com"
# DynamoDB's BatchWriteItem limit.
MAX_BATCH_ITEMS = 25
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
_TRUE = frozenset({"1", "true", "t", "yes", "y", "on"})
_FALSE = frozenset({"0", "false", "f", "no", "n", "off"})


class ConfigurationError(Exception):
    """A missing or invalid setting; ``str()`` is one sentence for stderr."""


# -- converters: raw text -> value, ValueError with a clause that never repeats the input --


def _text(raw: str) -> str:
    return raw


def _optional_text(raw: str) -> str | None:
    return raw or None


def _boolean(raw: str) -> bool:
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ValueError("must be true or false")


def _integer(raw: str) -> int:
    try:
        return int(raw.strip())
    except ValueError:
        raise ValueError("must be a whole number") from None


def _number(raw: str) -> float:
    try:
        value = float(raw.strip())
    except ValueError:
        raise ValueError("must be a number") from None
    if not math.isfinite(value):
        raise ValueError("must be a finite number")
    return value


def _above(convert: Callable[[str], Any], low: float) -> Callable[[str], Any]:
    def checked(raw: str) -> Any:
        value = convert(raw)
        if not value > low:
            raise ValueError(f"must be greater than {low:g}")
        return value

    return checked


def _within(convert: Callable[[str], Any], low: float, high: float) -> Callable[[str], Any]:
    def checked(raw: str) -> Any:
        value = convert(raw)
        if not low <= value <= high:
            raise ValueError(f"must be between {low:g} and {high:g}")
        return value

    return checked


def _one_of(*choices: str, upper: bool = False) -> Callable[[str], str]:
    def checked(raw: str) -> str:
        value = raw.strip().upper() if upper else raw.strip()
        if value not in choices:
            raise ValueError(f"must be one of {', '.join(choices)}")
        return value

    return checked


def _ca_file(raw: str) -> Path | None:
    # Empty means the system's trust store (production). Checked at startup, not at the first
    # TLS handshake deep inside the reconnect loop.
    if not raw:
        return None
    try:
        ssl.create_default_context(cafile=raw)
    except (OSError, ssl.SSLError):
        raise ValueError("is not a readable PEM file of CA certificates") from None
    return Path(raw)


def _setting(default: Any, convert: Callable[[str], Any]) -> Any:
    return field(default=default, metadata={"convert": convert})


_SettingsClass = TypeVar("_SettingsClass")
_POSITIVE_NUMBER = _above(_number, 0)
_POSITIVE_INTEGER = _above(_integer, 0)


@dataclass(frozen=True)
class SharedSettings:
    """The variables the handler shares with the API, by the API's names (no prefix)."""

    environment: str = _setting("local", _text)
    dynamodb_table: str = _setting("", _text)
    yoto_client_id: str = _setting("", _text)
    log_level: str = _setting(defaults.LOG_LEVEL, _one_of(*LOG_LEVELS, upper=True))
    git_commit: str = _setting("unknown", _text)
    aws_endpoint_url: str | None = _setting(None, _optional_text)
    aws_region: str | None = _setting(None, _optional_text)
    yoto_api_base_url: str = _setting(defaults.YOTO_API_BASE_URL, _text)
    yoto_auth_base_url: str = _setting(defaults.YOTO_AUTH_BASE_URL, _text)
    yoto_audience: str = _setting(defaults.YOTO_AUDIENCE, _text)
    yoto_timeout_seconds: float = _setting(defaults.YOTO_TIMEOUT_SECONDS, _POSITIVE_NUMBER)
    token_refresh_margin_seconds: int = _setting(
        defaults.TOKEN_REFRESH_MARGIN_SECONDS, _within(_integer, 0, math.inf)
    )
    token_refresh_lock_seconds: int = _setting(
        defaults.TOKEN_REFRESH_LOCK_SECONDS, _POSITIVE_INTEGER
    )
    token_refresh_wait_seconds: float = _setting(
        defaults.TOKEN_REFRESH_WAIT_SECONDS, _POSITIVE_NUMBER
    )


@dataclass(frozen=True)
class MqttSettings:
    """Broker connection and handler behaviour; every value can be set as ``MQTT_<NAME>``."""

    broker_host: str = _setting(YOTO_BROKER_HOST, _text)
    broker_port: int = _setting(443, _within(_integer, 1, 65535))
    transport: Literal["websockets", "tcp"] = _setting("websockets", _one_of("websockets", "tcp"))
    websocket_path: str = _setting("/mqtt", _text)
    tls: bool = _setting(True, _boolean)
    # CA bundle to verify the broker with; None means the system's trust store (production).
    ca_file: Path | None = field(default=None, metadata={"convert": _ca_file})
    # AWS IoT custom authorizer: the part after "?" names it; the part before is free text.
    authorizer_name: str = _setting("PublicJWTAuthorizer", _text)
    client_id_prefix: str = _setting("yoto-smart-stream", _text)
    keepalive_seconds: int = _setting(60, _within(_integer, 5, math.inf))
    connect_timeout_seconds: float = _setting(10.0, _POSITIVE_NUMBER)

    # The broker stops pushing events ~5 minutes after the last request.
    events_request_interval_seconds: float = _setting(240.0, _POSITIVE_NUMBER)
    player_refresh_interval_seconds: float = _setting(1800.0, _POSITIVE_NUMBER)
    # How long to wait before asking again when no account is linked or it has no players.
    idle_poll_seconds: float = _setting(300.0, _POSITIVE_NUMBER)

    reconnect_min_seconds: float = _setting(1.0, _POSITIVE_NUMBER)
    reconnect_max_seconds: float = _setting(120.0, _POSITIVE_NUMBER)

    batch_size: int = _setting(MAX_BATCH_ITEMS, _within(_integer, 1, MAX_BATCH_ITEMS))
    queue_size: int = _setting(10_000, _POSITIVE_INTEGER)
    max_payload_bytes: int = _setting(64 * 1024, _POSITIVE_INTEGER)
    # A QoS 1 redelivery of a payload without eventUtc reuses the first receive time within
    # this window, so it lands on the same key.
    redelivery_window_seconds: float = _setting(900.0, _POSITIVE_NUMBER)

    heartbeat_file: Path = field(
        default=Path("/tmp/yoto-mqtt-heartbeat"),  # noqa: S108 - container-local scratch file
        metadata={"convert": Path},
    )
    health_max_age_seconds: float = _setting(600.0, _POSITIVE_NUMBER)

    # Fargate sends SIGKILL 30 s after SIGTERM (stopTimeout). A SIGTERM during a blocking
    # connect waits up to connect_timeout_seconds first; both together stay well inside 30 s.
    shutdown_timeout_seconds: float = _setting(15.0, _POSITIVE_NUMBER)


def _read(
    cls: type[_SettingsClass], prefix: str, environ: Mapping[str, str]
) -> tuple[_SettingsClass | None, list[str]]:
    """``cls`` from the variables named ``<prefix><FIELD>`` (any case, as pydantic-settings
    matched them); the problems, one clause per bad variable."""
    by_name = {key.upper(): value for key, value in environ.items()}
    values: dict[str, Any] = {}
    problems: list[str] = []
    for spec in fields(cls):  # type: ignore[arg-type]
        name = f"{prefix}{spec.name}".upper()
        if name not in by_name:
            continue
        try:
            values[spec.name] = spec.metadata["convert"](by_name[name])
        except ValueError as exc:
            problems.append(f"{name} {exc}")
    return (None if problems else cls(**values)), problems


def load_configuration(
    environ: Mapping[str, str] | None = None,
) -> tuple[SharedSettings, MqttSettings]:
    """Read and check every setting the handler needs; raise ``ConfigurationError`` naming
    every bad one at once."""
    environ = os.environ if environ is None else environ
    settings, problems = _read(SharedSettings, "", environ)
    mqtt_settings, mqtt_problems = _read(MqttSettings, "MQTT_", environ)
    problems += mqtt_problems
    if problems or settings is None or mqtt_settings is None:
        raise ConfigurationError(f"invalid configuration: {'; '.join(problems)}.")
    if not settings.dynamodb_table:
        raise ConfigurationError("DYNAMODB_TABLE is not set; it names the table to write to.")
    return settings, mqtt_settings


def load_mqtt_settings(environ: Mapping[str, str] | None = None) -> MqttSettings:
    """``MqttSettings`` alone (the health check), with the same one-sentence errors."""
    mqtt_settings, problems = _read(
        MqttSettings, "MQTT_", os.environ if environ is None else environ
    )
    if mqtt_settings is None:
        raise ConfigurationError(f"invalid configuration: {'; '.join(problems)}.")
    return mqtt_settings
