"""cleanup-stale against the emulator: only pr-* stacks past the limit are torn down.

Age counts from the last deploy, and a GitHub that cannot be reached or answers an error skips
the env it could not check (one sentence each, a failed run) without stopping age-based cleanup.
"""

from __future__ import annotations

import socket
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.support.env_stacks import create_env_stack, live_stacks
from tests.support.github_fake import running_fake_github
from tests.support.residue import client
from yoto_smart_stream_ci import contract, deploy, environments, pipeline, release, teardown
from yoto_smart_stream_ci.aws import AwsTarget

REPOSITORY = "example/yoto-smart-stream"
TOKEN = "stale-cleanup-token"


def minimal_stack(env: str) -> dict[str, Any]:
    parameter = {"Type": "String", "Value": "x", "Name": f"{environments.ssm_prefix(env)}/marker"}
    return {"Resources": {"Marker": {"Type": "AWS::SSM::Parameter", "Properties": parameter}}}


def create_stacks(endpoint: str, *envs: str) -> datetime:
    """Minimal pr-N stacks; returns the first one's creation time."""
    for env in envs:
        create_env_stack(endpoint, env, minimal_stack(env))
    cfn = client(endpoint, "cloudformation")
    created = cfn.describe_stacks(StackName=environments.stack_name(envs[0]))["Stacks"][0]
    return created["CreationTime"].astimezone(UTC)


def closed_port_url() -> str:
    """A 127.0.0.1 URL nothing listens on: connecting to it is refused."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def test_old_pr_stacks_are_torn_down_and_others_kept(endpoint: str, target: AwsTarget) -> None:
    later = create_stacks(endpoint, "pr-901", "pr-902") + timedelta(hours=5)

    none = pipeline.run_cleanup_stale(target, max_age_hours=24, now=later)
    assert none.reports == []
    assert none.ok

    cleaned = pipeline.run_cleanup_stale(target, max_age_hours=4, now=later)
    assert sorted(r.env for r in cleaned.reports) == ["pr-901", "pr-902"]
    assert all(r.ok and r.stack_existed for r in cleaned.reports)
    assert cleaned.ok
    assert live_stacks(endpoint, "pr-901", "pr-902") == []
    assert datetime.now(UTC) < later


def test_age_counts_from_the_last_deploy_not_the_stack_creation(
    endpoint: str, target: AwsTarget
) -> None:
    created = create_stacks(endpoint, "pr-905", "pr-906")
    later = created + timedelta(hours=100)
    deploy.ensure_artifact_bucket(target)
    # pr-905 was redeployed an hour ago: its 100 h old stack is in use.
    release.record_deploy(target, "pr-905", commit="abc", started_at=later - timedelta(hours=1))

    cleaned = pipeline.run_cleanup_stale(target, max_age_hours=72, now=later)

    assert [(r.env, r.ok) for r in cleaned.reports] == [("pr-906", True)]
    assert live_stacks(endpoint, "pr-905", "pr-906") == [environments.stack_name("pr-905")]
    assert pipeline.run_cleanup_stale(target, max_age_hours=72, now=later).reports == []
    assert teardown.teardown(target, "pr-905").ok
    # The record went with the env: a new pr-905 starts from its own creation again.
    assert release.last_deploy(target, "pr-905") is None


def test_unreachable_or_failing_github_skips_only_what_it_could_not_check(
    endpoint: str, target: AwsTarget, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    created = create_stacks(endpoint, "pr-911", "pr-912")
    later = created + timedelta(hours=5)
    deploy.ensure_artifact_bucket(target)
    release.record_deploy(target, "pr-912", commit="abc", started_at=later - timedelta(hours=1))

    # GitHub unreachable: pr-911 is stale by age and goes anyway; pr-912 needs GitHub.
    monkeypatch.setenv("GITHUB_API_URL", closed_port_url())
    unreachable = pipeline.run_cleanup_stale(
        target, max_age_hours=4, github_token=TOKEN, github_repository=REPOSITORY, now=later
    )
    assert [r.env for r in unreachable.reports] == ["pr-911"]
    assert live_stacks(endpoint, "pr-911", "pr-912") == [environments.stack_name("pr-912")]
    assert unreachable.skipped == [
        "Skipped pr-912: GitHub could not be reached to read the state of pull request #912 "
        "(ConnectError)."
    ]
    assert not unreachable.ok
    out = capsys.readouterr().out
    assert "Traceback" not in out
    assert "pr-911 is torn down, but its PR comment was not updated" in out
    assert "1 environment(s) were not checked; exiting non-zero." in out

    with running_fake_github(TOKEN) as github:
        monkeypatch.setenv("GITHUB_API_URL", github.base_url)
        github.pulls[(REPOSITORY, 912)] = "closed"
        github.pull_status = 502
        failing = pipeline.run_cleanup_stale(
            target, max_age_hours=4, github_token=TOKEN, github_repository=REPOSITORY, now=later
        )
        assert failing.reports == []
        assert failing.skipped == [
            "Skipped pr-912: GitHub answered HTTP 502 when asked for the state of pull "
            "request #912."
        ]
        # The command's own verdict (what the CLI turns into its exit code) is a failure.
        request = contract.CleanupStaleRequest(max_age_hours=4, github_repository=REPOSITORY)
        assert pipeline.run(target, request, pipeline.Secrets(github_token=TOKEN)) is False
        assert live_stacks(endpoint, "pr-912") == [environments.stack_name("pr-912")]

        github.pull_status = None
        closed = pipeline.run_cleanup_stale(
            target, max_age_hours=4, github_token=TOKEN, github_repository=REPOSITORY, now=later
        )
        assert [(r.env, r.ok) for r in closed.reports] == [("pr-912", True)]
        assert closed.ok
        assert "removed" in github.bodies(REPOSITORY, 912)[0]
    assert live_stacks(endpoint, "pr-911", "pr-912") == []
