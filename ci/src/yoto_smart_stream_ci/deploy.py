"""Deploy one environment from a ``sam build`` output: the steps after the gate and the image.

Both targets share every step except one: a real account gets ``sam deploy``; the emulator
gets the transform expanded by samtranslator and an honest resource report (see
``emulator``). Code is packaged by ``sam package`` in both, into the artifact bucket.
"""

from __future__ import annotations

import importlib
import json
import mimetypes
import os
import secrets
import select
import subprocess
import sys
import tempfile
import threading
import time
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from yoto_smart_stream_ci import cloudformation, emulator, environments, sam
from yoto_smart_stream_ci.aws import AwsTarget

EMULATOR_METADATA_KEY = "YotoPipelineEmulator"
API_HANDLER = "yoto_smart_stream.api.lambda_handler.handler"
# Importing the app from the artifact is the Lambda "init" phase (AWS allows 10 s); generous
# here because the emulator shares a small machine.
ARTIFACT_START_TIMEOUT_S = 60
# The preview front relays this path to the emulated account (see local_lambda).
AWS_RELAY_PREFIX = "/_aws"


class DeployError(RuntimeError):
    pass


@dataclass
class DeployedStack:
    stack: str
    status: str
    outputs: dict[str, str]
    resource_report: emulator.ResourceReport | None = None
    dropped_outputs: list[str] = field(default_factory=list)


# SAM's hints for a person typing `sam` by hand; in the pipeline they are noise, and the
# `<YOUR STACK NAME>` placeholder reads like a bug in a deploy log.
SAM_BOILERPLATE = (
    "Execute the following command to deploy the packaged template",
    "sam deploy --template-file",
    "<YOUR STACK NAME>",
)


def run(args: list[str]) -> str:
    """Run a SAM CLI command, echoing its output as it happens (it never contains secrets)."""
    process = subprocess.Popen(  # noqa: S603 - fixed argv built by sam.*_args
        args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1
    )
    if process.stdout is None:
        raise DeployError("The SAM CLI has no output pipe.")
    kept: list[str] = []
    for line in process.stdout:
        if any(marker in line for marker in SAM_BOILERPLATE):
            continue
        kept.append(line)
        print(line, end="", flush=True)
    if process.wait() != 0:
        raise DeployError(f"`{' '.join(args[:2])}` failed with exit code {process.returncode}.")
    return "".join(kept).strip()


# 32 random bytes: the smoke principal's credential is never guessed, so the app need not
# throttle its sign-in (and no outsider can lock it by failing on purpose).
SMOKE_CREDENTIAL_BYTES = 32


def ensure_secrets(target: AwsTarget, env: str, admin_password: str | None) -> None:
    """Write the env's secret parameters the template only names.

    The session key is generated once and kept (rotating it would log every user out); the
    admin bootstrap password is the one given, else a random one generated on first deploy;
    the smoke principal's credential is new on every deploy (only the pipeline ever holds it).
    The CloudFront origin secret is generated once and kept: CloudFront sends the value the
    stack resolved at its last deploy, and the app must keep accepting it. It is a String
    because CloudFormation resolves no SecureString for CloudFront (environments.py).
    """
    ssm = target.client("ssm")
    origin_secret = environments.cloudfront_origin_secret_parameter(env)
    smoke_credential = environments.smoke_credential_parameter(env)
    names = [
        environments.session_key_parameter(env),
        environments.admin_password_parameter(env),
        smoke_credential,
        origin_secret,
    ]
    existing = {p["Name"] for p in ssm.get_parameters(Names=names)["Parameters"]}
    tags = [{"Key": k, "Value": v} for k, v in environments.stack_tags(env).items()]
    for name, value, overwrite, kind in (
        (environments.session_key_parameter(env), secrets.token_urlsafe(48), False, "SecureString"),
        (environments.admin_password_parameter(env), admin_password, True, "SecureString"),
        (smoke_credential, secrets.token_urlsafe(SMOKE_CREDENTIAL_BYTES), True, "SecureString"),
        (origin_secret, secrets.token_urlsafe(32), False, "String"),
    ):
        if name in existing and not (overwrite and value):
            continue
        ssm.put_parameter(
            Name=name,
            Value=value or secrets.token_urlsafe(24),
            Type=kind,
            Overwrite=name in existing,
            **({} if name in existing else {"Tags": tags}),
        )


def _read_secure_parameter(target: AwsTarget, name: str) -> str | None:
    ssm = target.client("ssm")
    try:
        found = ssm.get_parameter(Name=name, WithDecryption=True)
    except ssm.exceptions.ParameterNotFound:
        return None
    return str(found["Parameter"]["Value"])


def read_admin_password(target: AwsTarget, env: str) -> str | None:
    return _read_secure_parameter(target, environments.admin_password_parameter(env))


def read_smoke_credential(target: AwsTarget, env: str) -> str | None:
    return _read_secure_parameter(target, environments.smoke_credential_parameter(env))


def ensure_artifact_bucket(target: AwsTarget) -> str:
    s3 = target.client("s3")
    bucket = environments.artifact_bucket_name(target.account_id(), target.region)
    try:
        s3.head_bucket(Bucket=bucket)
    except s3.exceptions.ClientError:
        # us-east-1 is the one region that rejects an explicit location constraint.
        location = (
            {}
            if target.region == "us-east-1"
            else {"CreateBucketConfiguration": {"LocationConstraint": target.region}}
        )
        s3.create_bucket(Bucket=bucket, **location)
        s3.put_public_access_block(
            Bucket=bucket,
            PublicAccessBlockConfiguration={
                "BlockPublicAcls": True,
                "IgnorePublicAcls": True,
                "BlockPublicPolicy": True,
                "RestrictPublicBuckets": True,
            },
        )
    return bucket


def package(target: AwsTarget, env: str, build_dir: Path, workdir: Path) -> Path:
    bucket = ensure_artifact_bucket(target)
    packaged = workdir / "packaged.yaml"
    prefix = environments.artifact_prefix(env, target.caller_user_id())
    run(sam.package_args(prefix, build_dir, bucket, target.region, packaged))
    return packaged


def ensure_network_stack(target: AwsTarget, template: Path) -> str:
    """Create the shared network stack once per account and region; env stacks import it."""
    cfn = target.client("cloudformation")
    stack = environments.NETWORK_STACK_NAME
    if emulator.stack_exists(cfn, stack):
        return f"{stack} already exists"
    status = emulator.apply_stack(
        target, stack, cloudformation.load_template(template), {}, {"Project": environments.PROJECT}
    )
    return f"created {stack} ({status})"


def deploy_stack(
    target: AwsTarget, env: str, packaged: Path, parameters: dict[str, str]
) -> DeployedStack:
    stack = environments.stack_name(env)
    if not target.emulated:
        bucket = environments.artifact_bucket_name(target.account_id(), target.region)
        prefix = environments.artifact_prefix(env, target.caller_user_id())
        run(sam.deploy_args(env, packaged, parameters, target.region, bucket, prefix))
        cfn = target.client("cloudformation")
        status = cfn.describe_stacks(StackName=stack)["Stacks"][0]["StackStatus"]
        return DeployedStack(stack, status, emulator.stack_outputs(target, stack))

    template = cloudformation.load_template(packaged)
    expanded = emulator.resolve_policies(
        emulator.expand_transform(template, parameters, target), parameters
    )
    stripped = emulator.strip_unsupported(expanded, emulator.supported_resource_types())
    stripped.template.setdefault("Metadata", {})[EMULATOR_METADATA_KEY] = {
        "HttpApiStage": emulator.http_api_stage(expanded, parameters),
        "NotCreated": stripped.removed,
    }
    status = emulator.apply_stack(
        target, stack, stripped.template, parameters, environments.stack_tags(env)
    )
    report = emulator.verify_resources(target, stack, stripped.removed)
    deployed = DeployedStack(
        stack,
        status,
        emulator.stack_outputs(target, stack),
        resource_report=report,
        dropped_outputs=stripped.dropped_outputs,
    )
    if report.missing:
        raise DeployError(
            "The emulator reports resources that do not exist: " + ", ".join(sorted(report.missing))
        )
    return deployed


def sync_dashboard(target: AwsTarget, env: str, dashboard_dir: Path) -> str:
    """Upload the static dashboard to the env's web bucket and delete files no longer shipped."""
    s3 = target.client("s3")
    bucket = environments.dashboard_bucket_name(env, target.account_id(), target.region)
    try:
        s3.head_bucket(Bucket=bucket)
    except s3.exceptions.ClientError as error:
        raise DeployError(f"The dashboard bucket {bucket} does not exist after deploy.") from error
    shipped: set[str] = set()
    for path in sorted(p for p in dashboard_dir.rglob("*") if p.is_file()):
        key = path.relative_to(dashboard_dir).as_posix()
        shipped.add(key)
        content_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        cache = "no-cache" if key.endswith(".html") else "public, max-age=300"
        s3.put_object(
            Bucket=bucket,
            Key=key,
            Body=path.read_bytes(),
            ContentType=content_type,
            CacheControl=cache,
        )
    stale = [
        {"Key": o["Key"]}
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket)
        for o in page.get("Contents", [])
        if o["Key"] not in shipped
    ]
    if stale:
        s3.delete_objects(Bucket=bucket, Delete={"Objects": stale})
    return f"{len(shipped)} file(s) to s3://{bucket} ({len(stale)} stale removed)"


def _runtime_provided_dir(workdir: Path, artifact: Path) -> Path | None:
    """The packages the python3.13 Lambda runtime provides, when the artifact omits them."""
    if (artifact / "boto3").exists():
        return None
    runtime = workdir / "lambda-runtime"
    runtime.mkdir(exist_ok=True)
    for name in ("boto3", "botocore", "s3transfer", "jmespath", "dateutil", "urllib3", "six"):
        module = importlib.import_module(name)
        source = Path(module.__file__ or "")
        origin = source.parent if source.name == "__init__.py" else source
        link = runtime / origin.name
        if not link.exists():
            link.symlink_to(origin)
    return runtime


@contextmanager
def serving_api(
    target: AwsTarget,
    env: str,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    overrides: dict[str, str] | None = None,
) -> Iterator[str]:
    """Yield the env's API base URL. In the emulator, serve the deployed artifact locally.

    ``host``/``port`` fix where the artifact listens (the preview); ``overrides`` replace
    function environment variables the emulator cannot give real values (``PUBLIC_URL``).
    """
    stack = environments.stack_name(env)
    cfn = target.client("cloudformation")
    if not emulator.stack_exists(cfn, stack):
        raise DeployError(
            f"{env} is not deployed in this account"
            + (
                " (an emulated account started for one call is empty; keep one across calls "
                "with --emulator)."
                if target.emulated
                else "."
            )
        )
    if not target.emulated:
        outputs = emulator.stack_outputs(target, stack)
        if "ApiUrl" not in outputs:
            raise DeployError(f"Stack {stack} has no ApiUrl output.")
        yield outputs["ApiUrl"]
        return

    body = cfn.get_template(StackName=stack)["TemplateBody"]
    template = body if isinstance(body, dict) else json.loads(body)
    stage = template["Metadata"][EMULATOR_METADATA_KEY]["HttpApiStage"]
    function_name = environments.api_function_name(env)
    config = target.client("lambda").get_function_configuration(FunctionName=function_name)
    logical = [
        lid
        for lid, (rtype, pid) in emulator.physical_ids(target, stack).items()
        if rtype == "AWS::Lambda::Function" and pid == function_name
    ]
    if len(logical) != 1:
        raise DeployError(f"Stack {stack} has no single Lambda function named {function_name}.")
    code = template["Resources"][logical[0]]["Properties"]["Code"]
    with tempfile.TemporaryDirectory(prefix=f"lambda-{env}-") as tmp:
        workdir = Path(tmp)
        archive = workdir / "code.zip"
        target.client("s3").download_file(code["S3Bucket"], code["S3Key"], str(archive))
        artifact = workdir / "artifact"
        with zipfile.ZipFile(archive) as zipped:
            zipped.extractall(artifact)
        environment = {
            **{k: v for k, v in os.environ.items() if k.startswith(("AWS_", "PATH", "LANG"))},
            **config.get("Environment", {}).get("Variables", {}),
            "AWS_LAMBDA_FUNCTION_NAME": function_name,
            "AWS_REGION": target.region,
            "AWS_DEFAULT_REGION": target.region,
            **(overrides or {}),
        }
        with local_api(
            artifact,
            config.get("Handler", API_HANDLER),
            stage=stage,
            function_name=function_name,
            region=target.region,
            environment=environment,
            runtime_dir=_runtime_provided_dir(workdir, artifact),
            host=host,
            port=port,
            aws_relay=str(target.endpoint_url) if "AWS_ENDPOINT_URL_S3" in environment else "",
        ) as url:
            yield url


@contextmanager
def local_api(
    artifact: Path,
    handler: str,
    *,
    stage: str,
    function_name: str,
    region: str,
    environment: dict[str, str],
    runtime_dir: Path | None = None,
    host: str = "127.0.0.1",
    port: int = 0,
    aws_relay: str = "",
) -> Iterator[str]:
    """Serve ``artifact`` as an HTTP API stage on ``host``; yield the stage's base URL."""
    command = [
        sys.executable,
        "-I",
        "-S",
        str(Path(__file__).with_name("local_lambda.py")),
        "--artifact",
        str(artifact),
        "--handler",
        handler,
        "--stage",
        stage,
        "--function-name",
        function_name,
        "--region",
        region,
        *(["--runtime-dir", str(runtime_dir)] if runtime_dir else []),
        "--host",
        host,
        "--port",
        str(port),
        *(["--aws-relay", aws_relay] if aws_relay else []),
    ]
    server = subprocess.Popen(  # noqa: S603 - fixed argv, no shell
        command, stdout=subprocess.PIPE, stderr=None, text=True, env=environment
    )
    try:
        listening = _listening_port(server)
        prefix = "" if stage == "$default" else f"/{stage}"
        shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host  # noqa: S104 - a comparison
        yield f"http://{shown}:{listening}{prefix}"
    finally:
        server.terminate()
        try:
            server.wait(10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def _listening_port(server: subprocess.Popen[str]) -> int:
    """Wait for the server's ``LISTENING <port>`` line, then keep relaying its output.

    The artifact's logs go to the same pipe; relaying them keeps the pipe from filling up (which
    would block the server) and shows them in the pipeline's log like CloudWatch would.
    """
    stream = server.stdout
    if stream is None:
        raise DeployError("The local API server has no output pipe.")
    ready, _, _ = select.select([stream], [], [], ARTIFACT_START_TIMEOUT_S)
    line = stream.readline().strip() if ready else ""
    if not line.startswith("LISTENING "):
        server.kill()
        raise DeployError(
            f"The built Lambda artifact did not start within {ARTIFACT_START_TIMEOUT_S}s "
            f"(exit code {server.wait()})."
        )

    def relay() -> None:
        for output in stream:
            print(output, end="", flush=True)

    threading.Thread(target=relay, daemon=True).start()
    return int(line.split()[1])


@dataclass
class Timer:
    steps: dict[str, float] = field(default_factory=dict)
    # The step that is running; after an exception, the step it came from.
    running: str = ""

    @contextmanager
    def step(self, name: str) -> Iterator[None]:
        started = time.monotonic()
        self.running = name
        try:
            yield
            self.running = ""
        finally:
            self.steps[name] = round(time.monotonic() - started, 2)


def describe_changes(
    target: AwsTarget, env: str, packaged: Path, parameters: dict[str, str]
) -> str:
    """``plan``: a change set listing what would change; never executed."""
    stack = environments.stack_name(env)
    if not target.emulated:
        bucket = environments.artifact_bucket_name(target.account_id(), target.region)
        prefix = environments.artifact_prefix(env, target.caller_user_id())
        return run(
            sam.deploy_args(env, packaged, parameters, target.region, bucket, prefix, execute=False)
        )
    cfn = target.client("cloudformation")
    expanded = emulator.expand_transform(cloudformation.load_template(packaged), parameters, target)
    stripped = emulator.strip_unsupported(expanded, emulator.supported_resource_types())
    exists = emulator.stack_exists(cfn, stack)
    name = f"plan-{int(time.time())}"
    declared = set(stripped.template.get("Parameters", {}))
    cfn.create_change_set(
        StackName=stack,
        ChangeSetName=name,
        ChangeSetType="UPDATE" if exists else "CREATE",
        TemplateBody=json.dumps(stripped.template),
        Parameters=[
            {"ParameterKey": k, "ParameterValue": v} for k, v in parameters.items() if k in declared
        ],
        Capabilities=sam.CAPABILITIES,
    )
    described: dict[str, Any] = cfn.describe_change_set(StackName=stack, ChangeSetName=name)
    cfn.delete_change_set(StackName=stack, ChangeSetName=name)
    if not exists:
        # A CREATE change set leaves a REVIEW_IN_PROGRESS stack behind; a plan changes nothing.
        cfn.delete_stack(StackName=stack)
    lines = [f"Plan for {stack} ({'update' if exists else 'create'}), not executed:"]
    for change in described.get("Changes", []):
        rc = change["ResourceChange"]
        lines.append(f"  {rc['Action']:<7} {rc['LogicalResourceId']} ({rc['ResourceType']})")
    lines += [
        f"  (not creatable in the emulator) {lid} ({t})"
        for lid, t in sorted(stripped.removed.items())
    ]
    return "\n".join(lines)
