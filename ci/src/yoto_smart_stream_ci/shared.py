"""Names the Dagger layer (``main``) and the core both use, so each is written once.

Standard library only: the Dagger module runtime installs nothing but dagger-io, so ``main``
may import only modules like this one and ``environments``.
"""

from __future__ import annotations

DEFAULT_REGION = "eu-west-2"
# Set (to "1") together with AWS_ENDPOINT_URL when the target is the moto emulator.
EMULATOR_FLAG = "YOTO_PIPELINE_EMULATOR"
# Environment variables that carry secrets into the core (names, not values).
ADMIN_PASSWORD_VAR = "YOTO_ADMIN_PASSWORD"  # noqa: S105
GITHUB_TOKEN_VAR = "GITHUB_TOKEN"  # noqa: S105
# Every input of `sam build`. Dagger caches the build on exactly these files; the host
# `package` command hashes the same list to skip an unchanged rebuild.
PACKAGE_INPUTS = (
    "pyproject.toml",
    "uv.lock",
    ".python-version",
    "README.md",
    "mqtt/pyproject.toml",
    "mqtt/yoto_mqtt/**",
    "yoto_smart_stream/**",
    "infrastructure/**",
)

# -- the containers: ci/Dockerfile defines them; Dagger and the container tests both build it --
TOOLCHAIN_DOCKERFILE = "ci/Dockerfile"
MQTT_DOCKERFILE = "mqtt/Dockerfile"
# Stages of ci/Dockerfile: `workspace` (the locked environment plus the source) runs lint,
# package, moto and every AWS-facing command; `test` adds Chromium for the browser tests.
WORKSPACE_STAGE = "workspace"
TEST_STAGE = "test"
WORKDIR = "/src"
BUILD_DIR = "/src/.aws-sam/build"
DASHBOARD_DIR = "/src/yoto_smart_stream/api/static"
# The emulated account: the core's `emulator` command in the workspace image, bound under
# this alias and port.
MOTO_HOST = "moto"
MOTO_PORT = 5000
# `dagger call test` and the container test run exactly this.
TEST_COMMAND = ("pytest", "-q", "-p", "no:cacheprovider")
