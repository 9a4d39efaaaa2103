"""Headless Debian Chromium (driven by Playwright) against the app served on 127.0.0.1.

The app runs with moto (DynamoDB, S3) and the fake Yoto cloud, and with the production cookie
settings (``Secure``): Chromium treats http://127.0.0.1 as a secure context, so the session
cookie must stick exactly as it does behind HTTPS in AWS.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import boto3
import pytest
from playwright.sync_api import BrowserContext, Playwright, sync_playwright

from tests.support.app_server import app_env, create_app_resources, running_app_server
from tests.support.yoto_fake import FakeYoto, running_yoto_fake

# The system Chromium (Debian package); Playwright's own browser downloads are never used.
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-proxy-server",
]

# Names as the family set them; one looks like markup to prove the dashboard escapes data.
FAKE_PLAYERS = [
    {"deviceId": "player-kitchen", "name": "Kitchen", "online": True},
    {"deviceId": "player-den", "name": "<i>Den</i> & co", "online": False},
    {"deviceId": "player-bedroom", "name": "Bedroom", "online": True},
]
# The viewer's time zone: events must read in it, not in UTC.
VIEWER_TIMEZONE = "America/New_York"
AXE_SCRIPT = Path(__file__).resolve().parent / "node_modules" / "axe-core" / "axe.min.js"


@dataclass(frozen=True)
class Dashboard:
    url: str
    api_url: str
    admin_username: str
    admin_password: str
    yoto: FakeYoto
    table_name: str
    bucket_name: str


def allow_browser_uploads(bucket_name: str, origin: str) -> None:
    """The bucket's CORS rule as infrastructure/template.yaml sets it, for this origin."""
    boto3.client("s3").put_bucket_cors(
        Bucket=bucket_name,
        CORSConfiguration={
            "CORSRules": [
                {
                    "AllowedMethods": ["PUT", "GET", "HEAD"],
                    "AllowedOrigins": [origin],
                    "AllowedHeaders": ["content-type", "content-length", "content-md5"],
                    "MaxAgeSeconds": 3000,
                }
            ]
        },
    )


@contextmanager
def running_dashboard() -> Iterator[Dashboard]:
    """The app (its dashboard at ``/``) on a free loopback port, with a fresh table and bucket
    in the AWS endpoint the environment names (moto)."""
    table, bucket = create_app_resources(prefix="browser")
    admin_password = secrets.token_urlsafe(18)
    with running_yoto_fake() as yoto:
        yoto.set_players(FAKE_PLAYERS)
        env = app_env(
            table_name=table,
            bucket_name=bucket,
            yoto=yoto,
            admin_password=admin_password,
            session_cookie_secure="true",
        )
        with running_app_server(env) as server:
            allow_browser_uploads(bucket, server.base_url)
            yield Dashboard(
                url=f"{server.base_url}/",
                api_url=f"{server.base_url}/api",
                admin_username=server.settings.admin_username,
                admin_password=admin_password,
                yoto=yoto,
                table_name=table,
                bucket_name=bucket,
            )


@pytest.fixture
def dashboard(aws_environ: dict[str, str]) -> Iterator[Dashboard]:
    with running_dashboard() as served:
        yield served


# Module scope, not session: while Playwright's sync driver runs, its asyncio loop counts as
# running in the main thread, which breaks later tests that start their own event loop.
@pytest.fixture(scope="module")
def playwright() -> Iterator[Playwright]:
    with sync_playwright() as driver:
        yield driver


@pytest.fixture(scope="session")
def axe_source() -> str:
    """axe-core from the npm registry, pinned in tests/browser/package-lock.json."""
    if not AXE_SCRIPT.is_file():
        pytest.fail(
            f"axe-core is not installed ({AXE_SCRIPT} is missing): run "
            "`npm ci --prefix tests/browser` first.",
            pytrace=False,
        )
    return AXE_SCRIPT.read_text(encoding="utf-8")


def launch_browser(playwright: Playwright, profile: Path, axe: str | None = None) -> BrowserContext:
    context = playwright.chromium.launch_persistent_context(
        str(profile),
        executable_path=CHROMIUM,
        headless=True,
        args=CHROMIUM_FLAGS,
        timezone_id=VIEWER_TIMEZONE,
        locale="en-GB",
    )
    if axe is not None:
        # An init script runs before the page's own scripts and is not subject to the page's
        # CSP (which rightly refuses inline scripts), so axe is present on every navigation.
        context.add_init_script(script=axe)
    return context


@pytest.fixture
def browser(playwright: Playwright, tmp_path: Path, axe_source: str) -> Iterator[BrowserContext]:
    """A fresh Chromium profile per test (no cookies carried over between tests)."""
    context = launch_browser(playwright, tmp_path / "chromium-profile", axe_source)
    context.set_default_timeout(15_000)
    try:
        yield context
    finally:
        context.close()
