"""The one contract between the Dagger layer and the core: one request type per command.

A request crosses from ``main`` (the Dagger layer) into the core exactly once:

1. the Dagger function builds it with a pure builder (``requests_for.*`` in ``main``), which
   tests call without an engine;
2. ``core_command(request)`` serialises it once, into the argv of the one core command its
   container runs: ``python -m yoto_smart_stream_ci <command> --request <json>``;
3. the core parses and validates it once (``parse_request``), then hands the typed request to
   ``pipeline``. Nothing between the CLI and AWS re-validates a field.

On the host, ``python -m yoto_smart_stream_ci <command> --env ... --build-dir ...`` builds the same
request from flags that are generated from these fields (``cli``), so a field added here is a
flag there, with no hand-written hop in between.

Values the engine hands back (``Container.publish``'s reference) are parsed here too, in every
form the engine documents, so the core never trusts their shape.

Secrets are never fields: they travel as Dagger secrets turned into environment variables.
Standard library only: the Dagger module runtime installs nothing but dagger-io.
"""

from __future__ import annotations

import dataclasses
import json
import math
import re
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

from yoto_smart_stream_ci import environments

CORE_MODULE = "yoto_smart_stream_ci"
REQUEST_FLAG = "--request"


class RequestError(ValueError):
    """A request the core must not act on; its message is one sentence for the user."""


PROD_TEARDOWN_REFUSED = (
    "Refusing to tear down prod: it holds the family's data. Pass --force if you really mean it."
)


# -- values the engine returns ---------------------------------------------------------------
# `Container.publish` returns the pushed reference built with reference.WithDigest on the
# *named* reference it was given, so the tag survives: `address:tag@sha256:<hex>`. An address
# published without a tag comes back as `address@sha256:<hex>`. A registry host may carry a
# port (`127.0.0.1:5000/name:tag@sha256:...`), so the tag is what follows the last `:` after the
# last `/`.
_DIGEST_RE = re.compile(r"^sha256:[0-9a-f]{64}$")
_REPOSITORY_RE = re.compile(
    r"^(?P<registry>[A-Za-z0-9.-]+(?::[0-9]{1,5})?)/(?P<path>[a-z0-9]+(?:[._/-][a-z0-9]+)*)$"
)
_TAG_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")


@dataclass(frozen=True)
class ImageReference:
    """A published image: ``registry/path`` plus its digest (and the tag it was pushed as)."""

    repository: str
    digest: str
    tag: str = ""

    @property
    def pinned(self) -> str:
        """``repository@sha256:<digest>``: what the template runs; a tag can move, a digest not."""
        return f"{self.repository}@{self.digest}"

    @property
    def registry(self) -> str:
        return self.repository.split("/", 1)[0]

    @property
    def name(self) -> str:
        return self.repository.split("/", 1)[1]


def parse_image_reference(value: str) -> ImageReference:
    """Parse ``address:tag@sha256:<hex>`` or ``address@sha256:<hex>`` (what publish returns)."""
    text = value.strip()
    shown = text if len(text) <= 120 else text[:120] + "..."
    name, at, digest = text.partition("@")
    if not at or not _DIGEST_RE.fullmatch(digest):
        raise RequestError(
            f"The image reference {shown!r} is not pinned by digest; expected "
            "registry/name[:tag]@sha256:<64 hex digits>, as publish-image returns it."
        )
    slash = name.rfind("/")
    colon = name.rfind(":")
    tag = ""
    if colon > slash:
        name, tag = name[:colon], name[colon + 1 :]
        if not _TAG_RE.fullmatch(tag):
            raise RequestError(f"The image reference {shown!r} has an invalid tag {tag!r}.")
    if not _REPOSITORY_RE.fullmatch(name):
        raise RequestError(
            f"The image reference {shown!r} does not name a repository as registry/name."
        )
    return ImageReference(repository=name, digest=digest, tag=tag)


# -- field checks ------------------------------------------------------------------------------
_COMMIT_RE = re.compile(r"^[0-9A-Za-z][0-9A-Za-z._-]{0,63}$")
_GITHUB_REPOSITORY_RE = re.compile(r"^[A-Za-z0-9_.-]{1,100}/[A-Za-z0-9_.-]{1,100}$")
_CLIENT_ID_RE = re.compile(r"^[\x21-\x7e]{1,200}$")
_URL_RE = re.compile(r"^https?://[^\s/?#]+(/[^\s]*)?$")
_PATH_RE = re.compile(r"^[^\x00\n]{1,1024}$")
_REGION_RE = re.compile(r"^[a-z]{2}(-gov)?-[a-z]+-[0-9]$")
# One plain address: SNS e-mail subscriptions take exactly one, and CloudFormation passes it
# on verbatim, so anything else would only fail minutes later inside the stack update.
_EMAIL_RE = re.compile(r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]{1,64}@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$")


def _check(pattern: re.Pattern[str], value: str, what: str, *, optional: bool = True) -> str:
    if (optional and value == "") or pattern.fullmatch(value):
        return value
    shown = value if len(value) <= 60 else value[:60] + "..."
    raise RequestError(f"Invalid {what} {shown!r}.")


def _env(value: str) -> str:
    try:
        return environments.validate_env(value)
    except environments.EnvironmentNameError as error:
        raise RequestError(str(error)) from None


def _help(text: str, *, host: bool = True) -> dict[str, Any]:
    """Field metadata: the flag's help text, and whether the host CLI offers the field."""
    return {"help": text, "host": host}


_ONE_IMAGE = (
    "Pass exactly one of --image-uri (the image publish-image returned) or --oci-tarball "
    "(the emulator registers it)."
)


# -- the requests ------------------------------------------------------------------------------
@dataclass(frozen=True, kw_only=True)
class Request:
    """Base of every request: the core command it selects, and (de)serialisation."""

    command: ClassVar[str]

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        """Raise ``RequestError`` with one sentence when a field is unusable."""

    def validate_complete(self) -> None:
        """Raise when the request still lacks a value the engine fills in later (an image)."""

    def to_json(self) -> str:
        body = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        return json.dumps({"command": self.command, **body}, sort_keys=True)


_EMULATOR_URL_RE = re.compile(r"^https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?/?$")


@dataclass(frozen=True, kw_only=True)
class AwsFacing(Request):
    """A command that acts on an AWS account: a real one (credentials) or an emulated one."""

    emulator: str = field(
        default="",
        metadata=_help("act on the emulated account at this URL (e.g. http://127.0.0.1:5000)"),
    )
    # Set by the Dagger layer when it started a moto service for this call alone, so the core
    # can say that the account ends with the call, and how to keep one.
    emulator_ends_with_call: bool = field(
        default=False, metadata=_help("the emulated account lives for this call only", host=False)
    )

    def validate(self) -> None:
        _check(_EMULATOR_URL_RE, self.emulator, "emulator URL (http://host:port)")
        if self.emulator_ends_with_call and not self.emulator:
            raise RequestError("emulator_ends_with_call needs an emulator URL.")


@dataclass(frozen=True, kw_only=True)
class HandlerCheck(AwsFacing):
    """A command whose smoke test checks the MQTT handler (``mqtt_health``).

    In the emulator that check runs the handler image with a Docker engine, and the handler
    must reach the emulated account from that engine's containers. On the host that is the
    ``emulator`` URL itself. Under ``dagger call`` the core reaches the account as ``moto``,
    which only the Dagger engine resolves, so the Dagger layer states the URL the Docker host
    reaches it at (a kept account is a host service, ``tcp://localhost:N``); a Dagger service
    started for this call alone is reachable from no Docker container, and the check says so.
    """

    emulator_from_docker: str = field(
        default="",
        metadata=_help(
            "the emulated account's URL as containers of the local Docker engine reach it "
            "(default: --emulator)"
        ),
    )

    def validate(self) -> None:
        super().validate()
        if not self.emulator_from_docker:
            return
        _check(_EMULATOR_URL_RE, self.emulator_from_docker, "emulator URL from Docker")
        if not self.emulator:
            raise RequestError("--emulator-from-docker needs --emulator (an emulated account).")
        if self.emulator_ends_with_call:
            raise RequestError(
                "emulator_from_docker names a kept account; this call's own account is "
                "reachable from no Docker container."
            )

    def handler_endpoint(self, own_endpoint: str | None) -> str | None:
        """Where the handler container reaches the emulated account the core reaches at
        ``own_endpoint``; ``None``: from nowhere."""
        if self.emulator_from_docker:
            return self.emulator_from_docker.rstrip("/")
        if self.emulator_ends_with_call:
            return None
        return own_endpoint


@dataclass(frozen=True, kw_only=True)
class StackChange(AwsFacing):
    """Every field that changes the stack: ``plan`` and ``deploy`` take exactly these."""

    env: str = field(metadata=_help("prod, dev or pr-<number>"))
    build_dir: str = field(metadata=_help("the `sam build` output directory"))
    image_uri: str = field(
        default="",
        metadata=_help("the MQTT image as publish-image returned it (repository[:tag]@sha256:...)"),
    )
    oci_tarball: str = field(
        default="", metadata=_help("emulator: the MQTT image as an OCI tarball, registered first")
    )
    commit: str = field(default="", metadata=_help("the git commit being deployed"))
    yoto_client_id: str = field(default="", metadata=_help("the Yoto OAuth client id"))
    no_cloudfront: bool = field(default=False, metadata=_help("skip CloudFront (pr-N and dev)"))
    alarm_email: str = field(
        default="", metadata=_help("prod: the address the alarms and the budget notify")
    )

    def validate(self) -> None:
        super().validate()
        _env(self.env)
        _check(_PATH_RE, self.build_dir, "build directory", optional=False)
        if self.image_uri and self.oci_tarball:
            raise RequestError(_ONE_IMAGE)
        if self.image_uri:
            # Normalised once, here: the template runs repository@sha256:<digest>.
            object.__setattr__(self, "image_uri", parse_image_reference(self.image_uri).pinned)
        _check(_PATH_RE, self.oci_tarball, "OCI tarball path")
        _check(_COMMIT_RE, self.commit, "commit")
        _check(_CLIENT_ID_RE, self.yoto_client_id, "Yoto client id")
        if self.no_cloudfront and environments.env_kind(self.env) is environments.EnvKind.PROD:
            raise RequestError("CloudFront cannot be turned off for prod.")
        if self.alarm_email and not _EMAIL_RE.fullmatch(self.alarm_email):
            raise RequestError(
                f"Invalid alarm e-mail {self.alarm_email[:60]!r}: give one address, "
                "like ops@example.com."
            )
        if self.alarm_email and not environments.settings_for(self.env).alarms_enabled:
            raise RequestError(
                f"{self.env} has no alarms (only prod has), so --alarm-email would notify nobody."
            )

    def validate_complete(self) -> None:
        # Only the Dagger layer holds a request whose image is still being published; it is
        # never serialised like that. On the host, an emulator request without an image builds
        # it (images.build_oci_tarball); a real account needs the published reference.
        if not (self.image_uri or self.oci_tarball or self.emulator):
            raise RequestError(_ONE_IMAGE)

    @property
    def cloudfront(self) -> bool | None:
        """``False`` when turned off; ``None`` leaves the environment's default."""
        return False if self.no_cloudfront else None


@dataclass(frozen=True, kw_only=True)
class PlanRequest(StackChange):
    command: ClassVar[str] = "plan"


@dataclass(frozen=True, kw_only=True)
class DeployRequest(StackChange, HandlerCheck):
    command: ClassVar[str] = "deploy"

    dashboard_dir: str = field(default="", metadata=_help("the dashboard's static files"))
    github_repository: str = field(
        default="", metadata=_help("OWNER/NAME for the pull request comment")
    )
    gate_seconds: dict[str, float] = field(
        default_factory=dict, metadata=_help("lint and test durations to report", host=False)
    )
    lock_wait_seconds: float = field(
        default=1800.0,
        metadata=_help("how long to wait for an operation in progress on the stack"),
    )
    docker_load: bool = field(
        default=False,
        metadata=_help(
            "emulator: load the image into the local Docker engine first, so the MQTT check "
            "can run it (what --docker-socket does under dagger call)"
        ),
    )

    def validate(self) -> None:
        super().validate()
        wait = self.lock_wait_seconds
        if isinstance(wait, bool) or not math.isfinite(wait) or wait < 0:
            raise RequestError("--lock-wait-seconds must be a non-negative number of seconds.")
        if self.docker_load and self.image_uri:
            raise RequestError(
                "--docker-load loads the emulator's OCI tarball; a published image "
                "(--image-uri) is pulled by ECS."
            )
        _check(_PATH_RE, self.dashboard_dir, "dashboard directory")
        _check(_GITHUB_REPOSITORY_RE, self.github_repository, "GitHub repository (OWNER/NAME)")
        for step, seconds in self.gate_seconds.items():
            if not isinstance(step, str) or not isinstance(seconds, int | float):
                raise RequestError("gate_seconds must map step names to seconds.")
            if isinstance(seconds, bool) or not math.isfinite(seconds) or seconds < 0:
                raise RequestError(f"gate_seconds[{step!r}] must be a non-negative number.")


@dataclass(frozen=True, kw_only=True)
class SmokeRequest(HandlerCheck):
    command: ClassVar[str] = "smoke"

    env: str | None = field(
        default=None, metadata=_help("the environment to test (its ApiUrl output)")
    )
    url: str | None = field(
        default=None, metadata=_help("a base URL to test instead of an environment")
    )

    def validate(self) -> None:
        super().validate()
        if (self.env is None) == (self.url is None):
            raise RequestError("Pass exactly one of --env or --url.")
        if self.env is not None:
            _env(self.env)
        if self.url is not None:
            _check(_URL_RE, self.url, "URL", optional=False)


@dataclass(frozen=True, kw_only=True)
class IntegrationTestRequest(AwsFacing):
    """The post-deploy suite (``integration``): the full API, streaming, cards, token refresh."""

    command: ClassVar[str] = "integration-test"

    env: str = field(metadata=_help("the deployed environment to test (develop runs it on dev)"))

    def validate(self) -> None:
        super().validate()
        _env(self.env)


@dataclass(frozen=True, kw_only=True)
class EnvironmentUrlRequest(AwsFacing):
    """Where users open an environment: its stack's DashboardUrl output, alone on stdout."""

    command: ClassVar[str] = "environment-url"

    env: str = field(metadata=_help("prod, dev or pr-<number>"))

    def validate(self) -> None:
        super().validate()
        _env(self.env)


@dataclass(frozen=True, kw_only=True)
class TeardownRequest(AwsFacing):
    command: ClassVar[str] = "teardown"

    env: str = field(metadata=_help("prod, dev or pr-<number>"))
    force: bool = field(default=False, metadata=_help("required to tear down prod"))
    github_repository: str = field(
        default="", metadata=_help("OWNER/NAME for the pull request comment")
    )

    def validate(self) -> None:
        super().validate()
        _env(self.env)
        if self.env == "prod" and not self.force:
            raise RequestError(PROD_TEARDOWN_REFUSED)
        _check(_GITHUB_REPOSITORY_RE, self.github_repository, "GitHub repository (OWNER/NAME)")


@dataclass(frozen=True, kw_only=True)
class CleanupStaleRequest(AwsFacing):
    command: ClassVar[str] = "cleanup-stale"

    max_age_hours: float = field(metadata=_help("tear down pr-* environments older than this"))
    github_repository: str = field(
        default="", metadata=_help("OWNER/NAME: also tear down envs of closed pull requests")
    )

    def validate(self) -> None:
        super().validate()
        hours = self.max_age_hours
        if isinstance(hours, bool) or not math.isfinite(hours) or hours <= 0:
            raise RequestError("--max-age-hours must be a positive number of hours.")
        _check(_GITHUB_REPOSITORY_RE, self.github_repository, "GitHub repository (OWNER/NAME)")


_RELEASE_ID_RE = re.compile(r"^[0-9]{1,12}-[0-9A-Za-z._-]{1,64}$")


@dataclass(frozen=True, kw_only=True)
class ReleasesRequest(AwsFacing):
    command: ClassVar[str] = "releases"

    env: str = field(metadata=_help("prod, dev or pr-<number>"))

    def validate(self) -> None:
        super().validate()
        _env(self.env)


@dataclass(frozen=True, kw_only=True)
class RollbackRequest(HandlerCheck):
    command: ClassVar[str] = "rollback"

    env: str = field(metadata=_help("prod, dev or pr-<number>"))
    to: str = field(
        default="",
        metadata=_help("the release id (see `releases`); default: the newest one not running"),
    )
    lock_wait_seconds: float = field(
        default=1800.0,
        metadata=_help("how long to wait for an operation in progress on the stack"),
    )

    def validate(self) -> None:
        super().validate()
        _env(self.env)
        _check(_RELEASE_ID_RE, self.to, "release id (as `releases` lists it)")
        wait = self.lock_wait_seconds
        if isinstance(wait, bool) or not math.isfinite(wait) or wait < 0:
            raise RequestError("--lock-wait-seconds must be a non-negative number of seconds.")


@dataclass(frozen=True, kw_only=True)
class PackageRequest(Request):
    command: ClassVar[str] = "package"

    build_dir: str = field(
        default=".aws-sam/build", metadata=_help("where `sam build` writes the artifact")
    )

    def validate(self) -> None:
        _check(_PATH_RE, self.build_dir, "build directory", optional=False)


@dataclass(frozen=True, kw_only=True)
class LintRequest(Request):
    """Every linter, one after another, each named in the report (see ``lint.LINTERS``)."""

    command: ClassVar[str] = "lint"


@dataclass(frozen=True, kw_only=True)
class EcrLoginRequest(AwsFacing):
    command: ClassVar[str] = "ecr-login"

    env: str = field(metadata=_help("prod, dev or pr-<number>"))
    password_file: str = field(metadata=_help("where to write the registry password (mode 600)"))

    def validate(self) -> None:
        super().validate()
        _env(self.env)
        _check(_PATH_RE, self.password_file, "password file", optional=False)


@dataclass(frozen=True, kw_only=True)
class RegisterImageRequest(AwsFacing):
    command: ClassVar[str] = "register-image"

    env: str = field(metadata=_help("prod, dev or pr-<number>"))
    oci_tarball: str = field(metadata=_help("the image as an OCI tarball"))
    commit: str = field(default="", metadata=_help("the git commit the image is built from"))

    def validate(self) -> None:
        super().validate()
        _env(self.env)
        _check(_PATH_RE, self.oci_tarball, "OCI tarball path", optional=False)
        _check(_COMMIT_RE, self.commit, "commit")


_HOST_RE = re.compile(r"^[A-Za-z0-9.:-]{1,253}$")


def _port(value: int, what: str) -> None:
    if not 0 <= value <= 65535:
        raise RequestError(f"The {what} must be a whole number from 0 to 65535.")


@dataclass(frozen=True, kw_only=True)
class EmulatorRequest(Request):
    """Run the emulated account (moto) in the foreground until interrupted."""

    command: ClassVar[str] = "emulator"

    port: int = field(default=5000, metadata=_help("the port to listen on (0: any free port)"))
    host: str = field(default="127.0.0.1", metadata=_help("the address to listen on"))

    def validate(self) -> None:
        _port(self.port, "emulator port")
        _check(_HOST_RE, self.host, "listen address", optional=False)


@dataclass(frozen=True, kw_only=True)
class PreviewRequest(AwsFacing):
    """Serve an emulated environment's deployed artifact and dashboard until interrupted."""

    command: ClassVar[str] = "preview"

    env: str = field(metadata=_help("prod, dev or pr-<number>"))
    port: int = field(default=8080, metadata=_help("the port to listen on"))
    host: str = field(default="127.0.0.1", metadata=_help("the address to listen on"))
    yoto_api_base_url: str = field(
        default="", metadata=_help("another Yoto API, e.g. a local fake (default: Yoto's own)")
    )
    yoto_auth_base_url: str = field(
        default="", metadata=_help("another Yoto OAuth server, e.g. a local fake")
    )

    def validate(self) -> None:
        super().validate()
        _env(self.env)
        _port(self.port, "preview port")
        if self.port == 0:
            # The page and the presigned S3 URLs name this port, so it must be known up front.
            raise RequestError("The preview needs a fixed --port (for example 8080).")
        _check(_HOST_RE, self.host, "listen address", optional=False)
        _check(_URL_RE, self.yoto_api_base_url, "Yoto API URL")
        _check(_URL_RE, self.yoto_auth_base_url, "Yoto OAuth URL")


REQUEST_TYPES: dict[str, type[Request]] = {
    cls.command: cls
    for cls in (
        DeployRequest,
        PlanRequest,
        SmokeRequest,
        IntegrationTestRequest,
        EnvironmentUrlRequest,
        TeardownRequest,
        CleanupStaleRequest,
        ReleasesRequest,
        RollbackRequest,
        PackageRequest,
        LintRequest,
        EcrLoginRequest,
        RegisterImageRequest,
        EmulatorRequest,
        PreviewRequest,
    )
}


def field_types(cls: type[Request]) -> dict[str, Any]:
    """Each field's resolved type (annotations are strings under ``from __future__``)."""
    hints = typing.get_type_hints(cls)
    return {f.name: hints[f.name] for f in dataclasses.fields(cls)}


def base_type(kind: Any) -> Any:
    """``str`` for ``str | None``; the type itself otherwise."""
    if isinstance(kind, types.UnionType):
        return next(k for k in typing.get_args(kind) if k is not type(None))
    return kind


def _coerce(name: str, kind: Any, value: object) -> object:
    """Check one JSON value against its field type; ints are accepted where floats are."""
    if value is None and isinstance(kind, types.UnionType):
        return None
    kind = base_type(kind)
    if kind is bool:
        ok = isinstance(value, bool)
    elif kind is int:
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif kind is float:
        ok = isinstance(value, int | float) and not isinstance(value, bool)
        value = float(value) if ok else value  # type: ignore[arg-type]
    elif kind is str:
        ok = isinstance(value, str)
    else:  # dict[str, float]
        ok = isinstance(value, dict)
    if not ok:
        raise RequestError(f"Request field {name!r} has the wrong type.")
    return value


def from_mapping(command: str, data: Mapping[str, object]) -> Request:
    """The typed, validated request for ``command`` built from plain values."""
    cls = REQUEST_TYPES.get(command)
    if cls is None:
        raise RequestError(f"Unknown command {command!r}.")
    types = field_types(cls)
    unknown = sorted(set(data) - set(types))
    if unknown:
        raise RequestError(f"The {command} request has unknown fields: {', '.join(unknown)}.")
    values = {name: _coerce(name, types[name], value) for name, value in data.items()}
    try:
        request = cls(**values)
    except TypeError:
        missing = [
            f.name
            for f in dataclasses.fields(cls)
            if f.name not in values
            and f.default is dataclasses.MISSING
            and f.default_factory is dataclasses.MISSING
        ]
        raise RequestError(
            f"The {command} request lacks {', '.join(missing) or 'a required field'}."
        ) from None
    request.validate_complete()
    return request


def parse_request(command: str, text: str) -> Request:
    """Parse the JSON ``core_command`` wrote; the one place the core validates a request."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError:
        raise RequestError("The request is not valid JSON.") from None
    if not isinstance(data, dict):
        raise RequestError("The request must be a JSON object.")
    if data.pop("command", command) != command:
        raise RequestError(f"The request is for another command than {command!r}.")
    return from_mapping(command, data)


def core_command(request: Request) -> list[str]:
    """The one argv a container runs for ``request``; the only place requests are serialised."""
    request.validate_complete()
    return ["python", "-m", CORE_MODULE, request.command, REQUEST_FLAG, request.to_json()]


def validate_region(region: str) -> str:
    return _check(_REGION_RE, region, "AWS region", optional=False)
