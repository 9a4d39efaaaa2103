"""A deploy that fails before its smoke test rewrites the PR comment: it must not still say
"deployed" (a fake GitHub over 127.0.0.1, the pipeline as a subprocess against moto)."""

from __future__ import annotations

from pathlib import Path

from tests.support.github_fake import running_fake_github
from tests.support.pipeline_cli import PipelineRunner
from yoto_smart_stream_ci import github_comments

REPOSITORY = "example/yoto-smart-stream"
TOKEN = "deploy-comment-token"


def test_a_deploy_failing_before_the_smoke_test_says_so_on_the_pr(
    endpoint: str, tmp_path: Path
) -> None:
    with running_fake_github(TOKEN) as github:
        # The previous push deployed and passed.
        earlier = github_comments.render_deployed_comment(
            env="pr-45",
            api_url="https://api.example/pr-45",
            dashboard_url="https://dash.example/pr-45",
            commit="good000000001",
            smoke_passed=True,
        )
        github.seed(REPOSITORY, 45, earlier, user="github-actions[bot]")
        runner = PipelineRunner(
            endpoint, secrets={"GITHUB_TOKEN": TOKEN, "GITHUB_API_URL": github.base_url}
        )

        failed = runner.run(
            "deploy", "--env", "pr-45", "--build-dir", str(tmp_path),
            "--oci-tarball", str(tmp_path / "missing-image.tar"), "--commit", "bad0000000002",
            "--github-repository", REPOSITORY,
        )  # fmt: skip

        assert failed.returncode == 1, failed.stdout + failed.stderr
        bodies = github.bodies(REPOSITORY, 45)
    assert len(bodies) == 1
    body = bodies[0]
    assert "### ❌ Preview `pr-45` deploy FAILED" in body
    assert "| Commit | `bad0000000002` |" in body
    assert "| Failed at | image |" in body
    assert "missing-image.tar" in body
    assert "deployed" not in body.split("\n", 2)[1]
    assert "good000000001" not in body
    assert TOKEN not in body
