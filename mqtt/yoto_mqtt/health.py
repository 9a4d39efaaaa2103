"""Liveness: the handler touches a heartbeat file whenever it makes progress against its
dependencies; ``python -m yoto_mqtt.healthcheck`` fails once the file is older than allowed.

Progress means a broker round trip (CONNACK, SUBACK, PUBACK for the periodic events request,
or a received message) while there are players to listen to, and a successful token/player
lookup while there is nothing to listen to (no account linked yet, or no players), so an idle
but healthy handler is not restarted in a loop.
"""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path

logger = logging.getLogger(__name__)


class Heartbeat:
    def __init__(self, path: Path, *, min_interval_seconds: float = 5.0) -> None:
        self._path = path
        self._min_interval = min_interval_seconds
        self._last = 0.0

    def beat(self) -> None:
        now = time.monotonic()
        if now - self._last < self._min_interval:
            return
        self._last = now
        tmp = self._path.with_name(self._path.name + ".tmp")
        try:
            self._path.parent.mkdir(parents=True, exist_ok=True)
            tmp.write_text(f"{time.time():.3f}\n")
            os.replace(tmp, self._path)
        except OSError as exc:
            # The handler keeps working; the health check will report the missing heartbeat.
            logger.error("cannot write the heartbeat file %s: %s", self._path, exc)


def heartbeat_age_seconds(path: Path, now: float | None = None) -> float | None:
    """Seconds since the last beat, or None when there has been none."""
    try:
        modified = path.stat().st_mtime
    except FileNotFoundError:
        return None
    return (time.time() if now is None else now) - modified
