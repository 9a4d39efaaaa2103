"""AWS Lambda entry point: ``yoto_smart_stream.api.lambda_handler.handler``.

Import stays light for cold starts: the app is built with each domain's router deferred to
its first request (``main.create_app``), and no AWS client, secret or network call happens
until a request needs it.

Logs: the function's ``LoggingConfig`` says ``LogFormat: JSON``, so the python3.13 runtime's own
handler on the root logger already writes every stdlib record as one JSON object with
``timestamp``, ``level``, ``message``, ``logger``, ``requestId``, the exception and every
``extra=`` field. The app only sets its logger's level; a JSON logging library here would format
the same records again and cost cold-start time and artifact size.
"""

from __future__ import annotations

import logging
from typing import Any

from mangum import Mangum
from mangum.types import LambdaContext

from yoto_smart_stream.api.main import create_app
from yoto_smart_stream.core.settings import get_settings

_settings = get_settings()
# Outside Lambda (the local preview serves this handler) the root logger has no handler yet;
# basicConfig gives it one on stderr. Inside Lambda it is a no-op: the runtime's is kept.
logging.basicConfig()
logging.getLogger("yoto_smart_stream").setLevel(_settings.log_level.upper())
_asgi = Mangum(create_app(_settings), lifespan="off")


def strip_stage(event: dict[str, Any]) -> dict[str, Any]:
    """Remove a named HTTP API stage (``/pr-42``) from the path so routes match.

    With a named stage, API Gateway puts the stage in ``rawPath`` and in
    ``requestContext.http.path`` (which Mangum routes on); with ``$default`` it does not.
    """
    context = event.get("requestContext") or {}
    stage = context.get("stage")
    http = context.get("http") or {}
    path = http.get("path")
    if not stage or stage == "$default" or not isinstance(path, str):
        return event
    prefix = f"/{stage}"

    def strip(value: str) -> str:
        if value == prefix or value.startswith(prefix + "/"):
            return value[len(prefix) :] or "/"
        return value

    stripped = {**event, "requestContext": {**context, "http": {**http, "path": strip(path)}}}
    if isinstance(event.get("rawPath"), str):
        stripped["rawPath"] = strip(event["rawPath"])
    return stripped


def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return _asgi(strip_stage(event), context)
