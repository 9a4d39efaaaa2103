"""The PR preview comment against a fake GitHub REST API on 127.0.0.1: one comment, ever."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

import pytest

from tests.support.github_fake import FakeGitHub, running_fake_github
from yoto_smart_stream_ci.github_comments import (
    PREVIEW_MARKER,
    GitHubCommentError,
    render_deployed_comment,
    render_torn_down_comment,
    upsert_pr_comment,
)

REPO = "earchibald/yoto-smart-stream"
PR = 42
WHEN = datetime(2026, 11, 25, 8, 30, tzinfo=UTC)


def _deployed(commit: str, *, passed: bool = True) -> str:
    return render_deployed_comment(
        env=f"pr-{PR}",
        api_url=f"https://abc123.execute-api.eu-west-2.amazonaws.com/pr-{PR}",
        dashboard_url=f"https://abc123.execute-api.eu-west-2.amazonaws.com/pr-{PR}",
        commit=commit,
        smoke_passed=passed,
        smoke_summary="Smoke test passed." if passed else "Smoke test FAILED at 'login'.",
        deployed_at=WHEN,
    )


def _marked(fake: FakeGitHub) -> list[str]:
    return [b for b in fake.bodies(REPO, PR) if PREVIEW_MARKER in b]


def test_first_deploy_creates_the_comment_and_later_pushes_update_it(
    fake_github: FakeGitHub, github_token: str
) -> None:
    first = upsert_pr_comment(fake_github.base_url, github_token, REPO, PR, _deployed("aaa111"))
    second = upsert_pr_comment(fake_github.base_url, github_token, REPO, PR, _deployed("bbb222"))
    third = upsert_pr_comment(
        fake_github.base_url, github_token, REPO, PR, _deployed("ccc333", passed=False)
    )

    assert first == second == third
    assert fake_github.count("POST") == 1
    assert fake_github.count("PATCH") == 2
    (body,) = _marked(fake_github)
    assert "`ccc333`" in body
    assert "aaa111" not in body
    assert "FAILED" in body
    assert all(r.authorized for r in fake_github.requests)


def test_teardown_turns_the_same_comment_into_a_removal_notice(
    fake_github: FakeGitHub, github_token: str
) -> None:
    deployed_id = upsert_pr_comment(
        fake_github.base_url, github_token, REPO, PR, _deployed("aaa111")
    )
    removed_id = upsert_pr_comment(
        fake_github.base_url,
        github_token,
        REPO,
        PR,
        render_torn_down_comment(env=f"pr-{PR}", torn_down_at=WHEN),
    )

    assert removed_id == deployed_id
    (body,) = _marked(fake_github)
    assert "removed" in body
    assert "execute-api" not in body


def test_the_comment_is_found_past_the_first_page_among_other_comments(
    fake_github: FakeGitHub, github_token: str
) -> None:
    fake_github.max_page_size = 2
    for n in range(5):
        fake_github.seed(REPO, PR, f"review remark {n}")
    ours = fake_github.seed(REPO, PR, f"{PREVIEW_MARKER}\nold preview", user="github-actions[bot]")
    fake_github.seed(REPO, PR, "LGTM")

    updated = upsert_pr_comment(fake_github.base_url, github_token, REPO, PR, _deployed("ddd444"))

    assert updated == ours
    assert fake_github.count("POST") == 0
    assert len(fake_github.bodies(REPO, PR)) == 7  # nobody else's comment was touched
    assert fake_github.bodies(REPO, PR)[0] == "review remark 0"


def test_duplicates_left_by_a_race_collapse_into_the_oldest(
    fake_github: FakeGitHub, github_token: str
) -> None:
    oldest = fake_github.seed(REPO, PR, f"{PREVIEW_MARKER}\none")
    fake_github.seed(REPO, PR, "a human comment")
    fake_github.seed(REPO, PR, f"{PREVIEW_MARKER}\ntwo")

    kept = upsert_pr_comment(fake_github.base_url, github_token, REPO, PR, _deployed("eee555"))

    assert kept == oldest
    assert len(_marked(fake_github)) == 1
    assert "a human comment" in fake_github.bodies(REPO, PR)


def test_a_body_without_the_marker_still_stays_one_comment(
    fake_github: FakeGitHub, github_token: str
) -> None:
    upsert_pr_comment(fake_github.base_url, github_token, REPO, PR, "plain text")
    upsert_pr_comment(fake_github.base_url, github_token, REPO, PR, "plain text again")

    assert fake_github.count("POST") == 1
    assert _marked(fake_github) == [f"{PREVIEW_MARKER}\nplain text again"]


def test_other_pull_requests_keep_their_own_comment(
    fake_github: FakeGitHub, github_token: str
) -> None:
    upsert_pr_comment(fake_github.base_url, github_token, REPO, PR, _deployed("aaa111"))
    upsert_pr_comment(fake_github.base_url, github_token, REPO, PR + 1, _deployed("bbb222"))

    assert fake_github.count("POST") == 2
    assert len(_marked(fake_github)) == 1


def test_a_wrong_token_fails_with_a_sentence_that_never_contains_the_token(
    fake_github: FakeGitHub,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    wrong = "ghs_" + "0" * 36
    caplog.set_level(logging.DEBUG)

    with pytest.raises(GitHubCommentError) as raised:
        upsert_pr_comment(fake_github.base_url, wrong, REPO, PR, _deployed("aaa111"))

    message = str(raised.value)
    assert "HTTP 401" in message
    assert "Bad credentials" in message
    captured = capsys.readouterr()
    for text in (message, repr(raised.value), captured.out, captured.err, caplog.text):
        assert wrong not in text
        assert fake_github.token not in text
    assert fake_github.bodies(REPO, PR) == []


def test_the_token_is_never_printed_on_success(
    fake_github: FakeGitHub,
    github_token: str,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    upsert_pr_comment(fake_github.base_url, github_token, REPO, PR, _deployed("aaa111"))
    upsert_pr_comment(fake_github.base_url, github_token, REPO, PR, _deployed("bbb222"))

    captured = capsys.readouterr()
    assert github_token not in captured.out + captured.err + caplog.text
    assert all(github_token not in body for body in fake_github.bodies(REPO, PR))


@pytest.mark.parametrize(
    ("repository", "pr_number", "token", "expected"),
    [
        ("not-a-repo", PR, "t", "OWNER/NAME"),
        ("owner/name;rm -rf", PR, "t", "OWNER/NAME"),
        (REPO, 0, "t", "positive integer"),
        (REPO, -3, "t", "positive integer"),
        (REPO, PR, "", "No GitHub token"),
    ],
)
def test_bad_input_is_refused_before_any_request(
    fake_github: FakeGitHub, repository: str, pr_number: int, token: str, expected: str
) -> None:
    with pytest.raises(GitHubCommentError, match=expected):
        upsert_pr_comment(fake_github.base_url, token, repository, pr_number, "body")

    assert fake_github.requests == []


def test_a_next_page_link_to_another_host_is_not_followed_with_the_token(
    fake_github: FakeGitHub, github_token: str
) -> None:
    with running_fake_github(github_token) as elsewhere:
        fake_github.max_page_size = 1
        fake_github.next_link_base = elsewhere.base_url
        fake_github.seed(REPO, PR, "first")
        fake_github.seed(REPO, PR, "second")

        with pytest.raises(GitHubCommentError, match="next-page link leaves"):
            upsert_pr_comment(fake_github.base_url, github_token, REPO, PR, "body")

        assert elsewhere.requests == []
    assert fake_github.count("POST") == 0


def test_an_unreachable_api_is_reported_as_a_sentence() -> None:
    from tests.support.moto_server import free_port

    with pytest.raises(GitHubCommentError, match="could not reach GitHub"):
        upsert_pr_comment(f"http://127.0.0.1:{free_port()}", "ghs_x", REPO, PR, "body")


def test_rendered_deploy_comment_names_urls_commit_and_smoke_result() -> None:
    body = _deployed("0123456789abcdef")

    assert body.startswith(PREVIEW_MARKER)
    assert f"https://abc123.execute-api.eu-west-2.amazonaws.com/pr-{PR}" in body
    assert "`0123456789abcdef`" in body
    assert "| Smoke test | passed |" in body
    assert "2026-11-25 08:30 UTC" in body
    assert "| Smoke test | FAILED |" in _deployed("0123456789abcdef", passed=False)


def test_a_pull_request_with_too_many_comments_to_read_gets_no_duplicate(
    fake_github: FakeGitHub, github_token: str
) -> None:
    for n in range(5001):
        fake_github.seed(REPO, PR, f"remark {n}")
    fake_github.seed(REPO, PR, f"{PREVIEW_MARKER}\nours, on the last page")

    with pytest.raises(GitHubCommentError, match="more than 5000 comments"):
        upsert_pr_comment(fake_github.base_url, github_token, REPO, PR, "body")

    assert fake_github.count("POST") == 0
    assert fake_github.count("GET") == 50
