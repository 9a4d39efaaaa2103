"""AWS Lambda entry point: ``yoto_smart_stream.api.lambda_handler.handler``.

Import stays light for cold starts: the app is built (routes only), but no AWS client, secret
or network call happens until a request needs it.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.logging.utils import copy_config_to_registered_loggers
from mangum import Mangum
from mangum.types import LambdaContext

from yoto_smart_stream.api.main import create_app
from yoto_smart_stream.core.settings import get_settings

_settings = get_settings()
logger = Logger(service="yoto-smart-stream", level=_settings.log_level)
# The app logs through the stdlib "yoto_smart_stream" logger; give it Powertools' JSON format.
copy_config_to_registered_loggers(source_logger=logger, include={"yoto_smart_stream"})
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


@logger.inject_lambda_context(clear_state=True)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return _asgi(strip_stage(event), context)
