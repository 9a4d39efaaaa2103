"""``python -m yoto_smart_stream_ci``: the core commands, in containers and on the host.

Each command takes either ``--request <json>`` (what the Dagger layer sends, written by
``contract.core_command``) or flags generated from the same request type's fields (what a person
types on the host). Both reach ``contract.from_mapping``, the one place a request is validated.

Secrets are read from the environment only (``YOTO_ADMIN_PASSWORD``, ``GITHUB_TOKEN`` and the
standard AWS variables), never from argv, so they appear in no process listing or log. Every
failure exits non-zero with one sentence on stderr; bad requests (exit 2) are refused before
anything talks to AWS.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
from collections.abc import Sequence

from yoto_smart_stream_ci import contract

EXIT_FAILED = 1
EXIT_USAGE = 2
DEBUG_VAR = "YOTO_PIPELINE_DEBUG"

DESCRIPTIONS = {
    "deploy": "network, secrets, sam package + deploy, dashboard, smoke test, summary",
    "plan": "show the change set deploy would apply, without executing it",
    "smoke": "smoke-test an environment or a URL",
    "integration-test": "the post-deploy suite: full API, streaming, cards, token refresh",
    "environment-url": "print where users open the env (its DashboardUrl), nothing else",
    "teardown": "delete an environment and verify nothing remains",
    "cleanup-stale": "tear down stale pr-* environments",
    "releases": "list an environment's recorded releases, newest first",
    "rollback": "redeploy a recorded release of an environment and smoke-test it",
    "package": "sam build, skipped when its inputs are unchanged",
    "lint": "every linter of the lint gate, each reported by name",
    "ecr-login": "write the env's ECR password to a file",
    "register-image": "emulator: record an OCI image in ECR",
    "emulator": "run an emulated AWS account (moto) in the foreground",
    "preview": "serve an emulated environment's API and dashboard in the foreground",
}
# The Dagger function names, accepted on the host too.
ALIASES = {"smoke": ["smoke-test"]}


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m yoto_smart_stream_ci", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    for command, cls in contract.REQUEST_TYPES.items():
        sub = commands.add_parser(
            command, aliases=ALIASES.get(command, []), help=DESCRIPTIONS[command]
        )
        sub.set_defaults(command=command)
        sub.add_argument(contract.REQUEST_FLAG, metavar="JSON", help="the whole request as JSON")
        types = {k: contract.base_type(v) for k, v in contract.field_types(cls).items()}
        for f in dataclasses.fields(cls):
            if not f.metadata.get("host", True):
                continue
            help_text = f.metadata.get("help")
            if types[f.name] is bool:
                sub.add_argument(_flag(f.name), action="store_true", default=None, help=help_text)
            else:
                kind = types[f.name] if types[f.name] in (int, float) else str
                sub.add_argument(_flag(f.name), type=kind, help=help_text)
    return parser


def request_from_args(args: argparse.Namespace) -> contract.Request:
    """The typed request of parsed argv: ``--request`` JSON, or the generated flags."""
    cls = contract.REQUEST_TYPES[args.command]
    given = {
        f.name: getattr(args, f.name)
        for f in dataclasses.fields(cls)
        if getattr(args, f.name, None) is not None
    }
    if args.request is not None:
        if given:
            raise contract.RequestError(
                "Pass either --request or flags, not both: " + ", ".join(map(_flag, given)) + "."
            )
        return contract.parse_request(args.command, args.request)
    return contract.from_mapping(args.command, given)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        request = request_from_args(args)
    except contract.RequestError as error:
        return _fail(error, EXIT_USAGE)
    if isinstance(request, contract.PackageRequest):
        return _package(request)
    if isinstance(request, contract.LintRequest):
        from yoto_smart_stream_ci import lint

        return 0 if lint.run_all() else EXIT_FAILED
    if isinstance(request, contract.EmulatorRequest):
        from yoto_smart_stream_ci import emulated_account

        try:
            emulated_account.serve(request.host, request.port)
        except OSError as error:
            return _fail(
                f"cannot listen on {request.host}:{request.port}: {error.strerror}.", EXIT_FAILED
            )
        return 0
    return _aws_command(request)


def _fail(error: BaseException | str, code: int) -> int:
    print(f"error: {error}", file=sys.stderr, flush=True)
    return code


def _package(request: contract.PackageRequest) -> int:
    from pathlib import Path

    from yoto_smart_stream_ci import packaging

    # Kept free of boto3/SAM imports: an unchanged package must cost next to nothing.
    try:
        built = packaging.package(Path.cwd(), Path(request.build_dir))
    except RuntimeError as error:
        return _fail(error, EXIT_FAILED)
    except OSError as error:
        return _fail(
            f"cannot write the build directory {request.build_dir}: {error.strerror}.", EXIT_FAILED
        )
    verb = "built" if built.rebuilt else "unchanged inputs, reused"
    print(f"package: {verb} {built.build_dir} in {built.seconds:.2f}s", flush=True)
    return 0


def _aws_command(request: contract.Request) -> int:
    from botocore.exceptions import BotoCoreError, ClientError

    from yoto_smart_stream_ci import pipeline
    from yoto_smart_stream_ci.aws import AwsTarget, TargetError, use_emulator

    if isinstance(request, contract.AwsFacing) and request.emulator:
        use_emulator(request.emulator)
    try:
        target = AwsTarget.from_environ()
        # Every client and child (sam, samtranslator, the local API) uses the region resolved
        # here, also when the shell named none.
        for name in ("AWS_REGION", "AWS_DEFAULT_REGION"):
            os.environ.setdefault(name, target.region)
        ok = pipeline.run(target, request, pipeline.Secrets.from_environ())
    except (TargetError, ValueError) as error:
        return _fail(error, EXIT_USAGE)
    except (RuntimeError, BotoCoreError, ClientError) as error:
        return _fail(error, EXIT_FAILED)
    except Exception as error:  # a library's own error is still one sentence
        if os.environ.get(DEBUG_VAR) == "1":
            raise
        return _fail(
            f"{request.command} failed: {type(error).__name__}: {error} "
            f"(set {DEBUG_VAR}=1 for the traceback).",
            EXIT_FAILED,
        )
    return 0 if ok else EXIT_FAILED
