"""The smoke test every deploy ends with: real HTTP against the deployed API.

Checks, in order (each later check needs the earlier ones): health, readiness, sign-in (the
real login endpoint and session cookie), the authenticated player list, and then either proof
that the smoke principal can change nothing (``environments.SMOKE_PRINCIPAL``: a write
answers 403) or, for a person's account given by ``--url``, an audio upload/download round trip
through presigned S3 URLs. The pipeline adds the MQTT handler's check (``mqtt_health``). The
first request retries with exponential backoff to ride out a cold start; the report names the
check that failed and why.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from http.cookies import SimpleCookie
from typing import Any

import httpx
from tenacity import Retrying, retry_if_exception_type, stop_after_delay, wait_exponential

from yoto_smart_stream_ci.environments import SMOKE_PRINCIPAL

# The API's answer to an authenticated player list while no Yoto account is linked.
NOT_LINKED_STATUS = 409
# A few bytes that are unmistakably ours: the download must return exactly these.
SMOKE_AUDIO_PREFIX = b"ID3yoto-smoke-"
# Each deploy writes a new smoke credential; a warm Lambda reads it again at most this long
# after (the app's SMOKE_CREDENTIAL_REFRESH_SECONDS), so a refused smoke sign-in is retried
# for a little longer than that.
CREDENTIAL_SETTLE_SECONDS = 75.0


class SmokeFailure(RuntimeError):
    pass


class SmokeSkipped(Exception):
    """A check that cannot run here; recorded as SKIP with the reason, never as a pass."""


@dataclass
class CheckResult:
    name: str
    ok: bool
    detail: str
    skipped: bool = False


@dataclass
class SmokeReport:
    base_url: str
    checks: list[CheckResult] = field(default_factory=list)
    title: str = "Smoke test"

    @property
    def ok(self) -> bool:
        return bool(self.checks) and all(c.ok for c in self.checks)

    def failed(self) -> CheckResult | None:
        return next((c for c in self.checks if not c.ok), None)

    def check(self, name: str, run: Callable[[], str]) -> bool:
        """Run one check and record it; ``False`` (recorded as FAIL) when it raised."""
        try:
            self.checks.append(CheckResult(name, True, run()))
        except SmokeSkipped as reason:
            self.checks.append(CheckResult(name, True, f"not checked: {reason}", skipped=True))
        except (SmokeFailure, httpx.HTTPError) as error:
            self.checks.append(CheckResult(name, False, str(error) or type(error).__name__))
            return False
        return True

    def render(self) -> str:
        lines = [f"{self.title} against {self.base_url}:"]
        lines += [f"  [{_verdict(c)}] {c.name}: {c.detail}" for c in self.checks]
        failed = self.failed()
        lines.append(
            f"{self.title} passed."
            if self.ok
            else f"{self.title} FAILED at '{failed.name if failed else '?'}'."
        )
        return "\n".join(lines)


def _verdict(check: CheckResult) -> str:
    return "SKIP" if check.skipped else "PASS" if check.ok else "FAIL"


def describe(response: httpx.Response) -> str:
    text = response.text[:200].replace("\n", " ")
    return f"HTTP {response.status_code}: {text}"


class Session:
    """Carries the session cookie by hand: it is ``Secure``, and a local or emulated API is
    plain HTTP, where a standard cookie jar would (rightly) refuse to send it."""

    def __init__(self, client: httpx.Client) -> None:
        self.client = client
        self.cookies: dict[str, str] = {}

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        headers = dict(kwargs.pop("headers", {}) or {})
        if self.cookies:
            headers["cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        response = self.client.request(method, path, headers=headers, **kwargs)
        for raw in response.headers.get_list("set-cookie"):
            jar: SimpleCookie = SimpleCookie()
            jar.load(raw)
            for key, morsel in jar.items():
                self.cookies[key] = morsel.value
        return response


def wait_for_health(session: Session, cold_start_budget_s: float) -> str:
    """``GET /api/health`` until it answers 200, with backoff over a cold start."""
    for attempt in Retrying(
        stop=stop_after_delay(cold_start_budget_s),
        wait=wait_exponential(multiplier=0.5, max=8),
        retry=retry_if_exception_type((httpx.TransportError, SmokeFailure)),
        reraise=True,
    ):
        with attempt:
            response = session.request("GET", "/api/health")
            if response.status_code != 200:
                raise SmokeFailure(describe(response))
    body = response.json()
    if body.get("status") != "ok":
        raise SmokeFailure(f"unexpected body {body!r}")
    return f"ok (environment={body.get('environment')}, commit={body.get('commit')})"


def log_in(session: Session, username: str, password: str | None) -> str:
    """Log in and confirm the session cookie works; the cookie stays on ``session``."""
    if not password:
        raise SmokeFailure(
            f"no password for {username}: deploy the env first so the pipeline can read its "
            "credential from SSM (or pass --admin-password with --url)"
        )
    response = session.request(
        "POST", "/api/user/login", json={"username": username, "password": password}
    )
    if response.status_code != 200:
        raise SmokeFailure(describe(response))
    if not session.cookies:
        raise SmokeFailure("login answered 200 but set no session cookie")
    who = session.request("GET", "/api/user/session")
    if who.status_code != 200:
        raise SmokeFailure(f"session check: {describe(who)}")
    return f"logged in as {username}"


def log_in_as_smoke_principal(session: Session, credential: str | None, settle_s: float) -> str:
    """Sign in as the smoke principal; a 401 is retried while a warm API still holds the
    previous deploy's credential (it reads the new one within ``settle_s``)."""
    refused = 0
    for attempt in Retrying(
        stop=stop_after_delay(settle_s),
        wait=wait_exponential(multiplier=1, max=15),
        retry=retry_if_exception_type(_CredentialNotYetRead),
        reraise=True,
    ):
        with attempt:
            try:
                return log_in(session, SMOKE_PRINCIPAL, credential)
            except SmokeFailure as error:
                if "HTTP 401" not in str(error):
                    raise
                refused += 1
                raise _CredentialNotYetRead(f"{error} ({refused} attempt(s))") from None
    raise AssertionError("unreachable")  # pragma: no cover - Retrying reraises


class _CredentialNotYetRead(SmokeFailure):
    pass


def run_smoke(
    base_url: str,
    *,
    username: str,
    password: str | None,
    cold_start_budget_s: float = 60.0,
    credential_settle_s: float = CREDENTIAL_SETTLE_SECONDS,
    transport: httpx.BaseTransport | None = None,
) -> SmokeReport:
    """Run every check against ``base_url`` (the ApiUrl, stage prefix included).

    ``username`` is the smoke principal (a deploy's own smoke test) or a person's account
    (``smoke --url``): the principal can change nothing, so it gets the read-only check in
    place of the audio round trip a person's account can make.
    """
    report = SmokeReport(base_url=base_url)
    root = base_url.rstrip("/")
    as_principal = username == SMOKE_PRINCIPAL
    with (
        httpx.Client(base_url=root, timeout=15.0, transport=transport) as client,
        httpx.Client(timeout=15.0, transport=transport) as presigned,
    ):
        session = Session(client)

        def health() -> str:
            return wait_for_health(session, cold_start_budget_s)

        def ready() -> str:
            response = session.request("GET", "/api/ready")
            if response.status_code != 200:
                raise SmokeFailure(describe(response))
            return f"ready ({', '.join(sorted(response.json().get('checks', {})))})"

        def login() -> str:
            if as_principal:
                return log_in_as_smoke_principal(session, password, credential_settle_s)
            return log_in(session, username, password)

        def players() -> str:
            response = session.request("GET", "/api/players")
            if response.status_code == 200:
                return f"{len(_players_of(response.json()))} player(s) listed"
            if response.status_code == NOT_LINKED_STATUS:
                # Authenticated (a missing session would be 401), but no family account is
                # linked yet: the right answer for a fresh environment, reported as such.
                return f"no Yoto account linked yet ({describe(response)})"
            raise SmokeFailure(describe(response))

        def read_only() -> str:
            # A well-formed write: only the principal's role may refuse it.
            attempt = session.request("POST", "/api/audio/uploads", json=_upload_body(16))
            if attempt.status_code != 403:
                raise SmokeFailure(
                    f"the smoke principal must change nothing, but a write answered "
                    f"{describe(attempt)}"
                )
            return "a write as the smoke principal is refused (HTTP 403)"

        def audio_round_trip() -> str:
            payload = SMOKE_AUDIO_PREFIX + secrets.token_bytes(64)
            created = session.request("POST", "/api/audio/uploads", json=_upload_body(len(payload)))
            if created.status_code not in (200, 201):
                raise SmokeFailure(f"create upload: {describe(created)}")
            upload = created.json()
            audio_id = upload["audio_id"]
            try:
                put = presigned.request(
                    upload.get("method", "PUT"),
                    upload["upload_url"],
                    content=payload,
                    headers=upload.get("headers") or {},
                )
                if put.status_code not in (200, 204):
                    raise SmokeFailure(f"presigned upload: {describe(put)}")
                redirect = session.request("GET", f"/audio/{audio_id}")
                if redirect.status_code not in (302, 307):
                    raise SmokeFailure(f"download redirect: {describe(redirect)}")
                got = presigned.get(redirect.headers["location"])
                if got.status_code != 200 or got.content != payload:
                    raise SmokeFailure(
                        f"presigned download returned HTTP {got.status_code} and "
                        f"{len(got.content)} bytes, not the {len(payload)} uploaded"
                    )
            finally:
                session.request("DELETE", f"/api/audio/{audio_id}")
            return f"{len(payload)} bytes uploaded and downloaded intact (audio {audio_id})"

        for name, run in (
            ("health", health),
            ("ready", ready),
            ("sign-in", login),
            ("player list", players),
            ("read-only", read_only) if as_principal else ("audio round trip", audio_round_trip),
        ):
            if not report.check(name, run):
                break
    return report


def _upload_body(size: int) -> dict[str, Any]:
    return {
        "filename": "smoke-test.mp3",
        "content_type": "audio/mpeg",
        "size_bytes": size,
        "title": "Pipeline smoke test",
    }


def _players_of(body: Any) -> list[Any]:
    if isinstance(body, list):
        return body
    if isinstance(body, dict) and isinstance(body.get("players"), list):
        return list(body["players"])
    raise SmokeFailure(f"player list is not a list: {str(body)[:120]}")
