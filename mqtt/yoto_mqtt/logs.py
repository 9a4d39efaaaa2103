"""Structured JSON logs, one compact object per line, on the standard logging tree.

``level``, ``message``, ``timestamp`` and every ``extra=`` field are named as in the API's
Lambda logs (the python3.13 runtime's JSON log format), so one CloudWatch Logs Insights query
reads both; ``location`` and ``service`` are the handler's own. The standard library writes
them: the handler's image carries no web or Lambda framework.
"""

from __future__ import annotations

import datetime
import json
import logging
import sys
from typing import Any

SERVICE_NAME = "yoto-mqtt-handler"
# What every LogRecord has; anything else on a record came from ``extra=``.
_RECORD_ATTRIBUTES = frozenset(vars(logging.makeLogRecord({}))) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    def __init__(self, service: str) -> None:
        super().__init__()
        self._service = service

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "level": record.levelname,
            "location": f"{record.funcName}:{record.lineno}",
            "message": record.getMessage(),
            "timestamp": datetime.datetime.fromtimestamp(record.created, datetime.UTC).isoformat(
                timespec="milliseconds"
            ),
            "service": self._service,
        }
        entry.update((k, v) for k, v in vars(record).items() if k not in _RECORD_ATTRIBUTES)
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
            entry["exception_name"] = record.exc_info[0].__name__ if record.exc_info[0] else None
        return json.dumps(entry, separators=(",", ":"), default=str)


def configure_logging(level: str) -> None:
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(JsonFormatter(SERVICE_NAME))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # botocore and paho are chatty at INFO/DEBUG; their warnings still come through.
    for noisy in ("botocore", "boto3", "urllib3", "httpx", "httpcore"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))
