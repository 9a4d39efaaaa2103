"""The exact SAM CLI argument lists the pipeline runs (built here, tested without running them)."""

from __future__ import annotations

from pathlib import Path

from yoto_smart_stream_ci import environments

TEMPLATE = Path("infrastructure/template.yaml")
NETWORK_TEMPLATE = Path("infrastructure/network/template.yaml")
BUILD_DIR = Path(".aws-sam/build")
CAPABILITIES = ["CAPABILITY_IAM", "CAPABILITY_NAMED_IAM", "CAPABILITY_AUTO_EXPAND"]


def build_args(build_dir: Path = BUILD_DIR, template: Path = TEMPLATE) -> list[str]:
    """``sam build`` with the infrastructure's Makefile build (no container, no cache dir:
    the Dagger layer caches the whole step on its inputs instead)."""
    return ["sam", "build", "--template-file", str(template), "--build-dir", str(build_dir)]


def package_args(prefix: str, build_dir: Path, bucket: str, region: str, output: Path) -> list[str]:
    """``sam package``: zip the built code into the artifact bucket under the env's ``prefix``
    (``environments.artifact_prefix``)."""
    return [
        "sam",
        "package",
        "--template-file",
        str(build_dir / "template.yaml"),
        "--s3-bucket",
        bucket,
        "--s3-prefix",
        prefix.rstrip("/"),
        "--region",
        region,
        "--output-template-file",
        str(output),
        "--no-progressbar",
    ]


def deploy_args(
    env: str,
    packaged_template: Path,
    parameters: dict[str, str],
    region: str,
    bucket: str,
    prefix: str,
    *,
    execute: bool = True,
) -> list[str]:
    """``sam deploy`` of an already packaged template; ``execute=False`` is the plan."""
    args = [
        "sam",
        "deploy",
        "--template-file",
        str(packaged_template),
        "--stack-name",
        environments.stack_name(env),
        "--region",
        region,
        "--s3-bucket",
        bucket,
        "--s3-prefix",
        prefix.rstrip("/"),
        "--capabilities",
        *CAPABILITIES,
        "--no-confirm-changeset",
        "--no-fail-on-empty-changeset",
        "--parameter-overrides",
        *environments.parameter_overrides(parameters),
        "--tags",
        *(f"{k}={v}" for k, v in environments.stack_tags(env).items()),
    ]
    if not execute:
        args.append("--no-execute-changeset")
    return args
