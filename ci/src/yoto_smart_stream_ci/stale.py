"""Which ``pr-N`` environments are stale: not deployed for longer than a limit, or PR closed.

Age counts from the environment's last deploy, not from its creation: an open pull request that
was redeployed an hour ago is active, however old its stack is. CloudFormation reports
``LastUpdatedTime`` after an update; the pipeline also records each deploy's start
(``release.record_deploy``), which counts too (and is all the emulator has: moto reports only
``CreationTime``). A pull request whose state GitHub cannot tell (unreachable, HTTP error) is
not torn down for being closed, but age still applies to it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import httpx

from yoto_smart_stream_ci import environments
from yoto_smart_stream_ci.github_comments import GITHUB_API

STACK_PREFIX = f"{environments.PROJECT}-"
LIVE_STATUSES_EXCLUDED = {"DELETE_COMPLETE"}


@dataclass(frozen=True)
class StackInfo:
    env: str
    # CreationTime, or LastUpdatedTime when CloudFormation reports one.
    last_deployed: datetime
    status: str = "CREATE_COMPLETE"


class PullRequestStateUnknown(RuntimeError):
    """GitHub could not say whether a pull request is open; the message is one sentence."""


@dataclass(frozen=True)
class StaleEnv:
    env: str
    reason: str


@dataclass(frozen=True)
class StaleScan:
    stale: list[StaleEnv]
    # One sentence per environment that could not be checked (and so was not torn down).
    unchecked: list[str]
    # One sentence per environment left alone because an operation on its stack is in flight.
    busy: list[str] = field(default_factory=list)


def pr_stacks(summaries: Iterable[dict[str, object]]) -> list[StackInfo]:
    """``pr-N`` stacks of this project from ``list_stacks`` summaries; other stacks ignored."""
    found: list[StackInfo] = []
    for summary in summaries:
        name = str(summary["StackName"])
        if summary.get("StackStatus") in LIVE_STATUSES_EXCLUDED or not name.startswith(
            STACK_PREFIX
        ):
            continue
        env = name.removeprefix(STACK_PREFIX)
        try:
            if environments.env_kind(env) is not environments.EnvKind.PR:
                continue
        except environments.EnvironmentNameError:
            continue
        deployed = summary.get("LastUpdatedTime") or summary["CreationTime"]
        if not isinstance(deployed, datetime):
            raise TypeError(f"{name}: CreationTime is not a datetime")
        found.append(StackInfo(env, deployed, str(summary.get("StackStatus", ""))))
    return found


def with_deploy_records(
    stacks: Iterable[StackInfo], last_deploy: Callable[[str], datetime | None]
) -> list[StackInfo]:
    """Each stack's age from the later of its CloudFormation times and the pipeline's record."""
    updated: list[StackInfo] = []
    for stack in stacks:
        recorded = last_deploy(stack.env)
        if recorded is not None and recorded > stack.last_deployed:
            stack = StackInfo(stack.env, recorded, stack.status)
        updated.append(stack)
    return updated


def stale_envs(
    stacks: Iterable[StackInfo],
    *,
    now: datetime,
    max_age: timedelta,
    pr_is_open: Callable[[int], bool] | None = None,
) -> StaleScan:
    """Decide which environments to tear down (prod and dev are never candidates)."""
    if max_age <= timedelta(0):
        raise ValueError("--max-age-hours must be a positive number of hours.")
    stale: list[StaleEnv] = []
    unchecked: list[str] = []
    busy: list[str] = []
    for stack in stacks:
        if stack.status.endswith("_IN_PROGRESS"):
            busy.append(
                f"Skipped {stack.env}: its stack is {stack.status} (a deploy is in flight)."
            )
            continue
        age = now - stack.last_deployed
        if age > max_age:
            hours = age.total_seconds() / 3600
            limit = max_age.total_seconds() / 3600
            stale.append(
                StaleEnv(stack.env, f"last deployed {hours:.1f} h ago (limit {limit:g} h)")
            )
            continue
        number = environments.pr_number(stack.env)
        if pr_is_open is None or number is None:
            continue
        try:
            if not pr_is_open(number):
                stale.append(StaleEnv(stack.env, f"pull request #{number} is closed"))
        except PullRequestStateUnknown as error:
            unchecked.append(f"Skipped {stack.env}: {error}")
    return StaleScan(stale, unchecked, busy)


def github_pr_state(
    token: str,
    repository: str,
    *,
    api_base: str = GITHUB_API,
    transport: httpx.BaseTransport | None = None,
) -> Callable[[int], bool]:
    """A ``pr_is_open`` lookup against the GitHub REST API."""
    if repository.count("/") != 1:
        raise ValueError(f"--github-repository must be OWNER/NAME, not {repository!r}.")

    def is_open(number: int) -> bool:
        url = f"{api_base}/repos/{repository}/pulls/{number}"
        try:
            with httpx.Client(timeout=15.0, transport=transport) as client:
                response = client.get(
                    url,
                    headers={
                        "Authorization": f"Bearer {token}",
                        "Accept": "application/vnd.github+json",
                    },
                )
        except httpx.HTTPError as error:
            raise PullRequestStateUnknown(
                f"GitHub could not be reached to read the state of pull request #{number} "
                f"({type(error).__name__})."
            ) from None
        if response.status_code != 200:
            raise PullRequestStateUnknown(
                f"GitHub answered HTTP {response.status_code} when asked for the state of "
                f"pull request #{number}."
            )
        try:
            body = response.json()
        except ValueError:
            raise PullRequestStateUnknown(
                f"GitHub's answer about pull request #{number} is not JSON."
            ) from None
        return isinstance(body, dict) and body.get("state") == "open"

    return is_open
