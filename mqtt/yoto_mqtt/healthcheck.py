"""ECS container health check: ``python -m yoto_mqtt.healthcheck``.

Exit 0 when the handler's heartbeat is fresher than ``MQTT_HEALTH_MAX_AGE_SECONDS``; exit 1 with
a sentence otherwise. The task definition's startPeriod must cover the first connection.
"""

from __future__ import annotations

import sys

from yoto_mqtt.health import heartbeat_age_seconds
from yoto_mqtt.settings import ConfigurationError, MqttSettings, load_mqtt_settings


def check(settings: MqttSettings) -> tuple[bool, str]:
    age = heartbeat_age_seconds(settings.heartbeat_file)
    if age is None:
        return False, f"unhealthy: no heartbeat yet at {settings.heartbeat_file}"
    if age > settings.health_max_age_seconds:
        return False, (
            f"unhealthy: no broker round trip for {age:.0f} s "
            f"(limit {settings.health_max_age_seconds:.0f} s)"
        )
    return True, f"healthy: last heartbeat {age:.0f} s ago"


def main() -> None:
    try:
        settings = load_mqtt_settings()
    except ConfigurationError as exc:
        sys.exit(f"unhealthy: {exc}")
    healthy, message = check(settings)
    print(message)
    sys.exit(0 if healthy else 1)


if __name__ == "__main__":
    main()
