"""The one typed contract between the Dagger layer and the core (ci/.../contract.py).

A request is built once by a pure builder of the Dagger layer, serialised once into the core
command's argv, and parsed and validated once by the core; the host's flags come from the same
fields. Engine values (``Container.publish``'s reference) are parsed in every documented form.
"""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from typing import Any, cast

import pytest

from tests.support.dagger_module import surface
from tests.support.pipeline_cli import CI_SRC, REPO_ROOT
from yoto_smart_stream_ci import cli, contract, environments, main, pipeline

HEX = "0123456789abcdef" * 4
KEPT = main.Account(emulator="http://moto:5000")
# A kept account as `_aws` makes it from `--emulator tcp://localhost:5000`.
HOST_SERVICE = main.Account(emulator="http://moto:5000", from_docker="http://127.0.0.1:5000")
REGISTRY = "123456789012.dkr.ecr.eu-west-2.amazonaws.com"
DEV_REPOSITORY = f"{REGISTRY}/{environments.ecr_repository('dev')}"
# The forms Container.publish documents: the tag survives (reference.WithDigest on a named
# reference), or there is no tag when the address had none.
TAGGED = f"{DEV_REPOSITORY}:dev-0123456789ab@sha256:{HEX}"
UNTAGGED = f"{DEV_REPOSITORY}@sha256:{HEX}"


@pytest.mark.parametrize(
    ("published", "repository", "tag"),
    [
        (TAGGED, DEV_REPOSITORY, "dev-0123456789ab"),
        (UNTAGGED, DEV_REPOSITORY, ""),
        (f"127.0.0.1:5000/yoto-smart-stream-mqtt-dev:dev@sha256:{HEX}", "127.0.0.1:5000/yoto-smart-stream-mqtt-dev", "dev"),
        (f"localhost:5000/a/b@sha256:{HEX}\n", "localhost:5000/a/b", ""),
    ],
)  # fmt: skip
def test_every_documented_publish_form_is_parsed(published: str, repository: str, tag: str) -> None:
    ref = contract.parse_image_reference(published)
    assert (ref.repository, ref.tag, ref.digest) == (repository, tag, f"sha256:{HEX}")
    assert ref.pinned == f"{repository}@sha256:{HEX}"


@pytest.mark.parametrize(
    "bad",
    [
        f"{DEV_REPOSITORY}:dev",  # a tag can move: no digest
        f"{DEV_REPOSITORY}@sha256:{HEX[:63]}",
        f"{DEV_REPOSITORY}@sha256:{HEX.upper()}",
        f"{DEV_REPOSITORY}@md5:{HEX}",
        f"yoto-smart-stream-mqtt-dev@sha256:{HEX}",  # no registry
        f"{DEV_REPOSITORY}:bad tag@sha256:{HEX}",
        f"{DEV_REPOSITORY}:-x@sha256:{HEX}",
        "",
    ],
)
def test_malformed_references_are_refused_with_a_sentence(bad: str) -> None:
    with pytest.raises(contract.RequestError) as error:
        contract.parse_image_reference(bad)
    assert str(error.value).endswith(".")
    assert "\n" not in str(error.value)


def test_a_tagged_publish_result_reaches_the_template_pinned_by_digest() -> None:
    # Issue 9's reproducer: template_parameters refused the `repo:tag@sha256:` publish returns,
    # so every real deploy stopped at the image step.
    request = contract.DeployRequest(env="dev", build_dir="b", image_uri=TAGGED)
    assert request.image_uri == UNTAGGED
    params = pipeline._template_parameters(request, request.image_uri)
    assert params["MqttImageUri"] == UNTAGGED


def deploy_args(**overrides: Any) -> dict[str, Any]:
    args: dict[str, Any] = {
        "env": "pr-42",
        "no_cloudfront": True,
        "yoto_client_id": "client-123",
        "github_repository": "owner/name",
        "commit": "0123456789abcdef",
        "account": main.CALL_ACCOUNT,
        "gate_seconds": {"lint": 1.5, "test": 20},
    }
    return {**args, **overrides}


def core_request(argv: list[str]) -> contract.Request:
    """What the core makes of a container's argv (``python -m yoto_smart_stream_ci ...``)."""
    assert argv[:3] == ["python", "-m", "yoto_smart_stream_ci"]
    return cli.request_from_args(cli.build_parser().parse_args(argv[3:]))


BUILDERS: list[tuple[str, Any]] = [
    ("deploy", lambda: main.deploy_request(**deploy_args())),
    ("plan", lambda: main.plan_request(env="dev", no_cloudfront=True, yoto_client_id="c", commit="abc", account=main.REAL_ACCOUNT)),
    ("deploy", lambda: main.deploy_request(**deploy_args(env="prod", no_cloudfront=False, alarm_email="ops@example.com"))),
    ("deploy", lambda: main.deploy_request(**deploy_args(env="dev", account=HOST_SERVICE, docker_load=True))),
    ("smoke", lambda: main.smoke_request(env="dev", url=None, account=HOST_SERVICE)),
    ("rollback", lambda: main.rollback_request(env="dev", to="", lock_wait_seconds=60, account=HOST_SERVICE)),
    ("plan", lambda: main.plan_request(env="prod", no_cloudfront=False, yoto_client_id="c", commit="abc", account=main.REAL_ACCOUNT, alarm_email="o+x@ex.co.uk")),
    ("integration-test", lambda: main.integration_test_request(env="dev", account=main.CALL_ACCOUNT)),
    ("environment-url", lambda: main.environment_url_request(env="pr-9", account=main.REAL_ACCOUNT)),
    ("smoke", lambda: main.smoke_request(env="dev", url=None, account=main.CALL_ACCOUNT)),
    ("smoke", lambda: main.smoke_request(env=None, url="https://example.com/dev", account=main.REAL_ACCOUNT)),
    ("teardown", lambda: main.teardown_request(env="prod", force=True, github_repository="", account=main.REAL_ACCOUNT)),
    ("cleanup-stale", lambda: main.cleanup_stale_request(max_age_hours=72, github_repository="o/n", account=KEPT)),
    ("releases", lambda: main.releases_request(env="dev", account=main.CALL_ACCOUNT)),
    ("rollback", lambda: main.rollback_request(env="prod", to="1764000000-abc123", lock_wait_seconds=60, account=main.REAL_ACCOUNT)),
    ("rollback", lambda: main.rollback_request(env="dev", to="", lock_wait_seconds=1800, account=KEPT)),
    ("ecr-login", lambda: main.ecr_login_request(env="pr-7")),
    ("register-image", lambda: main.register_image_request(env="pr-7", commit="abc", account=KEPT)),
    ("preview", lambda: main.preview_request(env="pr-7", account=KEPT)),
    ("emulator", main.emulator_request),
    ("package", lambda: contract.PackageRequest(build_dir=main.BUILD_DIR)),
    ("lint", contract.LintRequest),
]  # fmt: skip


@pytest.mark.parametrize(("command", "build"), BUILDERS, ids=[c for c, _ in BUILDERS])
def test_what_the_dagger_layer_builds_is_what_the_core_parses(command: str, build: Any) -> None:
    request = build()
    argv = contract.core_command(request)
    assert argv[3] == command
    assert argv[4:5] == [contract.REQUEST_FLAG]
    assert len(argv) == 6, "one serialised request, nothing else on the command line"
    assert core_request(argv) == request


def test_the_deploy_request_carries_every_dagger_argument() -> None:
    request = main.deploy_request(**deploy_args())
    assert json.loads(contract.core_command(request)[5]) == {
        "command": "deploy",
        "env": "pr-42",
        "build_dir": main.BUILD_DIR,
        "image_uri": "",
        "oci_tarball": main.OCI_TARBALL,
        "commit": "0123456789abcdef",
        "yoto_client_id": "client-123",
        "no_cloudfront": True,
        "alarm_email": "",
        "dashboard_dir": main.DASHBOARD_DIR,
        "github_repository": "owner/name",
        "gate_seconds": {"lint": 1.5, "test": 20},
        "lock_wait_seconds": 1800.0,
        "emulator": "http://moto:5000",
        "emulator_ends_with_call": True,
        "emulator_from_docker": "",
        "docker_load": False,
    }


def test_a_real_deploy_request_is_not_run_before_its_image_is_published() -> None:
    pending = main.deploy_request(**deploy_args(account=main.REAL_ACCOUNT))
    with pytest.raises(contract.RequestError, match="--image-uri"):
        contract.core_command(pending)
    published = dataclasses.replace(pending, image_uri=TAGGED.replace("dev", "preview", 1))
    assert contract.core_command(published)
    with pytest.raises(contract.RequestError, match="not pinned by digest"):
        dataclasses.replace(pending, image_uri=f"{DEV_REPOSITORY}:latest")


def test_plan_takes_every_stack_changing_field_deploy_takes(dagger_module: Any) -> None:
    functions = surface(dagger_module)["functions"]
    stack_fields = {f.name for f in dataclasses.fields(contract.StackChange)}
    # Fields the Dagger layer fills in itself (container paths, the image it builds).
    engine_filled = {"env", "build_dir", "image_uri", "oci_tarball", "emulator_ends_with_call"}
    flags = {name.replace("_", "-") for name in stack_fields - engine_filled}
    assert flags <= set(functions["plan"]["args"])
    assert flags <= set(functions["deploy"]["args"])
    # And the same values give the same stack parameters.
    kwargs: dict[str, Any] = {
        "env": "dev",
        "no_cloudfront": True,
        "yoto_client_id": "c",
        "commit": "abc",
    }
    plan = main.plan_request(**kwargs, account=KEPT)
    deploy = main.deploy_request(**kwargs, github_repository="", account=KEPT)
    assert pipeline._template_parameters(plan, UNTAGGED) == pipeline._template_parameters(
        deploy, UNTAGGED
    )


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["deploy", "--request", "{"], "not valid JSON"),
        (["deploy", "--request", "[]"], "JSON object"),
        (["deploy", "--request", '{"env": "dev"}'], "lacks build_dir"),
        (["deploy", "--request", '{"env": "dev", "build_dir": "b", "oci_tarball": "x", "rm": 1}'], "unknown fields: rm"),
        (["deploy", "--request", '{"env": 7, "build_dir": "b", "oci_tarball": "x"}'], "'env' has the wrong type"),
        (["deploy", "--request", '{"command": "teardown", "env": "dev"}'], "another command"),
        (["deploy", "--env", "dev", "--build-dir", "b"], "exactly one of --image-uri"),
        (["deploy", "--env", "dev", "--build-dir", "b", "--oci-tarball", "x", "--commit", "a b"], "Invalid commit"),
        (["deploy", "--env", "prod", "--build-dir", "b", "--oci-tarball", "x", "--no-cloudfront"], "CloudFront cannot be turned off"),
        (["deploy", "--env", "dev", "--build-dir", "b", "--oci-tarball", "x", "--github-repository", "x"], "OWNER/NAME"),
        (["deploy", "--env", "dev", "--request", "{}"], "either --request or flags"),
        (["plan", "--env", "dev", "--build-dir", "b", "--image-uri", f"{DEV_REPOSITORY}:dev"], "not pinned by digest"),
        (["smoke", "--url", "file:///etc/passwd"], "Invalid URL"),
        (["cleanup-stale", "--max-age-hours", "0"], "positive number"),
        (["cleanup-stale", "--max-age-hours", "nan"], "positive number"),
        (["teardown", "--env", "prod"], "Refusing to tear down prod"),
        (["deploy", "--env", "prod", "--build-dir", "b", "--oci-tarball", "x", "--alarm-email", "ops"], "Invalid alarm e-mail"),
        (["deploy", "--env", "prod", "--build-dir", "b", "--oci-tarball", "x", "--alarm-email", "a@b.c,d@e.f"], "Invalid alarm e-mail"),
        (["plan", "--env", "dev", "--build-dir", "b", "--oci-tarball", "x", "--alarm-email", "ops@example.com"], "only prod has"),
        (["integration-test", "--env", "staging"], "Invalid environment name"),
        (["environment-url"], "lacks env"),
        (["smoke", "--env", "dev", "--emulator-from-docker", "http://127.0.0.1:5000"], "needs --emulator"),
        (["deploy", "--env", "dev", "--build-dir", "b", "--image-uri", UNTAGGED, "--docker-load"], "pulled by ECS"),
    ],
)  # fmt: skip
def test_bad_requests_exit_2_with_one_sentence(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(argv) == cli.EXIT_USAGE
    err = capsys.readouterr().err.strip()
    assert message in err
    assert len(err.splitlines()) == 1


@pytest.mark.parametrize("command", sorted(contract.REQUEST_TYPES))
def test_host_flags_are_generated_from_the_request_fields(command: str) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "yoto_smart_stream_ci", command, "--help"],
        cwd=REPO_ROOT,
        env={"PYTHONPATH": str(CI_SRC), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        check=True,
    )
    cls = contract.REQUEST_TYPES[command]
    for f in dataclasses.fields(cls):
        flag = "--" + f.name.replace("_", "-")
        assert (flag in result.stdout) is f.metadata["host"], flag


def test_the_alarm_email_reaches_the_stack_parameters() -> None:
    # The template had AlarmEmail, but nothing passed it: the SNS topic had no subscriber.
    request = main.deploy_request(
        **deploy_args(env="prod", no_cloudfront=False, alarm_email="ops@example.com")
    )
    image = f"{REGISTRY}/{environments.ecr_repository('prod')}@sha256:{HEX}"
    assert pipeline._template_parameters(request, image)["AlarmEmail"] == "ops@example.com"
    args = cli.build_parser().parse_args(
        ["deploy", "--env", "prod", "--build-dir", "b", "--oci-tarball", "x",
         "--alarm-email", "ops@example.com"]
    )  # fmt: skip
    host = cli.request_from_args(args)
    assert isinstance(host, contract.DeployRequest)
    assert pipeline._template_parameters(host, image)["AlarmEmail"] == "ops@example.com"


def test_the_smoke_test_alias_is_the_smoke_command() -> None:
    args = cli.build_parser().parse_args(["smoke-test", "--env", "pr-3"])
    assert cli.request_from_args(args) == contract.SmokeRequest(env="pr-3")


def test_requests_are_immutable_and_compare_by_value() -> None:
    request = cast(
        contract.TeardownRequest,
        main.teardown_request(
            env="pr-1", force=False, github_repository="", account=main.REAL_ACCOUNT
        ),
    )
    with pytest.raises(dataclasses.FrozenInstanceError):
        request.env = "prod"  # type: ignore[misc]
    assert request == contract.TeardownRequest(env="pr-1")
