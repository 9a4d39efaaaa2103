"""Bad input is refused before anything talks to AWS, in the core CLI and in the Dagger layer."""

from __future__ import annotations

from typing import Any, cast

import anyio
import pytest

from tests.support.listener import counting_listener
from yoto_smart_stream_ci import cli, contract, teardown
from yoto_smart_stream_ci.main import YotoSmartStream

BAD_NAMES = [
    "PR-1",
    "pr-",
    "pr-01x",
    "prod;rm",
    "../prod",
    "",
    "pr-" + "1" * 40,
    "d" * 5000,
    "pr-0",
    "dev ",
    "$(whoami)",
]
COMMANDS = [
    ["deploy", "--build-dir", "b", "--image-uri", "r@sha256:" + "a" * 64, "--env"],
    ["plan", "--build-dir", "b", "--image-uri", "r@sha256:" + "a" * 64, "--env"],
    ["smoke", "--env"],
    ["teardown", "--env"],
    ["register-image", "--oci-tarball", "x.tar", "--env"],
    ["smoke-test", "--env"],
    ["ecr-login", "--password-file", "password", "--env"],
]


@pytest.fixture
def aws_listener(monkeypatch: pytest.MonkeyPatch) -> Any:
    with counting_listener() as counter:
        monkeypatch.setenv("AWS_ENDPOINT_URL", counter.url)
        monkeypatch.setenv("YOTO_PIPELINE_EMULATOR", "1")
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
        yield counter


@pytest.mark.parametrize("name", BAD_NAMES)
@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: c[0])
def test_cli_rejects_bad_env_before_any_aws_call(
    name: str, command: list[str], aws_listener: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main([*command, name]) == cli.EXIT_USAGE
    err = capsys.readouterr().err
    assert "environment name" in err
    assert len(err.strip().splitlines()) == 1, "one sentence, no traceback"
    assert aws_listener.count == 0


@pytest.mark.parametrize("name", BAD_NAMES)
@pytest.mark.parametrize(
    "function",
    [
        "deploy",
        "plan",
        "teardown",
        "publish_image",
        "smoke_test",
        "preview",
        "integration_test",
        "environment_url",
        "releases",
        "rollback",
    ],
)
def test_dagger_layer_rejects_bad_env_before_building_anything(name: str, function: str) -> None:
    extra: dict[str, dict[str, Any]] = {"preview": {"emulator": None}}
    # No engine here: a function that got past validation would fail on its first API call
    # with a different error, so the exception type proves where it stopped.
    module = YotoSmartStream(source=cast(Any, None))
    with pytest.raises(contract.RequestError, match="environment name"):
        anyio.run(lambda: getattr(module, function)(env=name, **extra.get(function, {})))


def test_teardown_of_prod_is_refused_without_force(
    aws_listener: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["teardown", "--env", "prod"]) == cli.EXIT_USAGE
    assert "Refusing to tear down prod" in capsys.readouterr().err
    assert aws_listener.count == 0
    with pytest.raises(teardown.TeardownRefused):
        teardown.check_allowed("prod", force=False)
    assert teardown.check_allowed("prod", force=True) == "prod"
    assert teardown.check_allowed("pr-42", force=False) == "pr-42"


def test_dagger_teardown_of_prod_is_refused_without_force() -> None:
    module = YotoSmartStream(source=cast(Any, None))
    with pytest.raises(ValueError, match="Refusing to tear down prod"):
        anyio.run(lambda: module.teardown(env="prod"))


def test_smoke_needs_exactly_one_target() -> None:
    module = YotoSmartStream(source=cast(Any, None))
    with pytest.raises(ValueError, match="exactly one of --env or --url"):
        anyio.run(lambda: module.smoke_test())
    with pytest.raises(ValueError, match="exactly one of --env or --url"):
        anyio.run(lambda: module.smoke_test(env="pr-1", url="http://x"))


def test_half_credentials_are_refused() -> None:
    module = YotoSmartStream(source=cast(Any, None))
    with pytest.raises(ValueError, match="both --aws-access-key-id and --aws-secret-access-key"):
        anyio.run(lambda: module.releases(env="dev", aws_access_key_id=cast(Any, object())))


def test_no_credentials_and_no_emulator_is_a_sentence(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for name in ("AWS_ENDPOINT_URL", "YOTO_PIPELINE_EMULATOR", "AWS_ACCESS_KEY_ID"):
        monkeypatch.delenv(name, raising=False)
    assert cli.main(["teardown", "--env", "pr-3"]) == cli.EXIT_USAGE
    assert "No AWS credentials" in capsys.readouterr().err
