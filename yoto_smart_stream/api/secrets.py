"""Deployer-provided secrets, read lazily on first use and never logged.

Each secret comes either directly from an environment variable (local runs, tests) or from an
SSM SecureString parameter whose NAME is in the environment (AWS: the template passes the
name, the pipeline writes the value). A missing secret disables only the endpoints that need
it: they answer 503 with a message.
"""

from __future__ import annotations

import time
from functools import lru_cache
from typing import Literal

from botocore.exceptions import BotoCoreError, ClientError
from pydantic import SecretStr

from yoto_smart_stream.core.aws import aws_clients
from yoto_smart_stream.core.settings import Settings


class SecretUnavailableError(Exception):
    """A secret the request needs is not configured or cannot be read.

    ``public`` is what the caller (often anonymous) is told; ``str(exc)`` adds the internals
    (the SSM parameter's name, the AWS error) for the server's log only.
    """

    def __init__(self, public: str, internal: str | None = None) -> None:
        super().__init__(internal or public)
        self.public = public


# Each is a Settings field holding the value, next to ``<name>_parameter`` naming its SSM parameter.
SecretName = Literal["session_signing_key", "admin_bootstrap_password", "cloudfront_origin_secret"]


def _resolve(settings: Settings, name: SecretName, what: str) -> str:
    direct: SecretStr | None = getattr(settings, name)
    if direct is not None and direct.get_secret_value():
        return direct.get_secret_value()
    parameter: str | None = getattr(settings, f"{name}_parameter")
    if parameter:
        return _read_parameter(settings, parameter, what)
    raise SecretUnavailableError(f"The {what} is not configured for this environment.")


@lru_cache(maxsize=16)
def _read_parameter(settings: Settings, name: str, what: str) -> str:
    # Only successes are cached (lru_cache does not cache exceptions), so a parameter written
    # after the first request is picked up on the next one.
    public = f"The {what} cannot be read right now; try again shortly."
    try:
        response = aws_clients(settings).ssm.get_parameter(Name=name, WithDecryption=True)
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "error")
        raise SecretUnavailableError(public, f"SSM parameter {name}: {code}") from exc
    except BotoCoreError as exc:
        raise SecretUnavailableError(public, f"SSM unreachable reading {name}: {exc}") from exc
    value = str(response["Parameter"]["Value"])
    if not value:
        raise SecretUnavailableError(public, f"SSM parameter {name} is empty")
    return value


def session_signing_key(settings: Settings) -> str:
    return _resolve(settings, "session_signing_key", "session signing key")


def admin_bootstrap_password(settings: Settings) -> str:
    return _resolve(settings, "admin_bootstrap_password", "admin bootstrap password")


def cloudfront_origin_secret(settings: Settings) -> str | None:
    """The header value only our CloudFront distribution adds; None where none is set."""
    if (
        settings.cloudfront_origin_secret is None
        and not settings.cloudfront_origin_secret_parameter
    ):
        return None
    return _resolve(settings, "cloudfront_origin_secret", "CloudFront origin secret")


def smoke_credential(settings: Settings) -> str | None:
    """The smoke principal's credential; None where none is configured (local runs).

    Each deploy writes a new one, so unlike the other secrets it is read again once
    ``smoke_credential_refresh_seconds`` have passed, at most that often per process: no
    caller can make it read SSM more often than that.
    """
    direct = settings.smoke_credential
    if direct is not None and direct.get_secret_value():
        return direct.get_secret_value()
    if not settings.smoke_credential_parameter:
        return None
    window = int(time.monotonic() // settings.smoke_credential_refresh_seconds)
    return _read_in_window(settings, settings.smoke_credential_parameter, window)


@lru_cache(maxsize=2)
def _read_in_window(settings: Settings, name: str, window: int) -> str:
    return _read_parameter.__wrapped__(settings, name, "smoke credential")
