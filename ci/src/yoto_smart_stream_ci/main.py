"""Yoto Smart Stream delivery pipeline: lint, test, package, image, deploy, smoke test, teardown.

This is the thin Dagger layer. Every container it runs is defined once, by a Dockerfile in the
repository (``ci/Dockerfile`` for the toolchain, ``mqtt/Dockerfile`` for the MQTT image), built
with ``Directory.docker_build``; the layer adds only what belongs to the engine (cache volumes,
secrets, the moto service binding, the host's Docker socket) and one core command. Each command's arguments travel as one
typed request (``contract``), built here by the pure ``*_request`` functions below, serialised
once by ``contract.core_command`` and parsed and validated once by the core. The container
tests build the same Dockerfiles with Docker and run the same core commands.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Annotated, Any, Final, ParamSpec, TypeVar, cast

import anyio
import dagger
from dagger import DefaultPath, Doc, Ignore, check, dag, function, object_type

from yoto_smart_stream_ci import contract, environments, github_actions
from yoto_smart_stream_ci.shared import (
    ADMIN_PASSWORD_VAR,
    BUILD_DIR,
    DASHBOARD_DIR,
    DEFAULT_REGION,
    GITHUB_TOKEN_VAR,
    MOTO_HOST,
    MOTO_PORT,
    MQTT_DOCKERFILE,
    PACKAGE_INPUTS,
    TEST_COMMAND,
    TEST_STAGE,
    TOOLCHAIN_DOCKERFILE,
    WORKSPACE_STAGE,
)

OCI_TARBALL: Final = "/tmp/mqtt-image.tar"  # noqa: S108 - path inside a throwaway container
PREVIEW_PORT: Final = 8080
# The core appends the deploy's Markdown summary here (it is GITHUB_STEP_SUMMARY inside the
# container); `deploy` returns it, and the workflow saves it with `--output "$GITHUB_STEP_SUMMARY"`.
STEP_SUMMARY_FILE: Final = "/run/github/step-summary.md"
ECR_PASSWORD_FILE: Final = "/run/ecr-password"  # noqa: S105 - a path, not a password
# Where the workspace's Docker CLI looks for an engine; `--docker-socket` is mounted here.
DOCKER_SOCKET: Final = "/var/run/docker.sock"
# What the engine uploads from the repository; everything else (virtualenvs, caches, build
# output, local benchmarks) never leaves the host. `.dockerignore` holds the same list for
# `docker build` (a test keeps the two equal).
SOURCE_ALLOW_LIST: Final = [
    "*",
    "!.dockerignore",
    "!pyproject.toml",
    "!uv.lock",
    "!.python-version",
    "!README.md",
    "!docs/yoto-api.md",
    "!dagger.json",
    "!yoto_smart_stream/**",
    "!mqtt/**",
    "!infrastructure/**",
    "!ci/Dockerfile",
    "!ci/pyproject.toml",
    "!ci/uv.lock",
    "!ci/README.md",
    "!ci/src/**",
    "!tests/**",
    "!bench/**",
    "!.github/**",
    "**/__pycache__",
    "**/*.pyc",
    "**/.venv",
    "**/.aws-sam",
    "**/node_modules",
]
# `package` builds from these alone, so Dagger reuses its result until one of them changes.
PACKAGE_CONTEXT: Final = [*PACKAGE_INPUTS, ".dockerignore", TOOLCHAIN_DOCKERFILE, "ci/src/**"]

P = ParamSpec("P")
R = TypeVar("R")
RequestT = TypeVar("RequestT", bound=contract.Request)


def never_cached(fn: Callable[P, R]) -> Callable[P, R]:
    """``@function(cache="never")``, for every step that talks to AWS.

    Since Dagger v0.19.4 function results are cached for 7 days by default, and a cached deploy
    silently does nothing. dagger-io 0.21.11 accepts ``cache=`` at runtime but its typed
    overloads omit it; this cast keeps ``mypy --strict`` meaningful for the decorated methods.
    """
    register = cast(Callable[..., Callable[[Callable[P, R]], Callable[P, R]]], function)
    return register(cache="never")(fn)


# -- the pure request builders: Dagger arguments -> one typed request -------------------------
@dataclass(frozen=True)
class Account:
    """Which account a call acts on, as the request states it: real, or an emulator URL.

    ``from_docker`` is the emulated account's URL as containers of the host's Docker engine
    reach it (a kept account is a host service: 127.0.0.1 and its port); the MQTT check's
    handler container uses it.
    """

    emulator: str = ""
    ends_with_call: bool = False
    from_docker: str = ""

    @property
    def emulated(self) -> bool:
        return bool(self.emulator)

    def fields(self) -> dict[str, Any]:
        return {"emulator": self.emulator, "emulator_ends_with_call": self.ends_with_call}

    def check_fields(self) -> dict[str, Any]:
        """``fields`` plus what a request whose smoke test checks the handler takes."""
        return {**self.fields(), "emulator_from_docker": self.from_docker}


REAL_ACCOUNT: Final = Account()
CALL_ACCOUNT: Final = Account(emulator=f"http://{MOTO_HOST}:{MOTO_PORT}", ends_with_call=True)


@dataclass(frozen=True)
class AwsAccess:
    """The AWS arguments every AWS-facing function takes: credentials, or an emulator."""

    region: str
    access_key_id: dagger.Secret | None = None
    secret_access_key: dagger.Secret | None = None
    session_token: dagger.Secret | None = None
    emulator: dagger.Service | None = None
    docker_socket: dagger.Socket | None = None

    @property
    def expected_account(self) -> Account:
        """The account a request is checked against before anything is built (the emulator's
        port is known only once its service is asked)."""
        return REAL_ACCOUNT if self.access_key_id is not None else CALL_ACCOUNT


def deploy_request(
    *,
    env: str,
    no_cloudfront: bool,
    yoto_client_id: str,
    github_repository: str,
    commit: str,
    account: Account,
    gate_seconds: dict[str, float] | None = None,
    alarm_email: str = "",
    lock_wait_seconds: float = 1800.0,
    docker_load: bool = False,
) -> contract.DeployRequest:
    """The deploy request; with real credentials its image is filled in once it is published.

    ``docker_load``: the host's Docker socket is mounted, and its engine holds the image only
    once the core loads the tarball the engine hands over.
    """
    emulated = account.emulated
    return contract.DeployRequest(
        lock_wait_seconds=lock_wait_seconds,
        docker_load=docker_load,
        **account.check_fields(),
        env=env,
        build_dir=BUILD_DIR,
        oci_tarball=OCI_TARBALL if emulated else "",
        commit=commit,
        yoto_client_id=yoto_client_id,
        no_cloudfront=no_cloudfront,
        alarm_email=alarm_email,
        dashboard_dir=DASHBOARD_DIR,
        github_repository=github_repository,
        gate_seconds=dict(gate_seconds or {}),
    )


def plan_request(
    *,
    env: str,
    no_cloudfront: bool,
    yoto_client_id: str,
    commit: str,
    account: Account,
    alarm_email: str = "",
) -> contract.PlanRequest:
    """Every stack-changing field deploy takes, so plan shows exactly what deploy would apply."""
    return contract.PlanRequest(
        **account.fields(),
        env=env,
        build_dir=BUILD_DIR,
        oci_tarball=OCI_TARBALL,
        commit=commit,
        yoto_client_id=yoto_client_id,
        no_cloudfront=no_cloudfront,
        alarm_email=alarm_email,
    )


def integration_test_request(*, env: str, account: Account) -> contract.IntegrationTestRequest:
    return contract.IntegrationTestRequest(**account.fields(), env=env)


def environment_url_request(*, env: str, account: Account) -> contract.EnvironmentUrlRequest:
    return contract.EnvironmentUrlRequest(**account.fields(), env=env)


def smoke_request(*, env: str | None, url: str | None, account: Account) -> contract.SmokeRequest:
    return contract.SmokeRequest(**account.check_fields(), env=env, url=url)


def teardown_request(
    *, env: str, force: bool, github_repository: str, account: Account
) -> contract.TeardownRequest:
    return contract.TeardownRequest(
        **account.fields(), env=env, force=force, github_repository=github_repository
    )


def cleanup_stale_request(
    *, max_age_hours: int, github_repository: str, account: Account
) -> contract.CleanupStaleRequest:
    return contract.CleanupStaleRequest(
        **account.fields(), max_age_hours=float(max_age_hours), github_repository=github_repository
    )


def releases_request(*, env: str, account: Account) -> contract.ReleasesRequest:
    return contract.ReleasesRequest(**account.fields(), env=env)


def rollback_request(
    *, env: str, to: str, lock_wait_seconds: float, account: Account
) -> contract.RollbackRequest:
    return contract.RollbackRequest(
        **account.check_fields(), env=env, to=to, lock_wait_seconds=lock_wait_seconds
    )


def ecr_login_request(*, env: str) -> contract.EcrLoginRequest:
    return contract.EcrLoginRequest(env=env, password_file=ECR_PASSWORD_FILE)


def register_image_request(
    *, env: str, commit: str, account: Account
) -> contract.RegisterImageRequest:
    return contract.RegisterImageRequest(
        **account.fields(), env=env, oci_tarball=OCI_TARBALL, commit=commit
    )


def preview_request(*, env: str, account: Account) -> contract.PreviewRequest:
    # Inside the service the preview listens on every interface; `up --ports` publishes it.
    return contract.PreviewRequest(
        **account.fields(),
        env=env,
        host="0.0.0.0",  # noqa: S104 - the service's own network namespace
        port=PREVIEW_PORT,
    )


def emulator_request() -> contract.EmulatorRequest:
    return contract.EmulatorRequest(host="0.0.0.0", port=MOTO_PORT)  # noqa: S104 - service netns


AwsKey = Annotated[dagger.Secret | None, Doc("AWS access key id (omit for the emulator)")]
AwsSecretKey = Annotated[dagger.Secret | None, Doc("AWS secret access key")]
AwsSessionToken = Annotated[dagger.Secret | None, Doc("AWS session token (GitHub OIDC)")]
Region = Annotated[str, Doc("AWS region")]
Env = Annotated[str, Doc("Environment: prod, dev or pr-<number>")]
GithubToken = Annotated[dagger.Secret | None, Doc("GitHub token for the PR comment")]
GithubRepository = Annotated[str, Doc("GitHub repository OWNER/NAME for the PR comment")]
NoCloudfront = Annotated[bool, Doc("Skip CloudFront (pr-N and dev only)")]
YotoClientId = Annotated[str, Doc("Yoto OAuth client id")]
AlarmEmail = Annotated[str, Doc("prod: e-mail address the alarms and the budget notify")]
Commit = Annotated[str, Doc("Git commit being deployed")]
Emulator = Annotated[
    dagger.Service | None,
    Doc("A kept emulated account (dagger call emulator up), e.g. tcp://localhost:5000"),
]
DockerSocket = Annotated[
    dagger.Socket | None,
    Doc("Emulator: the host's Docker socket (/var/run/docker.sock) to run the MQTT image's check"),
]


@object_type
class YotoSmartStream:
    """Every delivery step of Yoto Smart Stream, runnable the same on a laptop and in CI."""

    source: Annotated[
        dagger.Directory,
        Doc("The repository (defaults to the module's context)"),
        DefaultPath("/"),
        Ignore(SOURCE_ALLOW_LIST),
    ]

    def _toolchain(self, stage: str, context: dagger.Directory | None = None) -> dagger.Container:
        """A stage of ci/Dockerfile, plus one cache volume per tool that caches across runs.

        uv's cache is a BuildKit cache mount inside the Dockerfile itself, so `docker build`
        and the engine share one definition of how the locked environment is installed.
        """
        ctr = (context or self.source).docker_build(dockerfile=TOOLCHAIN_DOCKERFILE, target=stage)
        for tool in ("ruff", "mypy"):
            ctr = ctr.with_mounted_cache(
                f"/root/.cache/{tool}", dag.cache_volume(f"yoto-smart-stream-{tool}")
            ).with_env_variable(f"{tool.upper()}_CACHE_DIR", f"/root/.cache/{tool}")
        return ctr

    def _mqtt_image(self) -> dagger.Container:
        return self.source.docker_build(dockerfile=MQTT_DOCKERFILE)

    def _emulator_service(self) -> dagger.Service:
        """moto, run by the core's `emulator` command in the workspace stage."""
        return (
            self._toolchain(WORKSPACE_STAGE)
            .with_exposed_port(MOTO_PORT)
            .as_service(args=contract.core_command(emulator_request()))
        )

    async def _aws(self, access: AwsAccess) -> tuple[dagger.Container, Account]:
        """The workspace pointed at AWS (credentials as secrets) or an emulated account.

        The emulated account is ``emulator`` when given (one account across calls), else a
        moto service started for this call alone. Either is bound as ``moto``; the request
        names it (``Account``), and the core points every AWS client at it.
        """
        access_key_id, secret_access_key = access.access_key_id, access.secret_access_key
        emulator, region, docker_socket = access.emulator, access.region, access.docker_socket
        if (access_key_id is None) != (secret_access_key is None):
            raise ValueError(
                "Pass both --aws-access-key-id and --aws-secret-access-key, or neither "
                "(the emulator)."
            )
        if access_key_id is not None and emulator is not None:
            raise ValueError("Pass AWS credentials or --emulator, not both.")
        if access_key_id is not None and docker_socket is not None:
            raise ValueError(
                "--docker-socket runs the emulator's MQTT check; in a real account that check "
                "reads ECS, so pass it only without AWS credentials."
            )
        contract.validate_region(region)
        ctr = (
            self._toolchain(WORKSPACE_STAGE)
            .with_env_variable("AWS_REGION", region)
            .with_env_variable("AWS_DEFAULT_REGION", region)
            # AWS-facing steps must run every time: a cached `sam deploy` does nothing.
            .with_env_variable("YOTO_PIPELINE_RUN", str(time.time_ns()))
        )
        if docker_socket is not None:
            # The host's engine: the MQTT check runs the handler image there (mqtt_health).
            ctr = ctr.with_unix_socket(DOCKER_SOCKET, docker_socket)
        if access_key_id is not None and secret_access_key is not None:
            ctr = ctr.with_secret_variable("AWS_ACCESS_KEY_ID", access_key_id)
            ctr = ctr.with_secret_variable("AWS_SECRET_ACCESS_KEY", secret_access_key)
            if access.session_token is not None:
                ctr = ctr.with_secret_variable("AWS_SESSION_TOKEN", access.session_token)
            return ctr, REAL_ACCOUNT
        if emulator is None:
            return ctr.with_service_binding(MOTO_HOST, self._emulator_service()), CALL_ACCOUNT
        # A host service (tcp://localhost:N) keeps its port behind the alias, and the host's
        # own containers (the MQTT check's handler, `--network host`) reach it on 127.0.0.1.
        ports = await emulator.ports()
        port = await ports[0].port() if ports else MOTO_PORT
        account = Account(
            emulator=f"http://{MOTO_HOST}:{port}", from_docker=f"http://127.0.0.1:{port}"
        )
        return ctr.with_service_binding(MOTO_HOST, emulator), account

    async def _prepared(
        self,
        build: Callable[[Account], RequestT],
        access: AwsAccess,
        secrets: Mapping[str, dagger.Secret | None] | None = None,
    ) -> tuple[dagger.Container, RequestT]:
        """The workspace for ``access`` with ``secrets`` bound, and the request ``build``
        makes for its account; bad input is refused before anything is built."""
        build(access.expected_account)
        ctr, account = await self._aws(access)
        return _with_secrets(ctr, secrets or {}), build(account)

    async def _run(
        self,
        build: Callable[[Account], contract.Request],
        access: AwsAccess,
        secrets: Mapping[str, dagger.Secret | None] | None = None,
        inputs: Callable[[dagger.Container], dagger.Container] | None = None,
    ) -> str:
        """Run the core command of the request ``build`` makes, with ``inputs`` added to
        the workspace first; returns its stdout (the full log streams live)."""
        ctr, request = await self._prepared(build, access, secrets)
        if inputs is not None:
            ctr = inputs(ctr)
        return await ctr.with_exec(contract.core_command(request)).stdout()

    @function
    def emulator(self) -> dagger.Service:
        """An emulated AWS account (moto) to keep across calls: `dagger call emulator up --ports 5000:5000`."""
        return self._emulator_service()

    @function
    @check
    async def lint(self) -> str:
        """Ruff (check and format), cfn-lint, zizmor and the workflow schema, mypy --strict on ci/."""
        return await (
            self._toolchain(WORKSPACE_STAGE)
            .with_exec(contract.core_command(contract.LintRequest()))
            .stdout()
        )

    @function
    @check
    async def test(self) -> str:
        """The whole pytest suite; moto, the MQTT broker and the Yoto fake start inside, as on a host."""
        return await self._toolchain(TEST_STAGE).with_exec(list(TEST_COMMAND)).stdout()

    @function
    def package(self) -> dagger.Directory:
        """`sam build` of the template; `dagger call package export --path=.aws-sam/build`."""
        context = self.source.filter(include=PACKAGE_CONTEXT)
        request = contract.PackageRequest(build_dir=BUILD_DIR)
        return (
            self._toolchain(WORKSPACE_STAGE, context)
            .with_exec(contract.core_command(request))
            .directory(BUILD_DIR)
        )

    @function
    def build_image(self) -> dagger.Container:
        """The MQTT handler image, built from mqtt/Dockerfile with the repository as context."""
        return self._mqtt_image()

    @never_cached
    async def publish_image(
        self,
        env: Env,
        commit: Annotated[str, Doc("Git commit the image is built from")] = "",
        aws_access_key_id: AwsKey = None,
        aws_secret_access_key: AwsSecretKey = None,
        aws_session_token: AwsSessionToken = None,
        region: Region = DEFAULT_REGION,
        emulator: Emulator = None,
    ) -> str:
        """Push the MQTT image to ECR (registry auth as a secret) and return repository@sha256:digest."""
        login = ecr_login_request(env=env)
        aws, account = await self._aws(
            AwsAccess(region, aws_access_key_id, aws_secret_access_key, aws_session_token, emulator)
        )
        if account.emulated:
            register = register_image_request(env=env, commit=commit, account=account)
            out = await (
                aws.with_file(OCI_TARBALL, self._mqtt_image().as_tarball())
                .with_exec(contract.core_command(register))
                .stdout()
            )
            return contract.parse_image_reference(out.strip().splitlines()[-1]).pinned
        return await self._publish(aws, login, commit)

    async def _publish(
        self, aws: dagger.Container, login: contract.EcrLoginRequest, commit: str
    ) -> str:
        ran = aws.with_exec(contract.core_command(login))
        registry, repository = (await ran.stdout()).strip().splitlines()[-1].split()
        password = dag.set_secret(
            f"ecr-password-{time.time_ns()}", await ran.file(ECR_PASSWORD_FILE).contents()
        )
        tag = f"{repository}:{environments.image_tag(login.env, commit)}"
        published = await (
            self._mqtt_image().with_registry_auth(registry, "AWS", password).publish(tag)
        )
        # The engine answers `repository:tag@sha256:...`; the contract parses every form.
        return contract.parse_image_reference(published).pinned

    @never_cached
    async def deploy(
        self,
        env: Env,
        no_cloudfront: NoCloudfront = False,
        admin_password: Annotated[
            dagger.Secret | None, Doc("Bootstrap password of the first admin")
        ] = None,
        yoto_client_id: YotoClientId = "",
        github_token: GithubToken = None,
        github_repository: GithubRepository = "",
        commit: Commit = "",
        alarm_email: AlarmEmail = "",
        aws_access_key_id: AwsKey = None,
        aws_secret_access_key: AwsSecretKey = None,
        aws_session_token: AwsSessionToken = None,
        region: Region = DEFAULT_REGION,
        emulator: Emulator = None,
        lock_wait_seconds: Annotated[
            float, Doc("How long to wait for an operation in progress on the stack")
        ] = 1800.0,
        docker_socket: DockerSocket = None,
    ) -> str:
        """Gate (lint + test), package, image, sam deploy, dashboard sync, smoke test; returns the summary (Markdown)."""

        def build(account: Account) -> contract.DeployRequest:
            return deploy_request(
                lock_wait_seconds=lock_wait_seconds,
                env=env,
                no_cloudfront=no_cloudfront,
                yoto_client_id=yoto_client_id,
                github_repository=github_repository,
                commit=commit,
                account=account,
                alarm_email=alarm_email,
                docker_load=docker_socket is not None,
            )

        # Validated before anything runs; the image is added once published. The secrets are
        # bound only to the deploy step below, not to the image push.
        aws, request = await self._prepared(
            build,
            AwsAccess(
                region,
                aws_access_key_id,
                aws_secret_access_key,
                aws_session_token,
                emulator,
                docker_socket,
            ),
        )
        gate: dict[str, float] = {}

        async def timed(name: str, step: Awaitable[str]) -> None:
            started = time.monotonic()
            await step
            gate[name] = round(time.monotonic() - started, 2)

        async with anyio.create_task_group() as group:
            group.start_soon(timed, "lint", self.lint())
            group.start_soon(timed, "test", self.test())

        ctr = aws.with_directory(BUILD_DIR, self.package())
        if request.emulator:
            # One exec holds the emulated account: the core registers the image, then deploys.
            ctr = ctr.with_file(OCI_TARBALL, self._mqtt_image().as_tarball())
            request = _with(request, gate_seconds=gate)
        else:
            image = await self._publish(aws, ecr_login_request(env=env), commit)
            request = _with(request, gate_seconds=gate, image_uri=image)
        ctr = _with_secrets(
            ctr, {ADMIN_PASSWORD_VAR: admin_password, GITHUB_TOKEN_VAR: github_token}
        )
        # The full log streams live; what is returned is the summary the core wrote.
        ran = ctr.with_env_variable(github_actions.SUMMARY_VAR, STEP_SUMMARY_FILE).with_exec(
            contract.core_command(request)
        )
        return await ran.file(STEP_SUMMARY_FILE).contents()

    @never_cached
    async def integration_test(
        self,
        env: Env,
        admin_password: Annotated[
            dagger.Secret | None, Doc("Admin password (default: the env's SSM parameter)")
        ] = None,
        aws_access_key_id: AwsKey = None,
        aws_secret_access_key: AwsSecretKey = None,
        aws_session_token: AwsSessionToken = None,
        region: Region = DEFAULT_REGION,
        emulator: Emulator = None,
    ) -> str:
        """Full API, audio upload and streaming, a card created at Yoto, a forced token refresh."""
        return await self._run(
            lambda account: integration_test_request(env=env, account=account),
            AwsAccess(
                region, aws_access_key_id, aws_secret_access_key, aws_session_token, emulator
            ),
            secrets={ADMIN_PASSWORD_VAR: admin_password},
        )

    @never_cached
    async def environment_url(
        self,
        env: Env,
        aws_access_key_id: AwsKey = None,
        aws_secret_access_key: AwsSecretKey = None,
        aws_session_token: AwsSessionToken = None,
        region: Region = DEFAULT_REGION,
        emulator: Emulator = None,
    ) -> str:
        """The env's DashboardUrl alone (no newline): the URL of its GitHub deployment."""
        out = await self._run(
            lambda account: environment_url_request(env=env, account=account),
            AwsAccess(
                region, aws_access_key_id, aws_secret_access_key, aws_session_token, emulator
            ),
        )
        return out.strip().splitlines()[-1]

    @never_cached
    async def smoke_test(
        self,
        env: Annotated[str | None, Doc("Environment to test (its ApiUrl output)")] = None,
        url: Annotated[str | None, Doc("Base URL to test instead of an environment")] = None,
        admin_password: Annotated[
            dagger.Secret | None, Doc("Admin password (default: the env's SSM parameter)")
        ] = None,
        aws_access_key_id: AwsKey = None,
        aws_secret_access_key: AwsSecretKey = None,
        aws_session_token: AwsSessionToken = None,
        region: Region = DEFAULT_REGION,
        emulator: Emulator = None,
        docker_socket: DockerSocket = None,
    ) -> str:
        """Health, ready, sign-in as the smoke principal (or admin with --url), players, MQTT handler."""
        return await self._run(
            lambda account: smoke_request(env=env, url=url, account=account),
            AwsAccess(
                region,
                aws_access_key_id,
                aws_secret_access_key,
                aws_session_token,
                emulator,
                docker_socket,
            ),
            secrets={ADMIN_PASSWORD_VAR: admin_password},
        )

    @never_cached
    async def plan(
        self,
        env: Env,
        no_cloudfront: NoCloudfront = False,
        yoto_client_id: YotoClientId = "",
        commit: Commit = "",
        alarm_email: AlarmEmail = "",
        aws_access_key_id: AwsKey = None,
        aws_secret_access_key: AwsSecretKey = None,
        aws_session_token: AwsSessionToken = None,
        region: Region = DEFAULT_REGION,
        emulator: Emulator = None,
    ) -> str:
        """Create a change set for the env and print what would change, without executing it."""

        def build(account: Account) -> contract.PlanRequest:
            return plan_request(
                env=env,
                no_cloudfront=no_cloudfront,
                yoto_client_id=yoto_client_id,
                commit=commit,
                account=account,
                alarm_email=alarm_email,
            )

        def inputs(ctr: dagger.Container) -> dagger.Container:
            return ctr.with_directory(BUILD_DIR, self.package()).with_file(
                OCI_TARBALL, self._mqtt_image().as_tarball()
            )

        return await self._run(
            build,
            AwsAccess(
                region, aws_access_key_id, aws_secret_access_key, aws_session_token, emulator
            ),
            inputs=inputs,
        )

    @never_cached
    async def teardown(
        self,
        env: Env,
        force: Annotated[bool, Doc("Required to tear down prod")] = False,
        github_token: GithubToken = None,
        github_repository: GithubRepository = "",
        aws_access_key_id: AwsKey = None,
        aws_secret_access_key: AwsSecretKey = None,
        aws_session_token: AwsSessionToken = None,
        region: Region = DEFAULT_REGION,
        emulator: Emulator = None,
    ) -> str:
        """Empty the env's buckets, delete its images and stack, then verify nothing remains."""
        return await self._run(
            lambda account: teardown_request(
                env=env, force=force, github_repository=github_repository, account=account
            ),
            AwsAccess(
                region, aws_access_key_id, aws_secret_access_key, aws_session_token, emulator
            ),
            secrets={GITHUB_TOKEN_VAR: github_token},
        )

    @never_cached
    async def cleanup_stale(
        self,
        max_age_hours: Annotated[int, Doc("Tear down pr-* stacks older than this")],
        github_token: Annotated[
            dagger.Secret | None, Doc("GitHub token: also tear down envs of closed PRs")
        ] = None,
        github_repository: GithubRepository = "",
        aws_access_key_id: AwsKey = None,
        aws_secret_access_key: AwsSecretKey = None,
        aws_session_token: AwsSessionToken = None,
        region: Region = DEFAULT_REGION,
        emulator: Emulator = None,
    ) -> str:
        """Tear down stale pr-* environments (too old, or their pull request is closed)."""
        return await self._run(
            lambda account: cleanup_stale_request(
                max_age_hours=max_age_hours, github_repository=github_repository, account=account
            ),
            AwsAccess(
                region, aws_access_key_id, aws_secret_access_key, aws_session_token, emulator
            ),
            secrets={GITHUB_TOKEN_VAR: github_token},
        )

    @never_cached
    async def releases(
        self,
        env: Env,
        aws_access_key_id: AwsKey = None,
        aws_secret_access_key: AwsSecretKey = None,
        aws_session_token: AwsSessionToken = None,
        region: Region = DEFAULT_REGION,
        emulator: Emulator = None,
    ) -> str:
        """List the env's recorded releases, newest first: the ids rollback --to takes."""
        return await self._run(
            lambda account: releases_request(env=env, account=account),
            AwsAccess(
                region, aws_access_key_id, aws_secret_access_key, aws_session_token, emulator
            ),
        )

    @never_cached
    async def rollback(
        self,
        env: Env,
        to: Annotated[
            str, Doc("Release id from releases (default: the newest one not running)")
        ] = "",
        lock_wait_seconds: Annotated[
            float, Doc("How long to wait for an operation in progress on the stack")
        ] = 1800.0,
        aws_access_key_id: AwsKey = None,
        aws_secret_access_key: AwsSecretKey = None,
        aws_session_token: AwsSessionToken = None,
        region: Region = DEFAULT_REGION,
        emulator: Emulator = None,
        docker_socket: DockerSocket = None,
    ) -> str:
        """Redeploy a recorded release of the env and smoke-test it; prints a summary."""
        return await self._run(
            lambda account: rollback_request(
                env=env, to=to, lock_wait_seconds=lock_wait_seconds, account=account
            ),
            AwsAccess(
                region,
                aws_access_key_id,
                aws_secret_access_key,
                aws_session_token,
                emulator,
                docker_socket,
            ),
        )

    @never_cached
    async def preview(
        self,
        env: Env,
        emulator: Annotated[
            dagger.Service,
            Doc("The kept emulated account the env is deployed in, e.g. tcp://localhost:5000"),
        ],
        region: Region = DEFAULT_REGION,
    ) -> dagger.Service:
        """Serve the env's deployed API and dashboard from the emulated account: `up --ports 8080:8080`."""
        ctr, request = await self._prepared(
            lambda account: preview_request(env=env, account=account),
            AwsAccess(region, emulator=emulator),
        )
        return ctr.with_exposed_port(PREVIEW_PORT).as_service(args=contract.core_command(request))


def _with_secrets(
    ctr: dagger.Container, secrets: Mapping[str, dagger.Secret | None]
) -> dagger.Container:
    """``ctr`` with each given secret as the environment variable its key names."""
    for name, secret in secrets.items():
        if secret is not None:
            ctr = ctr.with_secret_variable(name, secret)
    return ctr


def _with(request: contract.DeployRequest, **changes: object) -> contract.DeployRequest:
    """A copy with ``changes``; the copy is validated again, like every request."""
    return dataclasses.replace(request, **changes)  # type: ignore[arg-type]
