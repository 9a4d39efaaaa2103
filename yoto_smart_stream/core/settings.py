"""Application settings: one pydantic-settings class, read from the environment.

The API's settings: pydantic-settings comes with the ``api`` extra. The MQTT handler reads the
variables it shares with the API (same names, defaults from ``core/defaults.py``) with its own
standard-library loader, ``yoto_mqtt/settings.py``, so its image needs no pydantic.

There is no module-level instance: ``get_settings()`` builds it on first use and FastAPI
injects it (tests build their own ``Settings`` and hand it to ``create_app``).
"""

from __future__ import annotations

from functools import lru_cache

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from yoto_smart_stream.core import defaults

# Formats a Yoto player can stream (it fetches trackUrl itself and expects audio/mpeg; the
# other formats are accepted for the library and Yoto's own transcoding path).
DEFAULT_AUDIO_CONTENT_TYPES = ("audio/mpeg", "audio/mp4", "audio/aac", "audio/ogg", "audio/wav")


class Settings(BaseSettings):
    """Every environment variable the API (and the MQTT handler) reads."""

    model_config = SettingsConfigDict(frozen=True, extra="ignore", case_sensitive=False)

    environment: str = "local"
    dynamodb_table: str = ""
    s3_audio_bucket: str = ""
    yoto_client_id: str = ""
    public_url: str = ""
    log_level: str = defaults.LOG_LEVEL
    debug: bool = False
    git_commit: str = "unknown"
    # boto3 honours AWS_ENDPOINT_URL itself; it is read here too so clients built from these
    # settings (and the cache keyed on them) follow the same endpoint.
    aws_endpoint_url: str | None = None
    # S3 alone at another address (botocore's own service-specific variable): the local preview
    # relays storage through itself so that presigned URLs work from a browser.
    aws_endpoint_url_s3: str | None = None
    aws_region: str | None = None

    yoto_api_base_url: str = defaults.YOTO_API_BASE_URL
    yoto_auth_base_url: str = defaults.YOTO_AUTH_BASE_URL
    yoto_audience: str = defaults.YOTO_AUDIENCE
    yoto_timeout_seconds: float = Field(default=defaults.YOTO_TIMEOUT_SECONDS, gt=0)

    admin_username: str = "admin"
    # Each secret is either given directly or as the name of an SSM SecureString parameter.
    session_signing_key: SecretStr | None = None
    session_signing_key_parameter: str | None = None
    admin_bootstrap_password: SecretStr | None = None
    admin_bootstrap_password_parameter: str | None = None
    # The deploy pipeline's smoke principal (api/smoke_principal.py): a name outside the user
    # name pattern, a credential only the pipeline holds (new on every deploy), read-only.
    smoke_username: str = "pipeline:smoke"
    smoke_credential: SecretStr | None = None
    smoke_credential_parameter: str | None = None
    # A deploy writes a new credential; a warm process reads it again at most this often.
    smoke_credential_refresh_seconds: int = Field(default=30, gt=0)

    session_ttl_seconds: int = Field(default=12 * 3600, gt=0)
    # Set to false only for plain-http local development; browsers drop Secure cookies there.
    session_cookie_secure: bool = True
    # Sign-in throttle (login_throttle.py): failures allowed per window, per (user name,
    # source address) and per source address; never per account alone.
    login_failures_per_account_source: int = Field(default=5, gt=0)
    login_failures_per_source: int = Field(default=50, gt=0)
    login_throttle_window_seconds: int = Field(default=15 * 60, gt=0)
    # Added by our CloudFront distribution as X-Origin-Verify; only then is the viewer
    # address it forwards trusted. Unset: the throttle keys on API Gateway's peer address.
    cloudfront_origin_secret: SecretStr | None = None
    cloudfront_origin_secret_parameter: str | None = None
    # Every JSON body this API takes is a few KiB; uploads go straight to S3.
    max_request_body_bytes: int = Field(default=64 * 1024, gt=0)

    # The Yoto token policy (what each one means: core/defaults.py).
    token_refresh_margin_seconds: int = Field(default=defaults.TOKEN_REFRESH_MARGIN_SECONDS, ge=0)
    token_refresh_lock_seconds: int = Field(default=defaults.TOKEN_REFRESH_LOCK_SECONDS, gt=0)
    token_refresh_wait_seconds: float = Field(default=defaults.TOKEN_REFRESH_WAIT_SECONDS, gt=0)

    max_upload_bytes: int = Field(default=200 * 1024 * 1024, gt=0)
    allowed_audio_content_types: tuple[str, ...] = DEFAULT_AUDIO_CONTENT_TYPES
    upload_url_expiry_seconds: int = Field(default=900, gt=0)
    download_url_expiry_seconds: int = Field(default=300, gt=0)


@lru_cache
def get_settings() -> Settings:
    """The process's settings, read from the environment once, on first use."""
    return Settings()
