"""Deployer-provided secrets, read lazily on first use and never logged.

Each secret comes either directly from an environment variable (local runs, tests) or from an
SSM SecureString parameter whose NAME is in the environment (AWS: the template passes the
name, the pipeline writes the value). A missing secret disables only the endpoints that need
it: they answer 503 with a message.
"""

from __future__ import annotations

from functools import lru_cache

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


def _resolve(settings: Settings, direct: SecretStr | None, parameter: str | None, what: str) -> str:
    if direct is not None and direct.get_secret_value():
        return direct.get_secret_value()
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
    return _resolve(
        settings,
        settings.session_signing_key,
        settings.session_signing_key_parameter,
        "session signing key",
    )


def admin_bootstrap_password(settings: Settings) -> str:
    return _resolve(
        settings,
        settings.admin_bootstrap_password,
        settings.admin_bootstrap_password_parameter,
        "admin bootstrap password",
    )


def cloudfront_origin_secret(settings: Settings) -> str | None:
    """The header value only our CloudFront distribution adds; None where none is set."""
    if (
        settings.cloudfront_origin_secret is None
        and not settings.cloudfront_origin_secret_parameter
    ):
        return None
    return _resolve(
        settings,
        settings.cloudfront_origin_secret,
        settings.cloudfront_origin_secret_parameter,
        "CloudFront origin secret",
    )
