"""AWS clients, built lazily on first use (never at import) and reused while warm.

``aws_clients(settings)`` is cached per settings object (the API's ``Settings``, the handler's
``SharedSettings``: anything with the ``AwsSettings`` attributes) so a warm Lambda keeps its connections;
boto3 reads credentials and region from the environment, and ``AWS_ENDPOINT_URL`` points every
client at moto in tests.
"""

from __future__ import annotations

from functools import cached_property, lru_cache
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from botocore.config import Config
    from mypy_boto3_dynamodb.client import DynamoDBClient
    from mypy_boto3_dynamodb.service_resource import Table
    from mypy_boto3_s3.client import S3Client


class AwsSettings(Protocol):
    """What the clients are built from (hashable: ``aws_clients`` caches on it)."""

    @property
    def aws_region(self) -> str | None: ...
    @property
    def aws_endpoint_url(self) -> str | None: ...
    @property
    def dynamodb_table(self) -> str: ...
    def __hash__(self) -> int: ...


@lru_cache(maxsize=1)
def _boto_config() -> Config:
    from botocore.config import Config

    # Short timeouts: an API request should fail fast rather than hang behind API Gateway's 30 s.
    return Config(connect_timeout=3, read_timeout=10, retries={"mode": "standard"})


class AwsClients:
    """The AWS clients one process uses, each created on first access."""

    def __init__(self, settings: AwsSettings) -> None:
        # boto3 is imported here, not at module load: it is about 40% of the app's cold-import
        # cost, and /api/health (the first request a cold Lambda often serves) needs no AWS.
        import boto3

        self._settings = settings
        self.session = boto3.session.Session(region_name=settings.aws_region)

    def _kwargs(self, endpoint_url: str | None = None) -> dict[str, object]:
        kwargs: dict[str, object] = {"config": _boto_config()}
        if endpoint_url or self._settings.aws_endpoint_url:
            kwargs["endpoint_url"] = endpoint_url or self._settings.aws_endpoint_url
        return kwargs

    @cached_property
    def table(self) -> Table:
        resource = self.session.resource("dynamodb", **self._kwargs())  # type: ignore[call-overload]
        return resource.Table(self._settings.dynamodb_table)

    @property
    def dynamodb(self) -> DynamoDBClient:
        """The low-level client behind ``table`` (tests hook its events)."""
        return self.table.meta.client

    @cached_property
    def s3(self) -> S3Client:
        # The API's Settings only: the handler uses no S3.
        endpoint = getattr(self._settings, "aws_endpoint_url_s3", None)
        return self.session.client("s3", **self._kwargs(endpoint))  # type: ignore[call-overload, no-any-return]

    @cached_property
    def ssm(self) -> Any:
        return self.session.client("ssm", **self._kwargs())  # type: ignore[call-overload]


@lru_cache(maxsize=8)
def aws_clients(settings: AwsSettings) -> AwsClients:
    return AwsClients(settings)
