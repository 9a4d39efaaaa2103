"""A fake GitHub REST API for PR comments: a real HTTP server on 127.0.0.1.

It speaks the four issue-comment endpoints the preview comment uses, and ``GET .../pulls/N``
(the state stale cleanup reads; ``pull_status`` makes it answer an HTTP error instead), pages its lists the way
GitHub does (``per_page``, ``page`` and a ``Link: <...>; rel="next"`` header), requires the one
token it was started with, and records every request so tests can count creates and updates.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

_LIST_OR_CREATE = re.compile(r"^/repos/([^/]+/[^/]+)/issues/(\d+)/comments$")
_ONE_COMMENT = re.compile(r"^/repos/([^/]+/[^/]+)/issues/comments/(\d+)$")
_ONE_PULL = re.compile(r"^/repos/([^/]+/[^/]+)/pulls/(\d+)$")


@dataclass
class RecordedRequest:
    method: str
    path: str
    authorized: bool


@dataclass
class FakeGitHub:
    token: str
    base_url: str = ""
    # (repository, pr number) -> comments, oldest first, as GitHub returns them.
    comments: dict[tuple[str, int], list[dict[str, Any]]] = field(default_factory=dict)
    requests: list[RecordedRequest] = field(default_factory=list)
    # (repository, pr number) -> "open" or "closed"; an unknown pull request is a 404.
    pulls: dict[tuple[str, int], str] = field(default_factory=dict)
    # When set, every pull request lookup answers this HTTP status (e.g. 502, 403).
    pull_status: int | None = None
    max_page_size: int = 100
    # Overrides the host of the Link header's next URL (to test that we refuse to follow it).
    next_link_base: str | None = None
    _next_id: int = 1000
    lock: threading.Lock = field(default_factory=threading.Lock)

    def seed(self, repository: str, pr_number: int, body: str, user: str = "someone") -> int:
        with self.lock:
            return self._add(repository, pr_number, body, user)

    def _add(self, repository: str, pr_number: int, body: str, user: str) -> int:
        self._next_id += 1
        self.comments.setdefault((repository, pr_number), []).append(
            {"id": self._next_id, "body": body, "user": {"login": user}}
        )
        return self._next_id

    def bodies(self, repository: str, pr_number: int) -> list[str]:
        return [c["body"] for c in self.comments.get((repository, pr_number), [])]

    def count(self, method: str) -> int:
        return sum(1 for r in self.requests if r.method == method)


def _handler(fake: FakeGitHub) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            """Requests are recorded in ``fake.requests`` instead of being printed."""

        def _reply(self, status: int, payload: Any = None, headers: dict[str, str] | None = None):
            body = b"" if payload is None else json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            for key, value in (headers or {}).items():
                self.send_header(key, value)
            self.end_headers()
            self.wfile.write(body)

        def _authorized(self) -> bool:
            return self.headers.get("Authorization") == f"Bearer {fake.token}"

        def _body(self) -> dict[str, Any]:
            length = int(self.headers.get("Content-Length") or 0)
            return json.loads(self.rfile.read(length) or b"{}")

        def _handle(self) -> None:
            url = urlsplit(self.path)
            authorized = self._authorized()
            with fake.lock:
                fake.requests.append(RecordedRequest(self.command, url.path, authorized))
            if not authorized:
                self._reply(401, {"message": "Bad credentials"})
                return
            listing = _LIST_OR_CREATE.match(url.path)
            single = _ONE_COMMENT.match(url.path)
            pull = _ONE_PULL.match(url.path)
            with fake.lock:
                if pull and self.command == "GET":
                    self._pull(pull.group(1), int(pull.group(2)))
                elif listing and self.command == "GET":
                    self._list(listing.group(1), int(listing.group(2)), parse_qs(url.query))
                elif listing and self.command == "POST":
                    body = self._body().get("body")
                    if not isinstance(body, str) or not body:
                        self._reply(422, {"message": "Validation Failed: body"})
                        return
                    repo, number = listing.group(1), int(listing.group(2))
                    new_id = fake._add(repo, number, body, "github-actions[bot]")
                    self._reply(201, {"id": new_id, "body": body})
                elif single and self.command in {"PATCH", "DELETE"}:
                    self._change(single.group(1), int(single.group(2)))
                else:
                    self._reply(404, {"message": "Not Found"})

        def _list(self, repo: str, number: int, query: dict[str, list[str]]) -> None:
            per_page = min(int(query.get("per_page", ["30"])[0]), fake.max_page_size)
            page = int(query.get("page", ["1"])[0])
            items = fake.comments.get((repo, number), [])
            start = (page - 1) * per_page
            headers = {}
            if start + per_page < len(items):
                base = fake.next_link_base or fake.base_url
                next_url = (
                    f"{base}/repos/{repo}/issues/{number}/comments"
                    f"?per_page={per_page}&page={page + 1}"
                )
                headers["Link"] = f'<{next_url}>; rel="next"'
            self._reply(200, items[start : start + per_page], headers)

        def _pull(self, repo: str, number: int) -> None:
            if fake.pull_status is not None:
                self._reply(fake.pull_status, {"message": "Server Error"})
            elif (repo, number) in fake.pulls:
                self._reply(200, {"number": number, "state": fake.pulls[(repo, number)]})
            else:
                self._reply(404, {"message": "Not Found"})

        def _change(self, repo: str, comment_id: int) -> None:
            for (owner_repo, _), items in fake.comments.items():
                for index, comment in enumerate(items):
                    if owner_repo == repo and comment["id"] == comment_id:
                        if self.command == "DELETE":
                            del items[index]
                            self._reply(204)
                        else:
                            comment["body"] = self._body()["body"]
                            self._reply(200, comment)
                        return
            self._reply(404, {"message": "Not Found"})

        do_GET = do_POST = do_PATCH = do_DELETE = _handle

    return Handler


@contextmanager
def running_fake_github(token: str) -> Iterator[FakeGitHub]:
    """Serve a :class:`FakeGitHub` on a free 127.0.0.1 port; stop it on exit."""
    fake = FakeGitHub(token=token)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(fake))
    fake.base_url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield fake
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
