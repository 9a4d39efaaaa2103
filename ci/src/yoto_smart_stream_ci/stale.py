"""Which ``pr-N`` environments are stale: older than a limit, or their pull request is closed."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

import httpx

from yoto_smart_stream_ci import environments
from yoto_smart_stream_ci.github_comments import GITHUB_API

STACK_PREFIX = f"{environments.PROJECT}-"
LIVE_STATUSES_EXCLUDED = {"DELETE_COMPLETE"}


@dataclass(frozen=True)
class StackInfo:
    env: str
    created: datetime


@dataclass(frozen=True)
class StaleEnv:
    env: str
    reason: str


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
        created = summary["CreationTime"]
        if not isinstance(created, datetime):
            raise TypeError(f"{name}: CreationTime is not a datetime")
        found.append(StackInfo(env, created))
    return found


def stale_envs(
    stacks: Iterable[StackInfo],
    *,
    now: datetime,
    max_age: timedelta,
    pr_is_open: Callable[[int], bool] | None = None,
) -> list[StaleEnv]:
    """Decide which environments to tear down (prod and dev are never candidates)."""
    if max_age <= timedelta(0):
        raise ValueError("--max-age-hours must be a positive number of hours.")
    stale: list[StaleEnv] = []
    for stack in stacks:
        age = now - stack.created
        if age > max_age:
            hours = age.total_seconds() / 3600
            stale.append(
                StaleEnv(
                    stack.env, f"{hours:.1f} h old (limit {max_age.total_seconds() / 3600:g} h)"
                )
            )
            continue
        number = environments.pr_number(stack.env)
        if pr_is_open is not None and number is not None and not pr_is_open(number):
            stale.append(StaleEnv(stack.env, f"pull request #{number} is closed"))
    return stale


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
        with httpx.Client(timeout=15.0, transport=transport) as client:
            response = client.get(
                f"{api_base}/repos/{repository}/pulls/{number}",
                headers={
                    "Authorization": f"Bearer {token}",
                    "Accept": "application/vnd.github+json",
                },
            )
        response.raise_for_status()
        return bool(response.json().get("state") == "open")

    return is_open
