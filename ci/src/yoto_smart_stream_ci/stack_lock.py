"""The per-environment deploy lock: the stack's own status, read before any change.

CloudFormation already refuses a second operation on a stack while one is ``*_IN_PROGRESS``,
so the stack status is the lock (as SST's state lock is its own): a deploy waits, bounded and
saying so, until it settles, and past the bound refuses with one sentence. Two states a stack
cannot be deployed onto are recovered the way CloudFormation documents: ``ROLLBACK_COMPLETE``
(the first creation failed; such a stack can only be deleted, then created again) and
``UPDATE_ROLLBACK_FAILED`` (``ContinueUpdateRollback`` returns it to
``UPDATE_ROLLBACK_COMPLETE``, from which it updates normally). Others that only a person can
resolve (``DELETE_FAILED``, ``ROLLBACK_FAILED``) are refused with what to do.
"""

from __future__ import annotations

import enum
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from yoto_smart_stream_ci import environments
from yoto_smart_stream_ci.aws import AwsTarget

DEFAULT_WAIT_SECONDS = 1800.0
POLL_SECONDS = 10.0
# Stack deletion and rollback continuation: up to an hour, as long operations in AWS take.
RECOVERY_WAIT = {"Delay": 5, "MaxAttempts": 720}


class StackLocked(RuntimeError):
    """The stack cannot be changed now; the message is one sentence saying why and what to do."""


class Recovery(enum.Enum):
    PROCEED = "proceed"
    WAIT = "wait"
    RECREATE = "delete, then create"
    CONTINUE_ROLLBACK = "continue the update rollback, then update"
    REFUSE = "refuse"


@dataclass(frozen=True)
class Repair:
    """How a deploy returns a stack to a state it can change: say so, start, wait."""

    says: str  # printed, with {stack} and {status} filled in
    operation: str  # the CloudFormation client method that starts it
    waiter: str  # the waiter for its end


# The settled statuses a deploy cannot simply change; every other settled status proceeds.
RECOVERY_BY_STATUS: Final[Mapping[str, Recovery]] = {
    "ROLLBACK_COMPLETE": Recovery.RECREATE,
    "UPDATE_ROLLBACK_FAILED": Recovery.CONTINUE_ROLLBACK,
    "DELETE_FAILED": Recovery.REFUSE,
    "ROLLBACK_FAILED": Recovery.REFUSE,
    "IMPORT_ROLLBACK_FAILED": Recovery.REFUSE,
}
REPAIRS: Final[Mapping[Recovery, Repair]] = {
    Recovery.RECREATE: Repair(
        "{stack} is {status} (its creation failed and was rolled back); CloudFormation can "
        "only delete such a stack: deleting it, then creating it again.",
        operation="delete_stack",
        waiter="stack_delete_complete",
    ),
    Recovery.CONTINUE_ROLLBACK: Repair(
        "{stack} is {status}: continuing the update rollback (ContinueUpdateRollback), "
        "then deploying.",
        operation="continue_update_rollback",
        waiter="stack_rollback_complete",
    ),
}


def in_progress(status: str) -> bool:
    return status.endswith("_IN_PROGRESS")


def recovery_for(status: str | None) -> Recovery:
    """What a deploy does before changing a stack in ``status`` (``None``: no stack)."""
    if status is None:
        return Recovery.PROCEED
    if in_progress(status):
        return Recovery.WAIT
    return RECOVERY_BY_STATUS.get(status, Recovery.PROCEED)


def stack_status(cfn: Any, stack: str) -> str | None:
    try:
        stacks = cfn.describe_stacks(StackName=stack)["Stacks"]
    except cfn.exceptions.ClientError as error:
        if "does not exist" in str(error):
            return None
        raise
    return str(stacks[0]["StackStatus"]) if stacks else None


def acquire(
    target: AwsTarget,
    env: str,
    *,
    wait_seconds: float = DEFAULT_WAIT_SECONDS,
    poll_seconds: float = POLL_SECONDS,
) -> str | None:
    """Wait for ``env``'s stack to settle and recover it; return the status a deploy starts from.

    Raises :class:`StackLocked` past ``wait_seconds`` or for a state only a person can resolve.
    """
    cfn = target.client("cloudformation")
    stack = environments.stack_name(env)
    started = time.monotonic()
    while True:
        status = stack_status(cfn, stack)
        recovery = recovery_for(status)
        if recovery is not Recovery.WAIT:
            break
        waited = time.monotonic() - started
        if waited >= wait_seconds:
            raise StackLocked(
                f"{stack} is still {status} after {waited:.0f} s (limit {wait_seconds:g} s): "
                "another operation holds it, so this deploy changes nothing; rerun once it "
                "settles, or raise --lock-wait-seconds."
            )
        print(
            f"{stack} is {status}: waiting for the operation in progress "
            f"({waited:.0f} s of at most {wait_seconds:g} s)",
            flush=True,
        )
        time.sleep(max(0.0, min(poll_seconds, wait_seconds - waited)))
    repair = REPAIRS.get(recovery)
    if repair is not None:
        print(repair.says.format(stack=stack, status=status), flush=True)
        getattr(cfn, repair.operation)(StackName=stack)
        cfn.get_waiter(repair.waiter).wait(StackName=stack, WaiterConfig=RECOVERY_WAIT)
        # After a delete the stack is gone (None): the deploy creates it again.
        return stack_status(cfn, stack)
    if recovery is Recovery.REFUSE:
        raise StackLocked(
            f"{stack} is {status}, which a deploy cannot change: see its events in the "
            f"CloudFormation console, then run `teardown --env {env}` and deploy again."
        )
    return status
