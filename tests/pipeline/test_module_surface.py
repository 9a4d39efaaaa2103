"""The `dagger call` surface, loaded offline with the SDK exactly as the runtime loads it.

Workflows call these names and flags; renaming one must fail here first.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import subprocess
import sys
import tomllib
from typing import Any

import pytest

from tests.support.dagger_module import CI_PYPROJECT, REPO_ROOT, declared_entry_points, surface

SECRET = "dagger.Secret | None"
AWS_ARGS = {
    "aws-access-key-id": (SECRET, "null", "AWS access key id (omit for the emulator)"),
    "aws-secret-access-key": (SECRET, "null", "AWS secret access key"),
    "aws-session-token": (SECRET, "null", "AWS session token (GitHub OIDC)"),
    "region": ("<class 'str'>", '"eu-west-2"', "AWS region"),
    "emulator": (
        "dagger.Service | None",
        "null",
        "A kept emulated account (dagger call emulator up), e.g. tcp://localhost:5000",
    ),
}
ENV = {"env": ("<class 'str'>", None, "Environment: prod, dev or pr-<number>")}
DOCKER_SOCKET = {
    "docker-socket": (
        "dagger.Socket | None",
        "null",
        "Emulator: the host's Docker socket (/var/run/docker.sock) to run the MQTT image's check",
    )
}
ALARM_EMAIL = {
    "alarm-email": (
        "<class 'str'>",
        '""',
        "prod: e-mail address the alarms and the budget notify",
    )
}
ADMIN_PASSWORD = {
    "admin-password": (SECRET, "null", "Admin password (default: the env's SSM parameter)")
}
GITHUB = {
    "github-token": (SECRET, "null", "GitHub token for the PR comment"),
    "github-repository": ("<class 'str'>", '""', "GitHub repository OWNER/NAME for the PR comment"),
}

# name -> (doc, check, cache, returns, {flag: (type, default JSON or None if required, doc)})
EXPECTED: dict[str, tuple[str, bool, str | None, str, dict[str, tuple[str, str | None, str]]]] = {
    "lint": (
        "Ruff (check and format), cfn-lint, zizmor and the workflow schema, mypy --strict on ci/.",
        True,
        None,
        "str",
        {},
    ),
    "test": (
        "The whole pytest suite; moto, the MQTT broker and the Yoto fake start inside, as on a host.",
        True,
        None,
        "str",
        {},
    ),
    "package": (
        "`sam build` of the template; `dagger call package export --path=.aws-sam/build`.",
        False,
        None,
        "Directory",
        {},
    ),
    "build-image": (
        "The MQTT handler image, built from mqtt/Dockerfile with the repository as context.",
        False,
        None,
        "Container",
        {},
    ),
    "publish-image": (
        "Push the MQTT image to ECR (registry auth as a secret) and return repository@sha256:digest.",
        False,
        "never",
        "str",
        {
            **ENV,
            "commit": ("<class 'str'>", '""', "Git commit the image is built from"),
            **AWS_ARGS,
        },
    ),
    "deploy": (
        "Gate (lint + test), package, image, sam deploy, dashboard sync, smoke test; returns the summary (Markdown).",
        False,
        "never",
        "str",
        {
            **ENV,
            "no-cloudfront": ("<class 'bool'>", "false", "Skip CloudFront (pr-N and dev only)"),
            "admin-password": (SECRET, "null", "Bootstrap password of the first admin"),
            "yoto-client-id": ("<class 'str'>", '""', "Yoto OAuth client id"),
            **GITHUB,
            "commit": ("<class 'str'>", '""', "Git commit being deployed"),
            **ALARM_EMAIL,
            **AWS_ARGS,
            "lock-wait-seconds": (
                "<class 'float'>",
                "1800.0",
                "How long to wait for an operation in progress on the stack",
            ),
            **DOCKER_SOCKET,
        },
    ),
    "integration-test": (
        "Full API, audio upload and streaming, a card created at Yoto, a forced token refresh.",
        False,
        "never",
        "str",
        {**ENV, **ADMIN_PASSWORD, **AWS_ARGS},
    ),
    "environment-url": (
        "The env's DashboardUrl alone (no newline): the URL of its GitHub deployment.",
        False,
        "never",
        "str",
        {**ENV, **AWS_ARGS},
    ),
    "smoke-test": (
        "Health, ready, sign-in as the smoke principal (or admin with --url), players, MQTT handler.",
        False,
        "never",
        "str",
        {
            "env": ("str | None", "null", "Environment to test (its ApiUrl output)"),
            "url": ("str | None", "null", "Base URL to test instead of an environment"),
            "admin-password": (SECRET, "null", "Admin password (default: the env's SSM parameter)"),
            **AWS_ARGS,
            **DOCKER_SOCKET,
        },
    ),
    "plan": (
        "Create a change set for the env and print what would change, without executing it.",
        False,
        "never",
        "str",
        {
            **ENV,
            "no-cloudfront": ("<class 'bool'>", "false", "Skip CloudFront (pr-N and dev only)"),
            "yoto-client-id": ("<class 'str'>", '""', "Yoto OAuth client id"),
            "commit": ("<class 'str'>", '""', "Git commit being deployed"),
            **ALARM_EMAIL,
            **AWS_ARGS,
        },
    ),
    "teardown": (
        "Empty the env's buckets, delete its images and stack, then verify nothing remains.",
        False,
        "never",
        "str",
        {
            **ENV,
            "force": ("<class 'bool'>", "false", "Required to tear down prod"),
            **GITHUB,
            **AWS_ARGS,
        },
    ),
    "emulator": (
        "An emulated AWS account (moto) to keep across calls: `dagger call emulator up --ports 5000:5000`.",
        False,
        None,
        "Service",
        {},
    ),
    "preview": (
        "Serve the env's deployed API and dashboard from the emulated account: `up --ports 8080:8080`.",
        False,
        "never",
        "Service",
        {
            **ENV,
            "emulator": (
                "<class 'dagger.Service'>",
                None,
                "The kept emulated account the env is deployed in, e.g. tcp://localhost:5000",
            ),
            "region": AWS_ARGS["region"],
        },
    ),
    "cleanup-stale": (
        "Tear down stale pr-* environments (too old, or their pull request is closed).",
        False,
        "never",
        "str",
        {
            "max-age-hours": ("<class 'int'>", None, "Tear down pr-* stacks older than this"),
            "github-token": (SECRET, "null", "GitHub token: also tear down envs of closed PRs"),
            "github-repository": GITHUB["github-repository"],
            **AWS_ARGS,
        },
    ),
    "releases": (
        "List the env's recorded releases, newest first: the ids rollback --to takes.",
        False,
        "never",
        "str",
        {**ENV, **AWS_ARGS},
    ),
    "rollback": (
        "Redeploy a recorded release of the env and smoke-test it; prints a summary.",
        False,
        "never",
        "str",
        {
            **ENV,
            "to": (
                "<class 'str'>",
                '""',
                "Release id from releases (default: the newest one not running)",
            ),
            "lock-wait-seconds": (
                "<class 'float'>",
                "1800.0",
                "How long to wait for an operation in progress on the stack",
            ),
            **AWS_ARGS,
            **DOCKER_SOCKET,
        },
    ),
}


@pytest.fixture(scope="module")
def api(dagger_module: Any) -> dict[str, Any]:
    return surface(dagger_module)


def test_main_object_is_found_through_the_entry_point(api: dict[str, Any]) -> None:
    assert declared_entry_points()["dagger.mod"] == {
        "main_object": "yoto_smart_stream_ci.main:YotoSmartStream"
    }
    config = json.loads((REPO_ROOT / "dagger.json").read_text())
    # The runtime's main object name is the module name in PascalCase.
    assert api["object"] == "".join(p.capitalize() for p in config["name"].split("-"))
    assert api["doc"]


def test_exactly_the_contracted_functions_exist(api: dict[str, Any]) -> None:
    assert sorted(api["functions"]) == sorted(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_function_signature(api: dict[str, Any], name: str) -> None:
    doc, is_check, cache, returns, args = EXPECTED[name]
    fn = api["functions"][name]
    assert fn["doc"] == doc
    assert fn["check"] is is_check
    assert fn["cache"] == cache
    assert fn["returns"] == returns
    assert list(fn["args"]) == list(args), "flags or their order changed"
    for flag, (type_name, default, arg_doc) in args.items():
        got = fn["args"][flag]
        assert got["type"] == type_name, flag
        assert got["default"] == default, flag
        assert got["optional"] is (default is not None), flag
        assert got["doc"] == arg_doc, flag


def test_source_is_the_repository_with_an_allow_list(api: dict[str, Any]) -> None:
    source = api["constructor"]["source"]
    assert source["default_path"] == "/"
    ignore = source["ignore"]
    assert ignore[0] == "*", "an allow-list starts by ignoring everything"
    for needed in ("!pyproject.toml", "!uv.lock", "!ci/src/**", "!infrastructure/**", "!tests/**"):
        assert needed in ignore
    for never in ("**/.venv", "**/.aws-sam", "**/__pycache__"):
        assert never in ignore


def test_every_aws_step_is_never_cached(api: dict[str, Any]) -> None:
    aws_facing = [n for n, f in api["functions"].items() if "aws-access-key-id" in f["args"]]
    assert sorted(aws_facing) == sorted(
        [
            "publish-image",
            "deploy",
            "integration-test",
            "environment-url",
            "smoke-test",
            "plan",
            "teardown",
            "cleanup-stale",
            "releases",
            "rollback",
        ]
    )
    assert all(api["functions"][n]["cache"] == "never" for n in aws_facing)
    # Every function that can act on an account takes a kept emulated one.
    with_emulator = [n for n, f in api["functions"].items() if "emulator" in f["args"]]
    assert sorted(with_emulator) == sorted([*aws_facing, "preview"])
    assert api["functions"]["preview"]["cache"] == "never"


def test_engine_and_sdk_versions_are_pinned_together() -> None:
    config = json.loads((REPO_ROOT / "dagger.json").read_text())
    ci_project = tomllib.loads(CI_PYPROJECT.read_text())
    assert config["name"] == "yoto-smart-stream"
    assert config["sdk"] == {"source": "python"}
    assert config["source"] == "ci"
    version = config["engineVersion"].removeprefix("v")
    assert f"dagger-io=={version}" in ci_project["project"]["dependencies"]
    assert importlib.metadata.version("dagger-io") == version
    lock = tomllib.loads((REPO_ROOT / "ci" / "uv.lock").read_text())
    locked = {p["name"]: p for p in lock["package"]}
    assert locked["dagger-io"]["version"] == version
    assert "registry" in locked["dagger-io"]["source"], "dagger-io must come from PyPI"
    # No vendored ./sdk: the runtime then installs this lock as is, and hosts need no codegen.
    assert "sources" not in ci_project.get("tool", {}).get("uv", {})


def test_engine_never_uploads_local_state() -> None:
    include = json.loads((REPO_ROOT / "dagger.json").read_text())["include"]
    for pattern in ("!**/.venv", "!**/__pycache__", "!**/.*cache", "!**/.aws-sam", "!ci/sdk"):
        assert pattern in include


def test_the_module_registers_with_the_engine_api_offline() -> None:
    """Module._typedefs() (what the engine calls to learn the module) runs to the end."""
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            "from tests.support.dagger_module import print_registration; print_registration()",
        ],
        cwd=REPO_ROOT,
        env={
            **os.environ,
            "PYTHONPATH": f"{REPO_ROOT}{os.pathsep}{REPO_ROOT / 'ci' / 'src'}",
            # The runtime sets this from the module name (dagger.json "name").
            "DAGGER_MAIN_OBJECT": "YotoSmartStream",
        },
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    registered = json.loads(result.stdout)
    assert list(registered) == ["YotoSmartStream"]
    functions = registered["YotoSmartStream"]
    # The engine turns snake_case into camelCase for the API and kebab-case for `dagger call`.
    assert sorted(n.replace("_", "-") for n in functions if n) == sorted(EXPECTED)
    for name, fn in functions.items():
        if not name:
            continue
        _, is_check, cache, _, args = EXPECTED[name.replace("_", "-")]
        assert fn["check"] is is_check, name
        assert fn["cache"] == ("Never" if cache == "never" else None), name
        assert [a.replace("_", "-") for a in fn["args"]] == list(args), name
        for flag, arg in fn["args"].items():
            assert arg["default"] == args[flag.replace("_", "-")][1], (name, flag)
    source = functions[""]["args"]["source"]
    assert source["defaultPath"] == "/"
    assert source["ignore"][0] == "*"


def test_docker_builds_see_the_same_source_as_the_engine() -> None:
    # .dockerignore (docker build of ci/Dockerfile and mqtt/Dockerfile) and the Dagger
    # module's source allow-list are one list, so both executors build the same context.
    from yoto_smart_stream_ci.main import SOURCE_ALLOW_LIST
    from yoto_smart_stream_ci.shared import TEST_STAGE, TOOLCHAIN_DOCKERFILE, WORKSPACE_STAGE

    lines = [
        line
        for line in (REPO_ROOT / ".dockerignore").read_text().splitlines()
        if line and not line.startswith("#")
    ]
    assert lines == SOURCE_ALLOW_LIST
    stages = {
        line.split(" AS ")[1].strip()
        for line in (REPO_ROOT / TOOLCHAIN_DOCKERFILE).read_text().splitlines()
        if line.startswith("FROM ") and " AS " in line
    }
    assert {WORKSPACE_STAGE, TEST_STAGE} <= stages
    assert "# syntax=" not in (REPO_ROOT / TOOLCHAIN_DOCKERFILE).read_text()
