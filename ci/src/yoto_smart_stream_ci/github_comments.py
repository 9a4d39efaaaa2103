"""The ONE preview comment on a pull request: find it by a hidden marker, then update or create.

Engine-free (plain httpx against the GitHub REST API) so it runs and is tested on the host. The
``deploy`` and ``teardown`` Dagger functions call :func:`upsert_pr_comment` for ``pr-N``
environments when they are given a GitHub token; the workflows stay a single ``dagger call``.

The token is only ever sent in the ``Authorization`` header: error messages name the request and
GitHub's answer, never the token.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

import httpx

from yoto_smart_stream_ci import costs

Comment = dict[str, Any]

PREVIEW_MARKER = "<!-- yoto-smart-stream:preview -->"
GITHUB_API = "https://api.github.com"
_REPOSITORY_RE = re.compile(r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$")
_PAGE_SIZE = 100
# Comment lists are paged; a PR with more than this many pages is not a preview we manage.
_MAX_PAGES = 50
_TIMEOUT_SECONDS = 15.0


class GitHubCommentError(RuntimeError):
    """The comment could not be read or written; the message says which request and why."""


def upsert_pr_comment(api_base: str, token: str, repository: str, pr_number: int, body: str) -> int:
    """Create the PR's preview comment, or update it in place; return the comment id.

    Exactly one comment carries :data:`PREVIEW_MARKER`. If an earlier race left several, the
    oldest is kept and updated and the others are deleted.
    """
    if not token:
        raise GitHubCommentError("No GitHub token was given, so the PR comment cannot be written.")
    if not _REPOSITORY_RE.fullmatch(repository):
        raise GitHubCommentError(
            f"Repository {repository!r} is not of the form OWNER/NAME; the PR comment was not written."
        )
    if isinstance(pr_number, bool) or not isinstance(pr_number, int) or pr_number < 1:
        raise GitHubCommentError(
            f"Pull request number {pr_number!r} is not a positive integer; the comment was not written."
        )
    if PREVIEW_MARKER not in body:
        body = f"{PREVIEW_MARKER}\n{body}"

    with _client(api_base, token) as client:
        ours = _marked_comments(client, repository, pr_number)
        if not ours:
            created = _request(
                client,
                "POST",
                f"/repos/{repository}/issues/{pr_number}/comments",
                json={"body": body},
            )
            return int(created["id"])

        keep, *extra = sorted(ours, key=lambda c: int(c["id"]))
        if keep.get("body") != body:
            _request(
                client,
                "PATCH",
                f"/repos/{repository}/issues/comments/{int(keep['id'])}",
                json={"body": body},
            )
        for duplicate in extra:
            _request(
                client, "DELETE", f"/repos/{repository}/issues/comments/{int(duplicate['id'])}"
            )
        return int(keep["id"])


def render_deployed_comment(
    *,
    env: str,
    api_url: str,
    dashboard_url: str,
    commit: str,
    smoke_passed: bool,
    smoke_summary: str = "",
    monitoring_url: str = "",
    deployed_at: datetime | None = None,
) -> str:
    """The comment after a deploy: where the preview lives, which commit, the smoke result,
    its CloudWatch dashboard and what it costs while it runs."""
    when = _timestamp(deployed_at)
    verdict = "passed" if smoke_passed else "FAILED"
    icon = "✅" if smoke_passed else "❌"
    lines = [
        PREVIEW_MARKER,
        f"### {icon} Preview `{env}` deployed",
        "",
        "| | |",
        "|---|---|",
        f"| API | {api_url} |",
        f"| Dashboard | {dashboard_url} |",
        f"| Commit | `{commit}` |",
        f"| Smoke test | {verdict} |",
    ]
    if monitoring_url:
        lines.append(f"| Monitoring | [CloudWatch dashboard]({monitoring_url}) |")
    lines += [
        f"| Estimated cost | {costs.describe(env)} |",
        f"| Updated | {when} |",
    ]
    if smoke_summary:
        lines += ["", "<details><summary>Smoke test report</summary>", "", "```"]
        lines += [smoke_summary.replace("```", "'''"), "```", "", "</details>"]
    lines += ["", "_This comment is updated on every push and when the PR closes._"]
    return "\n".join(lines) + "\n"


def render_failed_comment(
    *, env: str, commit: str, step: str, error: str, failed_at: datetime | None = None
) -> str:
    """The comment after a deploy that stopped before its smoke test could say anything."""
    detail = error.strip().replace("```", "'''")[:1500] or "(no message)"
    return (
        "\n".join(
            [
                PREVIEW_MARKER,
                f"### ❌ Preview `{env}` deploy FAILED",
                "",
                "| | |",
                "|---|---|",
                f"| Commit | `{commit}` |",
                f"| Failed at | {step} |",
                f"| Updated | {_timestamp(failed_at)} |",
                "",
                "This commit is not deployed: the environment holds whatever an earlier deploy "
                "left, if anything. The workflow log has the details.",
                "",
                "```",
                detail,
                "```",
                "",
                "_This comment is updated on every push and when the PR closes._",
            ]
        )
        + "\n"
    )


def render_torn_down_comment(
    *, env: str, reason: str = "the pull request was closed", torn_down_at: datetime | None = None
) -> str:
    """The comment once the preview is gone."""
    return (
        "\n".join(
            [
                PREVIEW_MARKER,
                f"### 🧹 Preview `{env}` removed",
                "",
                f"The environment was torn down because {reason} ({_timestamp(torn_down_at)}).",
                "Its API, dashboard and data no longer exist. Pushing to a reopened PR deploys "
                "it again.",
            ]
        )
        + "\n"
    )


def _timestamp(moment: datetime | None) -> str:
    return (moment or datetime.now(UTC)).astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def _client(api_base: str, token: str) -> httpx.Client:
    return httpx.Client(
        base_url=api_base.rstrip("/"),
        headers={
            "Authorization": f"Bearer {token}",
            "Accept": "application/vnd.github+json",
            "X-GitHub-Api-Version": "2022-11-28",
            "User-Agent": "yoto-smart-stream-ci",
        },
        timeout=_TIMEOUT_SECONDS,
    )


def _marked_comments(client: httpx.Client, repository: str, pr_number: int) -> list[Comment]:
    found: list[Comment] = []
    url: str | None = f"/repos/{repository}/issues/{pr_number}/comments"
    params: dict[str, int] | None = {"per_page": _PAGE_SIZE}
    for _ in range(_MAX_PAGES):
        if url is None:
            return found
        response = _send(client, "GET", url, params=params)
        page = response.json()
        if not isinstance(page, list):
            raise GitHubCommentError(f"GET {url} answered something other than a list of comments.")
        found += [c for c in page if PREVIEW_MARKER in str(c.get("body") or "")]
        # GitHub pages with a Link header; its "next" URL already carries the query. The token
        # is only sent back to the API origin it was given for.
        url = response.links.get("next", {}).get("url")
        params = None
        if url is not None and _origin(httpx.URL(url)) != _origin(client.base_url):
            raise GitHubCommentError(f"GitHub's next-page link leaves {_origin(client.base_url)}.")
    if url is None:
        return found
    # Creating a comment now could duplicate one on a page we did not read.
    raise GitHubCommentError(
        f"Pull request #{pr_number} has more than {_MAX_PAGES * _PAGE_SIZE} comments; "
        "the preview comment was not written."
    )


def _origin(url: httpx.URL) -> str:
    return f"{url.scheme}://{url.netloc.decode()}"


def _request(client: httpx.Client, method: str, path: str, json: Comment | None = None) -> Comment:
    response = _send(client, method, path, json=json)
    if response.status_code == 204 or not response.content:
        return {}
    data = response.json()
    return data if isinstance(data, dict) else {}


def _send(
    client: httpx.Client,
    method: str,
    path: str,
    *,
    json: Comment | None = None,
    params: dict[str, int] | None = None,
) -> httpx.Response:
    try:
        response = client.request(method, path, json=json, params=params)
    except httpx.HTTPError as error:
        raise GitHubCommentError(
            f"{method} {path} could not reach GitHub: {type(error).__name__}."
        ) from None
    if response.status_code >= 400:
        raise GitHubCommentError(
            f"{method} {path} was refused by GitHub with HTTP {response.status_code}: "
            f"{_github_message(response)}"
        )
    return response


def _github_message(response: httpx.Response) -> str:
    try:
        payload = response.json()
    except ValueError:
        payload = response.text
    message = payload.get("message", "") if isinstance(payload, dict) else payload
    return str(message)[:200] or "(no message)"
