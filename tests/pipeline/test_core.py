"""Unit tests of the engine-free core: what the Dagger functions decide, without AWS."""

from __future__ import annotations

import io
import json
import re
import subprocess
import sys
import tarfile
import tomllib
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from tests.support.oci import build_oci_tarball
from tests.support.pipeline_cli import CI_SRC, REPO_ROOT
from yoto_smart_stream_ci import (
    emulator,
    environments,
    images,
    packaging,
    release,
    sam,
    smoke,
    stale,
)
from yoto_smart_stream_ci.local_lambda import build_event

REGISTRY = "123456789012.dkr.ecr.eu-west-2.amazonaws.com"


def digest_uri(env: str) -> str:
    return f"{REGISTRY}/{environments.ecr_repository(env)}@sha256:" + "b" * 64


DIGEST_URI = digest_uri("pr-42")


def test_deploy_arguments_carry_env_names_parameters_and_tags() -> None:
    params = environments.template_parameters(
        "pr-42", mqtt_image_uri=DIGEST_URI, yoto_client_id="client", cloudfront=False
    )
    prefix = environments.artifact_prefix("pr-42", "AROAEXAMPLE:pr-42")
    args = sam.deploy_args("pr-42", Path("packaged.yaml"), params, "eu-west-2", "bucket", prefix)
    assert args[:2] == ["sam", "deploy"]
    assert args[args.index("--stack-name") + 1] == "yoto-smart-stream-pr-42"
    assert args[args.index("--s3-prefix") + 1] == "previews/AROAEXAMPLE:pr-42"
    overrides = args[args.index("--parameter-overrides") + 1 : args.index("--tags")]
    assert overrides == environments.parameter_overrides(params)
    assert any(o.startswith("MqttImageUri=") and DIGEST_URI in o for o in overrides)
    assert "Environment=pr-42" in args
    assert "CAPABILITY_AUTO_EXPAND" in args
    assert "--no-execute-changeset" not in args
    plan = sam.deploy_args("pr-42", Path("p.yaml"), params, "eu-west-2", "b", prefix, execute=False)
    assert plan[-1] == "--no-execute-changeset"


def test_prod_dev_and_each_preview_have_their_own_image_repository() -> None:
    names = {env: environments.ecr_repository(env) for env in ("prod", "dev", "pr-1", "pr-9999999")}
    assert names == {
        "prod": "yoto-smart-stream-mqtt-prod",
        "dev": "yoto-smart-stream-mqtt-dev",
        "pr-1": "yoto-smart-stream-mqtt-pr-1",
        "pr-9999999": "yoto-smart-stream-mqtt-pr-9999999",
    }
    # ECR's repository name rule (lower case, 2-256 characters).
    ecr_name = re.compile(r"^(?:[a-z0-9]+(?:[._-][a-z0-9]+)*/)*[a-z0-9]+(?:[._-][a-z0-9]+)*$")
    assert all(ecr_name.fullmatch(n) and 2 <= len(n) <= 256 for n in names.values())
    params = environments.template_parameters(
        "dev", mqtt_image_uri=digest_uri("dev"), yoto_client_id="c"
    )
    assert params["MqttImageRepository"] == "yoto-smart-stream-mqtt-dev"


@pytest.mark.parametrize(("env", "image_of"), [("prod", "pr-1"), ("pr-1", "prod"), ("dev", "prod")])
def test_an_image_from_another_scopes_repository_is_refused(env: str, image_of: str) -> None:
    """The task's execution role may pull only from its own environment's repository."""
    with pytest.raises(ValueError, match=f"not in '{environments.ecr_repository(env)}'"):
        environments.template_parameters(
            env, mqtt_image_uri=digest_uri(image_of), yoto_client_id="c"
        )


@pytest.mark.parametrize(
    ("env", "tag", "belongs"),
    [
        ("pr-4", "pr-4-0123456789ab", True),
        ("pr-4", "pr-4", True),
        ("pr-4", "pr-42-0123456789ab", False),
        ("pr-4", "pr-42", False),
        ("dev", "dev-0123456789ab", True),
        ("prod", "pr-4-0123456789ab", False),
    ],
)
def test_image_tags_belong_to_exactly_one_env(env: str, tag: str, belongs: bool) -> None:
    assert environments.is_image_tag_of(env, tag) is belongs
    assert environments.is_image_tag_of(env, environments.image_tag(env, "0123456789abcdef"))


@pytest.mark.parametrize(
    ("env", "caller", "prefix"),
    [
        ("prod", "AROAPROD:main", "prod/"),
        ("dev", "AROADEV:develop", "dev/"),
        # A preview's prefix is the aws:userid of its own session, whichever session asks.
        ("pr-7", "AROAPREVIEW:pr-7", "previews/AROAPREVIEW:pr-7/"),
        ("pr-7", "AROAPREVIEW:stale-cleanup", "previews/AROAPREVIEW:pr-7/"),
        ("pr-7", "AIDAADMINUSER", "previews/AIDAADMINUSER:pr-7/"),  # an IAM user: no session
    ],
)
def test_artifact_prefixes(env: str, caller: str, prefix: str) -> None:
    assert environments.artifact_prefix(env, caller) == prefix


def test_a_preview_prefix_needs_the_callers_id() -> None:
    with pytest.raises(ValueError, match="user id is empty"):
        environments.artifact_prefix("pr-7", ":pr-7")
    with pytest.raises(environments.EnvironmentNameError, match="Invalid environment name"):
        environments.artifact_prefix("pr-7/../prod", "AROAX:pr-7")


def test_package_and_build_arguments() -> None:
    prefix = environments.artifact_prefix("dev", "AROAEXAMPLE:dev-deploy")
    args = sam.package_args(prefix, Path("build"), "bucket", "eu-west-2", Path("out.yaml"))
    assert args[args.index("--template-file") + 1] == "build/template.yaml"
    assert args[args.index("--s3-prefix") + 1] == "dev"
    assert sam.build_args(Path("/b"))[-2:] == ["--build-dir", "/b"]


SAMPLE = {
    "Conditions": {"Retain": {"Fn::Equals": [{"Ref": "RetainData"}, "true"]}},
    "Parameters": {"RetainData": {"Type": "String", "Default": "false"}},
    "Resources": {
        "Table": {
            "Type": "AWS::DynamoDB::Table",
            "DeletionPolicy": {"Fn::If": ["Retain", "Retain", "Delete"]},
            "Properties": {},
        },
        "Api": {"Type": "AWS::ApiGatewayV2::Api", "Properties": {}},
        "Fn": {
            "Type": "AWS::Lambda::Function",
            "DependsOn": ["Api", "Table"],
            "Properties": {
                "Environment": {
                    "Variables": {
                        "PUBLIC_URL": {"Fn::Sub": "https://${Api}.execute-api/${Api.Arn}"},
                        "API": {"Ref": "Api"},
                        "ARN": {"Fn::GetAtt": ["Api", "ApiEndpoint"]},
                        "TABLE": {"Ref": "Table"},
                    }
                }
            },
        },
    },
    "Outputs": {
        "ApiUrl": {"Value": {"Fn::Sub": "https://${Api}.example"}},
        "TableName": {"Value": {"Ref": "Table"}},
    },
}


def test_strip_removes_uncreatable_types_and_every_reference_to_them() -> None:
    stripped = emulator.strip_unsupported(
        json.loads(json.dumps(SAMPLE)), ["AWS::DynamoDB::Table", "AWS::Lambda::Function"]
    )
    assert stripped.removed == {"Api": "AWS::ApiGatewayV2::Api"}
    assert stripped.dropped_outputs == ["ApiUrl"]
    assert set(stripped.template["Outputs"]) == {"TableName"}
    fn = stripped.template["Resources"]["Fn"]
    assert fn["DependsOn"] == ["Table"]
    variables = fn["Properties"]["Environment"]["Variables"]
    assert variables["API"] == "emulator-skipped:Api"
    assert variables["ARN"] == "emulator-skipped:Api.ApiEndpoint"
    assert variables["PUBLIC_URL"] == {
        "Fn::Sub": "https://emulator-skipped:Api.execute-api/emulator-skipped:Api.Arn"
    }
    assert variables["TABLE"] == {"Ref": "Table"}
    assert "emulator-skipped" not in json.dumps(stripped.template["Outputs"])


@pytest.mark.parametrize(("retain", "policy"), [("true", "Retain"), ("false", "Delete")])
def test_language_extension_policies_are_resolved(retain: str, policy: str) -> None:
    template = emulator.resolve_policies(json.loads(json.dumps(SAMPLE)), {"RetainData": retain})
    assert template["Resources"]["Table"]["DeletionPolicy"] == policy


def test_template_retains_prod_data_only() -> None:
    for env, expected in (("prod", "true"), ("dev", "false"), ("pr-7", "false")):
        params = environments.template_parameters(
            env, mqtt_image_uri=digest_uri(env), yoto_client_id="c"
        )
        assert params["RetainData"] == expected


NOW = datetime(2026, 11, 25, 12, tzinfo=UTC)


def _summary(name: str, hours: float, status: str = "CREATE_COMPLETE") -> dict[str, object]:
    return {"StackName": name, "CreationTime": NOW - timedelta(hours=hours), "StackStatus": status}


def test_stale_detection_by_age_and_closed_pull_request() -> None:
    summaries = [
        _summary("yoto-smart-stream-prod", 9000),
        _summary("yoto-smart-stream-dev", 9000),
        _summary("yoto-smart-stream-network", 9000),
        _summary("someone-else-pr-1", 9000),
        _summary("yoto-smart-stream-pr-1", 80),
        _summary("yoto-smart-stream-pr-2", 2),
        _summary("yoto-smart-stream-pr-3", 2),
        _summary("yoto-smart-stream-pr-4", 100, status="DELETE_COMPLETE"),
    ]
    stacks = stale.pr_stacks(summaries)
    assert [s.env for s in stacks] == ["pr-1", "pr-2", "pr-3"]
    by_age = stale.stale_envs(stacks, now=NOW, max_age=timedelta(hours=72)).stale
    assert [(s.env, s.reason) for s in by_age] == [
        ("pr-1", "last deployed 80.0 h ago (limit 72 h)")
    ]
    closed = stale.stale_envs(
        stacks, now=NOW, max_age=timedelta(hours=72), pr_is_open=lambda n: n != 3
    ).stale
    assert [s.env for s in closed] == ["pr-1", "pr-3"]
    assert closed[1].reason == "pull request #3 is closed"
    with pytest.raises(ValueError, match="positive"):
        stale.stale_envs(stacks, now=NOW, max_age=timedelta(0))


def test_stale_age_counts_from_the_last_update_cloudformation_reports() -> None:
    redeployed = {
        **_summary("yoto-smart-stream-pr-5", 500),
        "LastUpdatedTime": NOW - timedelta(hours=1),
    }
    stacks = stale.pr_stacks([redeployed, _summary("yoto-smart-stream-pr-6", 500)])
    scan = stale.stale_envs(stacks, now=NOW, max_age=timedelta(hours=72))
    assert [s.env for s in scan.stale] == ["pr-6"]


def test_pull_request_state_comes_from_the_github_api() -> None:
    seen: list[httpx.Request] = []

    def github(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        number = int(request.url.path.rsplit("/", 1)[1])
        return httpx.Response(200, json={"state": "open" if number == 5 else "closed"})

    is_open = stale.github_pr_state(
        "tok", "o/r", api_base="https://gh.test", transport=httpx.MockTransport(github)
    )
    assert is_open(5) is True
    assert is_open(6) is False
    assert seen[0].url.path == "/repos/o/r/pulls/5"
    assert seen[0].headers["authorization"] == "Bearer tok"
    with pytest.raises(ValueError, match="OWNER/NAME"):
        stale.github_pr_state("tok", "not-a-repo")


class FakeApi:
    """An HTTP API double for the smoke test's failure reporting (not our own code)."""

    def __init__(self, *, cold_failures: int = 0, ready_status: int = 200) -> None:
        self.cold_failures = cold_failures
        self.ready_status = ready_status
        self.calls: list[str] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.calls.append(request.url.path)
        if request.url.path.endswith("/api/health"):
            if self.cold_failures:
                self.cold_failures -= 1
                raise httpx.ConnectError("cold start", request=request)
            return httpx.Response(200, json={"status": "ok", "environment": "pr-1"})
        if request.url.path.endswith("/api/ready"):
            return httpx.Response(self.ready_status, json={"status": "x", "checks": {"s3": "down"}})
        return httpx.Response(404)


def test_smoke_retries_a_cold_start_then_names_the_failed_check() -> None:
    api = FakeApi(cold_failures=2, ready_status=503)
    report = smoke.run_smoke(
        "http://api.test/pr-1",
        username="admin",
        password="pw",
        cold_start_budget_s=10,
        transport=httpx.MockTransport(api),
    )
    assert not report.ok
    assert [c.name for c in report.checks] == ["health", "ready"]
    assert report.checks[0].ok
    failed = report.failed()
    assert failed is not None
    assert failed.name == "ready"
    assert "HTTP 503" in failed.detail
    assert "Smoke test FAILED at 'ready'." in report.render()
    assert api.calls.count("/pr-1/api/health") == 3


def test_smoke_gives_up_after_the_cold_start_budget() -> None:
    api = FakeApi(cold_failures=10_000)
    report = smoke.run_smoke(
        "http://api.test",
        username="admin",
        password="pw",
        cold_start_budget_s=0.5,
        transport=httpx.MockTransport(api),
    )
    assert [(c.name, c.ok) for c in report.checks] == [("health", False)]


def test_api_gateway_v2_event_from_a_request() -> None:
    event = build_event(
        "POST",
        "/pr-42/api/user/login?next=%2Fhome",
        [("Host", "127.0.0.1:9"), ("Cookie", "a=1; b=2"), ("Content-Type", "application/json")],
        b'{"username":"admin"}',
        "pr-42",
    )
    assert event["version"] == "2.0"
    assert event["rawPath"] == "/pr-42/api/user/login"
    assert event["requestContext"]["stage"] == "pr-42"
    assert event["requestContext"]["http"]["method"] == "POST"
    assert event["cookies"] == ["a=1", "b=2"]
    assert event["queryStringParameters"] == {"next": "/home"}
    assert event["body"] == '{"username":"admin"}'
    assert event["isBase64Encoded"] is False
    binary = build_event("PUT", "/x", [("Content-Type", "audio/mpeg")], b"\xff\x00", "$default")
    assert binary["isBase64Encoded"] is True
    assert binary["body"] == "/wA="


def test_oci_manifest_digest_is_verified(tmp_path: Path) -> None:
    tarball = tmp_path / "image.tar"
    digest = build_oci_tarball(REPO_ROOT / "mqtt", tarball)
    manifest, media_type, found = images.oci_manifest(tarball)
    assert found == digest
    assert media_type == "application/vnd.oci.image.manifest.v1+json"
    assert json.loads(manifest)["layers"]
    tampered = tmp_path / "tampered.tar"
    with tarfile.open(tarball) as src, tarfile.open(tampered, "w") as dst:
        for member in src.getmembers():
            data = src.extractfile(member)
            body = data.read() if data else b""
            if member.name == f"blobs/sha256/{digest.split(':')[1]}":
                body = body.replace(b'"schemaVersion": 2', b'"schemaVersion": 3')
            member.size = len(body)
            dst.addfile(member, io.BytesIO(body))
    with pytest.raises(ValueError, match="does not match its digest"):
        images.oci_manifest(tampered)


def test_package_digest_follows_exactly_the_build_inputs(tmp_path: Path) -> None:
    for name in ("pyproject.toml", "uv.lock", "yoto_smart_stream/app.py", "tests/test_x.py"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(name)
    first = packaging.inputs_digest(tmp_path)
    (tmp_path / "tests" / "test_x.py").write_text("changed")
    (tmp_path / "yoto_smart_stream" / "__pycache__").mkdir()
    (tmp_path / "yoto_smart_stream" / "__pycache__" / "app.cpython-313.pyc").write_bytes(b"x")
    assert packaging.inputs_digest(tmp_path) == first
    (tmp_path / "yoto_smart_stream" / "app.py").write_text("changed")
    assert packaging.inputs_digest(tmp_path) != first


# Imported by rich (tracebacks) and OpenTelemetry (process resources) only when installed;
# sitecustomize is the interpreter's own start-up hook (Debian's python3 ships one).
OPTIONAL_IMPORTS = ("click", "psutil", "sitecustomize")


def test_the_dagger_layer_imports_only_what_the_module_runtime_installs() -> None:
    # The runtime installs only ci/uv.lock (dagger-io and its dependencies); every module the
    # Dagger layer loads must come from the standard library, our package, or that lock.
    code = (
        "import importlib.metadata as m, json, sys, yoto_smart_stream_ci.main\n"
        "dists = m.packages_distributions()\n"
        "top = {n.split('.')[0] for n in sys.modules} - set(sys.stdlib_module_names)\n"
        "print(json.dumps({t: dists.get(t, []) for t in sorted(top)}))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        env={"PYTHONPATH": str(CI_SRC), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        check=True,
    )
    loaded: dict[str, list[str]] = json.loads(result.stdout)
    lock = tomllib.loads((REPO_ROOT / "ci" / "uv.lock").read_text())
    locked = {p["name"] for p in lock["package"]}
    outside = {
        module: dists
        for module, dists in loaded.items()
        if not module.startswith("_")
        and module not in ("yoto_smart_stream_ci", *OPTIONAL_IMPORTS)
        and not any(d.lower().replace("_", "-") in locked for d in dists)
    }
    assert outside == {}
    assert "dagger" in loaded


def test_mypy_strict_passes_on_ci_against_the_pinned_sdk() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "mypy", "--config-file", "ci/pyproject.toml", "ci/src"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_only_prod_and_dev_roll_back() -> None:
    # A pr-N env keeps the failed release in place: the pull request is what needs fixing.
    assert release.rolls_back("prod")
    assert release.rolls_back("dev")
    assert not release.rolls_back("pr-42")


def test_sam_output_is_shown_as_it_happens_without_its_boilerplate() -> None:
    # A child that prints, waits, then prints SAM's hint: the first line must reach our output
    # while the child still runs, and the hint never.
    code = (
        "import sys; sys.path.insert(0, 'ci/src')\n"
        "from yoto_smart_stream_ci import deploy\n"
        "deploy.run([sys.executable, '-u', '-c', "
        "\"import time; print('Uploading to pr-42/abc 100%'); time.sleep(3); "
        "print('Execute the following command to deploy the packaged template'); "
        "print('sam deploy --template-file x.yaml --stack-name <YOUR STACK NAME>'); print('done')\"])\n"
    )
    child = subprocess.Popen(
        [sys.executable, "-u", "-c", code], cwd=REPO_ROOT, stdout=subprocess.PIPE, text=True
    )
    assert child.stdout is not None
    first = child.stdout.readline()
    assert first.startswith("Uploading to pr-42/abc")
    assert child.poll() is None, "the first line arrived only after the command ended"
    rest = child.stdout.read()
    assert child.wait(30) == 0
    assert "Execute the following command" not in rest
    assert "<YOUR STACK NAME>" not in rest
    assert rest.strip() == "done"


def test_the_emulators_handler_gets_the_task_definitions_environment() -> None:
    """The emulator runs the handler image itself (moto's ECS runs no task): with the same
    variables the template gives the task, and the same health check the image declares."""
    from tests.support.sam_template import substitute
    from tests.support.template import load_template
    from yoto_smart_stream_ci import mqtt_health

    template = load_template(REPO_ROOT / "infrastructure" / "template.yaml")
    (container,) = template["Resources"]["MqttTaskDefinition"]["Properties"]["ContainerDefinitions"]
    assert container["Name"] == mqtt_health.CONTAINER_NAME
    parameters = environments.template_parameters(
        "dev",
        mqtt_image_uri=f"1.dkr.ecr.eu-west-2.amazonaws.com/{environments.ecr_repository('dev')}"
        "@sha256:" + "0" * 64,
        yoto_client_id="client",
        git_commit="abc",
    )
    given = mqtt_health.task_environment("dev", parameters)
    known = {**parameters, "Table": environments.table_name("dev")}
    resolved = {
        e["Name"]: known[e["Value"]["Ref"]]
        if "Ref" in e["Value"]
        else substitute(e["Value"], known)
        for e in container["Environment"]
    }
    assert given == resolved
    assert container["HealthCheck"]["Command"][1:] == ["python", "-m", "yoto_mqtt.healthcheck"]
    dockerfile = (REPO_ROOT / "mqtt" / "Dockerfile").read_text()
    assert 'CMD ["python", "-m", "yoto_mqtt.healthcheck"]' in dockerfile
