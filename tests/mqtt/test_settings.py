"""The handler's standard-library settings loader: the same variables, defaults and checks the
API's pydantic ``Settings`` applies to what both read, every bad value named, none echoed."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from yoto_mqtt.settings import (
    ConfigurationError,
    MqttSettings,
    SharedSettings,
    load_configuration,
    load_mqtt_settings,
)
from yoto_smart_stream.core.settings import Settings

SHARED_FIELDS = [f.name for f in dataclasses.fields(SharedSettings)]


def _clean_env(monkeypatch: pytest.MonkeyPatch, **values: str) -> dict[str, str]:
    """The process environment holding only ``values`` of the shared variables, for the API's
    Settings (which reads os.environ); the same mapping for the handler's loader."""
    import os

    for key in list(os.environ):
        if key.upper() in {name.upper() for name in SHARED_FIELDS} or key.startswith("MQTT_"):
            monkeypatch.delenv(key)
    for key, value in values.items():
        monkeypatch.setenv(key, value)
    return dict(values)


@pytest.mark.parametrize(
    "values",
    [
        {"DYNAMODB_TABLE": "events"},
        {
            "dynamodb_table": "events",  # any case, as pydantic-settings matches
            "ENVIRONMENT": "pr-7",
            "YOTO_CLIENT_ID": "client",
            "GIT_COMMIT": "abc123",
            "AWS_ENDPOINT_URL": "http://127.0.0.1:5000",
            "AWS_REGION": "eu-west-2",
            "YOTO_API_BASE_URL": "http://127.0.0.1:1/api",
            "YOTO_AUTH_BASE_URL": "http://127.0.0.1:1/auth",
            "YOTO_AUDIENCE": "aud",
            "YOTO_TIMEOUT_SECONDS": "2.5",
            "TOKEN_REFRESH_MARGIN_SECONDS": "0",
            "TOKEN_REFRESH_LOCK_SECONDS": "7",
            "TOKEN_REFRESH_WAIT_SECONDS": "1.5",
        },
    ],
)
def test_shared_values_read_as_the_api_reads_them(
    monkeypatch: pytest.MonkeyPatch, values: dict[str, str]
) -> None:
    environ = _clean_env(monkeypatch, **values)
    shared, _ = load_configuration(environ)
    api = Settings()
    assert {name: getattr(shared, name) for name in SHARED_FIELDS} == {
        name: getattr(api, name) for name in SHARED_FIELDS
    }


def test_defaults_and_conversions() -> None:
    shared, mqtt = load_configuration(
        {
            "DYNAMODB_TABLE": "events",
            "LOG_LEVEL": "debug",
            "MQTT_TLS": "off",
            "MQTT_BROKER_PORT": " 8883 ",
            "MQTT_TRANSPORT": "tcp",
            "MQTT_CA_FILE": "",
            "MQTT_HEARTBEAT_FILE": "/run/beat",
        }
    )
    assert shared.log_level == "DEBUG"
    assert (mqtt.tls, mqtt.broker_port, mqtt.transport) == (False, 8883, "tcp")
    assert mqtt.ca_file is None
    assert mqtt.heartbeat_file == Path("/run/beat")
    assert dataclasses.replace(mqtt, tls=True, broker_port=443, transport="websockets") == (
        dataclasses.replace(MqttSettings(), heartbeat_file=Path("/run/beat"))
    )
    # Frozen and hashable: the AWS clients are cached per settings object.
    assert hash(shared) == hash(dataclasses.replace(shared))


def test_every_bad_value_is_named_in_one_sentence_without_its_value() -> None:
    with pytest.raises(ConfigurationError) as raised:
        load_configuration(
            {
                "DYNAMODB_TABLE": "events",
                "LOG_LEVEL": "LOUD-secret1",
                "YOTO_TIMEOUT_SECONDS": "0",
                "TOKEN_REFRESH_LOCK_SECONDS": "1.5",
                "MQTT_BROKER_PORT": "65536",
                "MQTT_TLS": "maybe-secret2",
                "MQTT_BATCH_SIZE": "26",
                "MQTT_RECONNECT_MAX_SECONDS": "nan",
                "MQTT_CA_FILE": "/nonexistent/secret3.pem",
            }
        )
    message = str(raised.value)
    assert message.startswith("invalid configuration: ")
    assert message.endswith(".")
    assert "\n" not in message
    for name in (
        "LOG_LEVEL",
        "YOTO_TIMEOUT_SECONDS",
        "TOKEN_REFRESH_LOCK_SECONDS",
        "MQTT_BROKER_PORT",
        "MQTT_TLS",
        "MQTT_BATCH_SIZE",
        "MQTT_RECONNECT_MAX_SECONDS",
        "MQTT_CA_FILE",
    ):
        assert name in message, message
    assert "secret" not in message, message


def test_a_variable_only_the_api_reads_does_not_stop_the_handler() -> None:
    """The handler used to validate the API's whole Settings: a bad SESSION_TTL_SECONDS (which
    only the API reads) stopped it."""
    shared, _ = load_configuration({"DYNAMODB_TABLE": "events", "SESSION_TTL_SECONDS": "soon"})
    assert shared.dynamodb_table == "events"


def test_missing_table_is_its_own_sentence() -> None:
    with pytest.raises(ConfigurationError, match=r"^DYNAMODB_TABLE is not set; .*\.$"):
        load_configuration({})


def test_the_health_check_reads_only_the_mqtt_settings() -> None:
    assert load_mqtt_settings({"MQTT_HEALTH_MAX_AGE_SECONDS": "30"}).health_max_age_seconds == 30
    with pytest.raises(ConfigurationError, match="MQTT_HEALTH_MAX_AGE_SECONDS"):
        load_mqtt_settings({"MQTT_HEALTH_MAX_AGE_SECONDS": "-1"})
