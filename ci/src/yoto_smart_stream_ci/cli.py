"""``python -m yoto_smart_stream_ci``: the commands the Dagger functions run in containers.

Secrets are read from the environment only (``YOTO_ADMIN_PASSWORD``, ``GITHUB_TOKEN`` and the
standard AWS variables), never from argv, so they appear in no process listing or log. Every
failure exits non-zero with one sentence on stderr; environment names are validated before
anything talks to AWS.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from yoto_smart_stream_ci import environments, packaging
from yoto_smart_stream_ci.shared import ADMIN_PASSWORD_VAR, GITHUB_TOKEN_VAR

if TYPE_CHECKING:
    from yoto_smart_stream_ci import pipeline
    from yoto_smart_stream_ci.aws import AwsTarget

EXIT_FAILED = 1
EXIT_USAGE = 2


def _secret(name: str) -> str | None:
    return os.environ.get(name) or None


def _env_arg(value: str) -> str:
    try:
        return environments.validate_env(value)
    except environments.EnvironmentNameError as error:
        raise argparse.ArgumentTypeError(str(error)) from error


def _deploy_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--env", required=True, type=_env_arg)
    parser.add_argument("--build-dir", required=True, type=Path)
    image = parser.add_mutually_exclusive_group(required=True)
    image.add_argument("--image-uri", help="repository@sha256:digest published to ECR")
    image.add_argument("--oci-tarball", type=Path, help="emulator: record this image in ECR first")
    parser.add_argument("--commit", default="")
    parser.add_argument("--yoto-client-id", default="")
    parser.add_argument("--no-cloudfront", action="store_true")
    parser.add_argument("--dashboard-dir", type=Path)
    parser.add_argument("--github-repository", default="")
    parser.add_argument("--gate-seconds", default="{}", help="JSON {step: seconds} to report")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m yoto_smart_stream_ci", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    _deploy_args(commands.add_parser("deploy", help="package, deploy, sync, smoke test"))
    _deploy_args(commands.add_parser("plan", help="show the change set, do not execute it"))
    smoke = commands.add_parser("smoke", help="smoke-test an env or a URL")
    where = smoke.add_mutually_exclusive_group(required=True)
    where.add_argument("--env", type=_env_arg)
    where.add_argument("--url")
    down = commands.add_parser("teardown", help="delete an env and verify nothing remains")
    down.add_argument("--env", required=True, type=_env_arg)
    down.add_argument("--force", action="store_true")
    down.add_argument("--github-repository", default="")
    stale = commands.add_parser("cleanup-stale", help="tear down stale pr-* envs")
    stale.add_argument("--max-age-hours", required=True, type=float)
    stale.add_argument("--github-repository", default="")
    build = commands.add_parser("package", help="sam build, skipped if inputs are unchanged")
    build.add_argument("--build-dir", type=Path, default=Path(".aws-sam/build"))
    login = commands.add_parser("ecr-login", help="write the ECR password to a file")
    login.add_argument("--env", required=True, type=_env_arg)
    login.add_argument("--password-file", required=True, type=Path)
    register = commands.add_parser("register-image", help="emulator: record an OCI image in ECR")
    register.add_argument("--env", required=True, type=_env_arg)
    register.add_argument("--commit", default="")
    register.add_argument("--oci-tarball", required=True, type=Path)
    return parser


def _request(args: argparse.Namespace, target: AwsTarget) -> pipeline.DeployRequest:
    from yoto_smart_stream_ci import images, pipeline

    image_uri = args.image_uri
    if args.oci_tarball is not None:
        if args.command == "deploy":
            image_uri = images.register_oci_image(target, args.env, args.commit, args.oci_tarball)
        else:
            image_uri = images.planned_image_uri(target, args.env, args.oci_tarball)
    return pipeline.DeployRequest(
        env=args.env,
        build_dir=args.build_dir,
        image_uri=image_uri,
        commit=args.commit,
        yoto_client_id=args.yoto_client_id,
        cloudfront=False if args.no_cloudfront else None,
        dashboard_dir=args.dashboard_dir,
        admin_password=_secret(ADMIN_PASSWORD_VAR),
        github_token=_secret(GITHUB_TOKEN_VAR),
        github_repository=args.github_repository,
        gate_seconds={k: float(v) for k, v in json.loads(args.gate_seconds).items()},
    )


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "package":
        # Kept free of boto3/SAM imports: an unchanged package must cost next to nothing.
        try:
            built = packaging.package(Path.cwd(), args.build_dir)
        except RuntimeError as error:
            print(f"error: {error}", file=sys.stderr, flush=True)
            return EXIT_FAILED
        verb = "built" if built.rebuilt else "unchanged inputs, reused"
        print(f"package: {verb} {built.build_dir} in {built.seconds:.2f}s", flush=True)
        return 0
    return _aws_command(args)


def _aws_command(args: argparse.Namespace) -> int:
    from botocore.exceptions import BotoCoreError, ClientError

    from yoto_smart_stream_ci import images, pipeline, teardown
    from yoto_smart_stream_ci.aws import AwsTarget, TargetError

    try:
        if args.command == "teardown":
            # Refuse prod before even resolving the target.
            teardown.check_allowed(args.env, force=args.force)
        target = AwsTarget.from_environ()
        if args.command == "deploy":
            outcome = pipeline.run_deploy(target, _request(args, target))
            return 0 if outcome.ok else EXIT_FAILED
        if args.command == "plan":
            pipeline.run_plan(target, _request(args, target))
            return 0
        if args.command == "smoke":
            report = pipeline.run_smoke(
                target, env=args.env, url=args.url, admin_password=_secret(ADMIN_PASSWORD_VAR)
            )
            return 0 if report.ok else EXIT_FAILED
        if args.command == "teardown":
            torn = pipeline.run_teardown(
                target,
                args.env,
                force=args.force,
                github_token=_secret(GITHUB_TOKEN_VAR),
                github_repository=args.github_repository,
            )
            return 0 if torn.ok else EXIT_FAILED
        if args.command == "cleanup-stale":
            reports = pipeline.run_cleanup_stale(
                target,
                max_age_hours=args.max_age_hours,
                github_token=_secret(GITHUB_TOKEN_VAR),
                github_repository=args.github_repository,
            )
            return 0 if all(r.ok for r in reports) else EXIT_FAILED
        if args.command == "ecr-login":
            print(images.ecr_login(target, args.env, args.password_file), flush=True)
            return 0
        if args.command == "register-image":
            print(
                images.register_oci_image(target, args.env, args.commit, args.oci_tarball),
                flush=True,
            )
            return 0
    except (teardown.TeardownRefused, TargetError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr, flush=True)
        return EXIT_USAGE
    except (RuntimeError, BotoCoreError, ClientError) as error:
        print(f"error: {error}", file=sys.stderr, flush=True)
        return EXIT_FAILED
    raise AssertionError(f"unhandled command {args.command}")
