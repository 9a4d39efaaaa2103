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
