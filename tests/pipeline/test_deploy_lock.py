"""The per-environment deploy lock against moto: a deploy waits for, or refuses, a stack that
another operation holds, and cleanup-stale leaves such an env alone.

moto creates stacks synchronously, with one exception this test uses to hold a stack in
``CREATE_IN_PROGRESS``: a custom resource stays in progress until its Lambda answers the
pre-signed response URL, and the Lambda here never does. moto never reaches
``ROLLBACK_COMPLETE`` or ``DELETE_FAILED`` itself (a failing resource makes the call itself
fail), so those tests set the status in the in-process moto server's own stack model and let
the deploy recover through the API. moto has no ``ContinueUpdateRollback``: for
``UPDATE_ROLLBACK_FAILED`` only the choice (``recovery_for``) is covered, and the call it makes
is CloudFormation's documented one.
"""

from __future__ import annotations

import io
import threading
import time
import zipfile
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.support.env_stacks import create_env_stack, live_stacks
from tests.support.moto_server import TEST_ACCOUNT_ID, TEST_REGION
from tests.support.pipeline_cli import PipelineRunner
from tests.support.residue import client
from yoto_smart_stream_ci import pipeline, stack_lock
from yoto_smart_stream_ci.aws import AwsTarget
from yoto_smart_stream_ci.stack_lock import Recovery

HOLDER = "deploy-lock-holder"


@pytest.fixture
def holder(endpoint: str) -> Iterator[str]:
    """A Lambda that never answers a custom resource: its stack stays CREATE_IN_PROGRESS."""
    iam = client(endpoint, "iam")
    role = iam.create_role(RoleName=HOLDER, AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    code = io.BytesIO()
    with zipfile.ZipFile(code, "w") as archive:
        archive.writestr("holder.py", "def handler(event, context):\n    return None\n")
    lam = client(endpoint, "lambda")
    arn = lam.create_function(
        FunctionName=HOLDER,
        Runtime="python3.13",
        Role=role,
        Handler="holder.handler",
        Code={"ZipFile": code.getvalue()},
    )["FunctionArn"]
    yield arn
    lam.delete_function(FunctionName=HOLDER)
    iam.delete_role(RoleName=HOLDER)


def hold_stack(endpoint: str, env: str, holder_arn: str) -> str:
    """An env's stack with an operation in flight, as a deploy in another job leaves it."""
    template = {
        "Resources": {"Hold": {"Type": "Custom::Hold", "Properties": {"ServiceToken": holder_arn}}}
    }
    stack = create_env_stack(endpoint, env, template)
    assert (
        stack_lock.stack_status(client(endpoint, "cloudformation"), stack) == "CREATE_IN_PROGRESS"
    )
    return stack


def test_recovery_follows_the_stack_status() -> None:
    assert stack_lock.recovery_for(None) is Recovery.PROCEED
    assert stack_lock.recovery_for("UPDATE_COMPLETE") is Recovery.PROCEED
    assert stack_lock.recovery_for("UPDATE_ROLLBACK_COMPLETE") is Recovery.PROCEED
    for busy in ("CREATE_IN_PROGRESS", "UPDATE_IN_PROGRESS", "UPDATE_ROLLBACK_IN_PROGRESS",
                 "UPDATE_COMPLETE_CLEANUP_IN_PROGRESS", "DELETE_IN_PROGRESS"):  # fmt: skip
        assert stack_lock.recovery_for(busy) is Recovery.WAIT
    assert stack_lock.recovery_for("ROLLBACK_COMPLETE") is Recovery.RECREATE
    assert stack_lock.recovery_for("UPDATE_ROLLBACK_FAILED") is Recovery.CONTINUE_ROLLBACK
    assert stack_lock.recovery_for("DELETE_FAILED") is Recovery.REFUSE


def test_a_second_deploy_waits_then_refuses_past_the_bound(
    endpoint: str, target: AwsTarget, holder: str, capsys: pytest.CaptureFixture[str]
) -> None:
    stack = hold_stack(endpoint, "pr-931", holder)

    with pytest.raises(stack_lock.StackLocked) as refused:
        stack_lock.acquire(target, "pr-931", wait_seconds=1.0, poll_seconds=0.3)
    assert str(refused.value).startswith(f"{stack} is still CREATE_IN_PROGRESS after ")
    assert "raise --lock-wait-seconds" in str(refused.value)
    out = capsys.readouterr().out
    assert f"{stack} is CREATE_IN_PROGRESS: waiting for the operation in progress" in out

    # The other operation ends (here: the stack goes away) while this deploy waits.
    cfn = client(endpoint, "cloudformation")
    ender = threading.Timer(1.0, cfn.delete_stack, kwargs={"StackName": stack})
    ender.start()
    started = time.monotonic()
    assert stack_lock.acquire(target, "pr-931", wait_seconds=60, poll_seconds=0.3) is None
    ender.join()
    assert 0.9 < time.monotonic() - started < 30
    assert "waiting for the operation in progress" in capsys.readouterr().out


def test_deploy_onto_a_held_stack_changes_nothing_and_says_so(
    endpoint: str, holder: str, tmp_path: Path
) -> None:
    stack = hold_stack(endpoint, "pr-933", holder)
    runner = PipelineRunner(endpoint)

    refused = runner.run(
        "deploy", "--env", "pr-933", "--build-dir", str(tmp_path),
        "--oci-tarball", str(tmp_path / "never-read.tar"), "--lock-wait-seconds", "1",
    )  # fmt: skip

    assert refused.returncode == 1, refused.stdout + refused.stderr
    assert f"{stack} is still CREATE_IN_PROGRESS after" in refused.stderr
    assert "Traceback" not in refused.stderr
    assert "waiting for the operation in progress" in refused.stdout
    cfn = client(endpoint, "cloudformation")
    assert stack_lock.stack_status(cfn, stack) == "CREATE_IN_PROGRESS"
    cfn.delete_stack(StackName=stack)


def test_cleanup_stale_skips_an_env_whose_deploy_is_in_flight(
    endpoint: str, target: AwsTarget, holder: str, capsys: pytest.CaptureFixture[str]
) -> None:
    stack = hold_stack(endpoint, "pr-932", holder)
    much_later = datetime.now(UTC) + timedelta(days=30)

    cleaned = pipeline.run_cleanup_stale(target, max_age_hours=1, now=much_later)

    assert [r.env for r in cleaned.reports if r.env == "pr-932"] == []
    assert live_stacks(endpoint, "pr-932") == [stack]
    assert "Skipped pr-932: its stack is CREATE_IN_PROGRESS (a deploy is in flight)." in (
        capsys.readouterr().out
    )
    client(endpoint, "cloudformation").delete_stack(StackName=stack)


def _settle_as(stack: str, status: str) -> None:
    """Put ``stack`` into a settled ``status`` moto itself never reaches."""
    from moto.cloudformation.models import cloudformation_backends

    stacks = cloudformation_backends[TEST_ACCOUNT_ID][TEST_REGION].stacks.values()
    (model,) = [s for s in stacks if s.name == stack and s.status != "DELETE_COMPLETE"]
    model.status = status


MARKER = {"Resources": {"Topic": {"Type": "AWS::SNS::Topic", "Properties": {}}}}


def test_a_stack_whose_creation_rolled_back_is_deleted_before_the_deploy(
    endpoint: str, target: AwsTarget, capsys: pytest.CaptureFixture[str]
) -> None:
    stack = create_env_stack(endpoint, "pr-934", MARKER)
    _settle_as(stack, "ROLLBACK_COMPLETE")

    assert stack_lock.acquire(target, "pr-934", wait_seconds=5, poll_seconds=0.3) is None

    assert live_stacks(endpoint, "pr-934") == []
    assert capsys.readouterr().out == (
        f"{stack} is ROLLBACK_COMPLETE (its creation failed and was rolled back); "
        "CloudFormation can only delete such a stack: deleting it, then creating it again.\n"
    )


def test_a_stack_only_a_person_can_mend_is_refused_and_kept(
    endpoint: str, target: AwsTarget
) -> None:
    stack = create_env_stack(endpoint, "pr-935", MARKER)
    _settle_as(stack, "DELETE_FAILED")

    with pytest.raises(stack_lock.StackLocked) as refused:
        stack_lock.acquire(target, "pr-935", wait_seconds=5, poll_seconds=0.3)

    assert str(refused.value) == (
        f"{stack} is DELETE_FAILED, which a deploy cannot change: see its events in the "
        "CloudFormation console, then run `teardown --env pr-935` and deploy again."
    )
    assert live_stacks(endpoint, "pr-935") == [stack]
    _settle_as(stack, "CREATE_COMPLETE")
    client(endpoint, "cloudformation").delete_stack(StackName=stack)
