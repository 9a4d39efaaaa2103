"""Defaults of the settings both processes read from the same environment variables.

The API reads them with its pydantic ``Settings`` (``core/settings.py``); the MQTT handler with
its standard-library loader (``yoto_mqtt/settings.py``), so its image carries no pydantic. Each
default is written once, here. Standard library only: both settings modules import it on their
cold path.
"""

from __future__ import annotations

YOTO_API_BASE_URL = "https://api.yotoplay.com"
YOTO_AUTH_BASE_URL = "https://login.yotoplay.com"
YOTO_AUDIENCE = "https://api.yotoplay.com"
YOTO_TIMEOUT_SECONDS = 10.0
LOG_LEVEL = "INFO"

# Refresh this long before the access token expires, so a request never carries a token that
# dies in flight.
TOKEN_REFRESH_MARGIN_SECONDS = 300
# How long a refresh lock is honoured; a crashed holder frees it after this.
TOKEN_REFRESH_LOCK_SECONDS = 30
# How long a process that lost the lock waits for the winner's new tokens.
TOKEN_REFRESH_WAIT_SECONDS = 10.0
