"""Yoto Smart Stream delivery pipeline: lint, test, package, image, deploy, smoke test, teardown.

This is the thin Dagger layer. It only composes containers, caches, services and secrets; every
decision (names, SAM arguments, emulator handling, smoke checks, teardown order, rollback) is
made by the engine-free core, run inside the containers as ``python -m yoto_smart_stream_ci``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Awaitable, Callable
from typing import Annotated, Final, ParamSpec, TypeVar, cast

import anyio
import dagger
from dagger import DefaultPath, Doc, Ignore, check, dag, function, object_type

from yoto_smart_stream_ci import environments
from yoto_smart_stream_ci.shared import (
    ADMIN_PASSWORD_VAR,
    DEFAULT_REGION,
    EMULATOR_FLAG,
    GITHUB_TOKEN_VAR,
    PACKAGE_INPUTS,
)

PYTHON_IMAGE: Final = "python:3.13-slim-bookworm"
UV_IMAGE: Final = "ghcr.io/astral-sh/uv:0.13.9"
WORKDIR: Final = "/src"
VENV: Final = "/opt/venv"
MOTO_HOST: Final = "moto"
MOTO_PORT: Final = 5000
BUILD_DIR: Final = "/src/.aws-sam/build"
OCI_TARBALL: Final = "/tmp/mqtt-image.tar"  # noqa: S108 - path inside a throwaway container
# What the engine uploads from the repository; everything else (virtualenvs, caches, build
# output, local benchmarks) never leaves the host.
SOURCE_ALLOW_LIST: Final = [
    "*",
    "!pyproject.toml",
    "!uv.lock",
    "!.python-version",
    "!README.md",
    "!dagger.json",
    "!yoto_smart_stream/**",
    "!mqtt/**",
    "!infrastructure/**",
    "!ci/pyproject.toml",
    "!ci/src/**",
    "!tests/**",
    "!bench/**",
    "!.github/**",
    "**/__pycache__",
    "**/*.pyc",
    "**/.venv",
    "**/.aws-sam",
]

P = ParamSpec("P")
R = TypeVar("R")


def never_cached(fn: Callable[P, R]) -> Callable[P, R]:
    """``@function(cache="never")``, for every step that talks to AWS.

    Since Dagger v0.19.4 function results are cached for 7 days by default, and a cached deploy
    silently does nothing. dagger-io 0.21.11 accepts ``cache=`` at runtime but its typed
    overloads omit it; this cast keeps ``mypy --strict`` meaningful for the decorated methods.
    """
    register = cast(Callable[..., Callable[[Callable[P, R]], Callable[P, R]]], function)
    return register(cache="never")(fn)


AwsKey = Annotated[dagger.Secret | None, Doc("AWS access key id (omit for the emulator)")]
AwsSecretKey = Annotated[dagger.Secret | None, Doc("AWS secret access key")]
AwsSessionToken = Annotated[dagger.Secret | None, Doc("AWS session token (GitHub OIDC)")]
Region = Annotated[str, Doc("AWS region")]
Env = Annotated[str, Doc("Environment: prod, dev or pr-<number>")]
GithubToken = Annotated[dagger.Secret | None, Doc("GitHub token for the PR comment")]
GithubRepository = Annotated[str, Doc("GitHub repository OWNER/NAME for the PR comment")]


@object_type
class YotoSmartStream:
    """Every delivery step of Yoto Smart Stream, runnable the same on a laptop and in CI."""

    source: Annotated[
        dagger.Directory,
        Doc("The repository (defaults to the module's context)"),
        DefaultPath("/"),
        Ignore(SOURCE_ALLOW_LIST),
    ]

    def _python(self) -> dagger.Container:
        """Python 3.13 with uv and one cache volume per tool; dependencies from uv.lock."""
        locked = self.source.filter(
            include=["pyproject.toml", "uv.lock", ".python-version", "mqtt/pyproject.toml"]
        )
        ctr = (
            dag.container()
            .from_(PYTHON_IMAGE)
            .with_exec(["sh", "-c", "apt-get update -qq && apt-get install -y -qq make"])
            .with_file("/usr/local/bin/uv", dag.container().from_(UV_IMAGE).file("/uv"))
            .with_env_variable("UV_LINK_MODE", "copy")
            .with_env_variable("UV_PROJECT_ENVIRONMENT", VENV)
            .with_env_variable("PATH", f"{VENV}/bin:$PATH", expand=True)
            .with_env_variable("PYTHONUNBUFFERED", "1")
        )
        for tool in ("uv", "ruff", "mypy"):
            ctr = ctr.with_mounted_cache(
                f"/root/.cache/{tool}", dag.cache_volume(f"yoto-smart-stream-{tool}")
            ).with_env_variable(f"{tool.upper()}_CACHE_DIR", f"/root/.cache/{tool}")
        return (
            ctr.with_directory(WORKDIR, locked)
            .with_workdir(WORKDIR)
            .with_exec(["uv", "sync", "--locked", "--no-install-workspace"])
        )

    def _workspace(self) -> dagger.Container:
        """The locked environment plus the whole (allow-listed) repository."""
        return (
            self._python()
            .with_directory(WORKDIR, self.source)
            .with_exec(["uv", "sync", "--locked"])
            .with_env_variable("PYTHONPATH", f"{WORKDIR}/ci/src")
        )

    def _aws(
        self,
        region: str,
        access_key_id: dagger.Secret | None,
        secret_access_key: dagger.Secret | None,
        session_token: dagger.Secret | None,
    ) -> dagger.Container:
        """The workspace pointed at AWS (credentials as secrets) or at a moto service."""
        if (access_key_id is None) != (secret_access_key is None):
            raise ValueError(
                "Pass both --aws-access-key-id and --aws-secret-access-key, or neither "
                "(the emulator)."
            )
        ctr = (
            self._workspace()
            .with_env_variable("AWS_REGION", region)
            .with_env_variable("AWS_DEFAULT_REGION", region)
            # AWS-facing steps must run every time: a cached `sam deploy` does nothing.
            .with_env_variable("YOTO_PIPELINE_RUN", str(time.time_ns()))
        )
        if access_key_id is not None and secret_access_key is not None:
            ctr = ctr.with_secret_variable("AWS_ACCESS_KEY_ID", access_key_id)
            ctr = ctr.with_secret_variable("AWS_SECRET_ACCESS_KEY", secret_access_key)
            if session_token is not None:
                ctr = ctr.with_secret_variable("AWS_SESSION_TOKEN", session_token)
            return ctr
        moto = (
            self._python()
            .with_exposed_port(MOTO_PORT)
            .as_service(args=["moto_server", "-H", "0.0.0.0", "-p", str(MOTO_PORT)])  # noqa: S104 - inside the service network only
        )
        return (
            ctr.with_service_binding(MOTO_HOST, moto)
            .with_env_variable("AWS_ENDPOINT_URL", f"http://{MOTO_HOST}:{MOTO_PORT}")
            .with_env_variable(EMULATOR_FLAG, "1")
            # moto accepts any key; these are not credentials.
            .with_env_variable("AWS_ACCESS_KEY_ID", "emulator")
            .with_env_variable("AWS_SECRET_ACCESS_KEY", "emulator")
        )

    @function
    @check
    async def lint(self) -> str:
        """Ruff (check and format), cfn-lint, zizmor and the workflow schema, mypy --strict on ci/."""
        return await (
            self._workspace()
            .with_exec(["ruff", "check", "."])
            .with_exec(["ruff", "format", "--check", "."])
            .with_exec(
                [
                    "cfn-lint",
                    "infrastructure/template.yaml",
                    "infrastructure/network/template.yaml",
                    "infrastructure/bootstrap/template.yaml",
                ]
            )
            .with_exec(["zizmor", "--offline", ".github/workflows"])
            .with_exec(
                [
                    "sh",
                    "-c",
                    "check-jsonschema --builtin-schema vendor.github-workflows .github/workflows/*.yml",
                ]
            )
            .with_exec(["mypy", "--config-file", "ci/pyproject.toml", "ci/src"])
            .stdout()
        )

    @function
    @check
    async def test(self) -> str:
        """The whole pytest suite; moto, the MQTT broker and the Yoto fake start inside, as on a host."""
        return await (
            self._workspace()
            .with_mounted_cache("/var/cache/apt", dag.cache_volume("yoto-smart-stream-apt"))
            .with_exec(
                [
                    "sh",
                    "-c",
                    "apt-get install -y -qq --no-install-recommends chromium >/dev/null",
                ]
            )
            .with_exec(["pytest", "-q", "-p", "no:cacheprovider"])
            .stdout()
        )

    def _sam_build(self) -> dagger.Directory:
        inputs = self.source.filter(include=list(PACKAGE_INPUTS))
        return (
            self._python()
            .with_directory(WORKDIR, inputs)
            .with_exec(
                [
                    "sam",
                    "build",
                    "--template-file",
                    "infrastructure/template.yaml",
                    "--build-dir",
                    BUILD_DIR,
                ]
            )
            .directory(BUILD_DIR)
        )

    def _mqtt_image(self) -> dagger.Container:
        return self.source.docker_build(dockerfile="mqtt/Dockerfile")

    @function
    def package(self) -> dagger.Directory:
        """`sam build` of the template; `dagger call package export --path=.aws-sam/build`."""
        return self._sam_build()

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
    ) -> str:
        """Push the MQTT image to ECR (registry auth as a secret) and return repository@sha256:digest."""
        environments.validate_env(env)
        aws = self._aws(region, aws_access_key_id, aws_secret_access_key, aws_session_token)
        image = self._mqtt_image()
        if aws_access_key_id is None:
            return await self._register_in_emulator(aws, image, env, commit)
        login = aws.with_exec(
            [
                "python",
                "-m",
                "yoto_smart_stream_ci",
                "ecr-login",
                "--env",
                env,
                "--password-file",
                "/run/ecr-password",
            ]
        )
        registry, repository = (await login.stdout()).strip().splitlines()[-1].split()
        password = dag.set_secret(
            f"ecr-password-{time.time_ns()}", await login.file("/run/ecr-password").contents()
        )
        return await image.with_registry_auth(registry, "AWS", password).publish(
            f"{repository}:{environments.image_tag(env, commit)}"
        )

    async def _register_in_emulator(
        self, aws: dagger.Container, image: dagger.Container, env: str, commit: str
    ) -> str:
        out = await (
            aws.with_file(OCI_TARBALL, image.as_tarball())
            .with_exec(
                [
                    "python",
                    "-m",
                    "yoto_smart_stream_ci",
                    "register-image",
                    "--env",
                    env,
                    "--commit",
                    commit,
                    "--oci-tarball",
                    OCI_TARBALL,
                ]
            )
            .stdout()
        )
        return out.strip().splitlines()[-1]

    @never_cached
    async def deploy(
        self,
        env: Env,
        no_cloudfront: Annotated[bool, Doc("Skip CloudFront (pr-N and dev only)")] = False,
        admin_password: Annotated[
            dagger.Secret | None, Doc("Bootstrap password of the first admin")
        ] = None,
        yoto_client_id: Annotated[str, Doc("Yoto OAuth client id")] = "",
        github_token: GithubToken = None,
        github_repository: GithubRepository = "",
        commit: Annotated[str, Doc("Git commit being deployed")] = "",
        aws_access_key_id: AwsKey = None,
        aws_secret_access_key: AwsSecretKey = None,
        aws_session_token: AwsSessionToken = None,
        region: Region = DEFAULT_REGION,
    ) -> str:
        """Gate (lint + test), package, image, sam deploy, dashboard sync, smoke test; prints a summary."""
        environments.validate_env(env)
        aws = self._aws(region, aws_access_key_id, aws_secret_access_key, aws_session_token)
        gate: dict[str, float] = {}

        async def timed(name: str, step: Awaitable[str]) -> None:
            started = time.monotonic()
            await step
            gate[name] = round(time.monotonic() - started, 2)

        async with anyio.create_task_group() as group:
            group.start_soon(timed, "lint", self.lint())
            group.start_soon(timed, "test", self.test())

        args = [
            "python",
            "-m",
            "yoto_smart_stream_ci",
            "deploy",
            "--env",
            env,
            "--build-dir",
            BUILD_DIR,
            "--commit",
            commit,
            "--yoto-client-id",
            yoto_client_id,
            "--dashboard-dir",
            f"{WORKDIR}/yoto_smart_stream/static",
            "--github-repository",
            github_repository,
            "--gate-seconds",
            json.dumps(gate),
        ]
        if no_cloudfront:
            args.append("--no-cloudfront")
        ctr = aws.with_directory(BUILD_DIR, self._sam_build())
        if aws_access_key_id is None:
            # One exec holds the emulated account: register the image, then deploy against it.
            ctr = ctr.with_file(OCI_TARBALL, self._mqtt_image().as_tarball())
            args += ["--oci-tarball", OCI_TARBALL]
        else:
            args += [
                "--image-uri",
                await self.publish_image(
                    env, commit, aws_access_key_id, aws_secret_access_key, aws_session_token, region
                ),
            ]
        if admin_password is not None:
            ctr = ctr.with_secret_variable(ADMIN_PASSWORD_VAR, admin_password)
        if github_token is not None:
            ctr = ctr.with_secret_variable(GITHUB_TOKEN_VAR, github_token)
        return await ctr.with_exec(args).stdout()

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
    ) -> str:
        """Health, ready, admin login, player list and an S3 upload/download round trip."""
        if (env is None) == (url is None):
            raise ValueError("Pass exactly one of --env or --url.")
        args = ["python", "-m", "yoto_smart_stream_ci", "smoke"]
        if env is not None:
            args += ["--env", environments.validate_env(env)]
        else:
            args += ["--url", str(url)]
        ctr = self._aws(region, aws_access_key_id, aws_secret_access_key, aws_session_token)
        if admin_password is not None:
            ctr = ctr.with_secret_variable(ADMIN_PASSWORD_VAR, admin_password)
        return await ctr.with_exec(args).stdout()

    @never_cached
    async def plan(
        self,
        env: Env,
        aws_access_key_id: AwsKey = None,
        aws_secret_access_key: AwsSecretKey = None,
        aws_session_token: AwsSessionToken = None,
        region: Region = DEFAULT_REGION,
    ) -> str:
        """Create a change set for the env and print what would change, without executing it."""
        environments.validate_env(env)
        return await (
            self._aws(region, aws_access_key_id, aws_secret_access_key, aws_session_token)
            .with_directory(BUILD_DIR, self._sam_build())
            .with_file(OCI_TARBALL, self._mqtt_image().as_tarball())
            .with_exec(
                [
                    "python",
                    "-m",
                    "yoto_smart_stream_ci",
                    "plan",
                    "--env",
                    env,
                    "--build-dir",
                    BUILD_DIR,
                    "--oci-tarball",
                    OCI_TARBALL,
                ]
            )
            .stdout()
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
    ) -> str:
        """Empty the env's buckets, delete its images and stack, then verify nothing remains."""
        environments.validate_env(env)
        if env == "prod" and not force:
            raise ValueError("Refusing to tear down prod without --force.")
        args = ["python", "-m", "yoto_smart_stream_ci", "teardown", "--env", env]
        args += ["--github-repository", github_repository]
        if force:
            args.append("--force")
        ctr = self._aws(region, aws_access_key_id, aws_secret_access_key, aws_session_token)
        if github_token is not None:
            ctr = ctr.with_secret_variable(GITHUB_TOKEN_VAR, github_token)
        return await ctr.with_exec(args).stdout()

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
    ) -> str:
        """Tear down stale pr-* environments (too old, or their pull request is closed)."""
        if max_age_hours <= 0:
            raise ValueError("--max-age-hours must be a positive number of hours.")
        ctr = self._aws(region, aws_access_key_id, aws_secret_access_key, aws_session_token)
        if github_token is not None:
            ctr = ctr.with_secret_variable(GITHUB_TOKEN_VAR, github_token)
        return await ctr.with_exec(
            [
                "python",
                "-m",
                "yoto_smart_stream_ci",
                "cleanup-stale",
                "--max-age-hours",
                str(max_age_hours),
                "--github-repository",
                github_repository,
            ]
        ).stdout()
