"""The preview of an emulated environment, in a browser: issue 10's newcomer flow.

An emulated account (`python -m yoto_smart_stream_ci emulator`), `deploy --env pr-42` into it,
then `preview --env pr-42`: headless Chromium opens the preview's root, signs in as the bootstrap
admin, sees the Yoto fake's players, uploads an audio file (straight to the emulated S3 through
the preview's relay) and creates a streaming card that reaches the Yoto fake.
"""

from __future__ import annotations

import os
import secrets
import select
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import BrowserContext, expect

from tests.browser.helpers import go_to, sign_in
from tests.support.moto_server import free_port
from tests.support.oci import build_oci_tarball
from tests.support.pipeline_cli import CI_SRC, REPO_ROOT
from tests.support.yoto_fake import running_yoto_fake
from yoto_smart_stream_ci.shared import ADMIN_PASSWORD_VAR

ENV = "pr-42"
pytestmark = pytest.mark.timeout(600)


def host_environ(**extra: str) -> dict[str, str]:
    keep = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "YOTO_"))}
    return {**keep, "PYTHONPATH": str(CI_SRC), **extra}


@pytest.fixture
def kept_account() -> Iterator[str]:
    server = subprocess.Popen(
        [sys.executable, "-m", "yoto_smart_stream_ci", "emulator", "--port", "0"],
        cwd=REPO_ROOT, env=host_environ(), stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert server.stdout is not None
    ready, _, _ = select.select([server.stdout], [], [], 60)
    line = server.stdout.readline() if ready else ""
    assert "listening on http://127.0.0.1:" in line, line
    try:
        yield line.rsplit(" ", 1)[1].strip()
    finally:
        server.send_signal(signal.SIGINT)
        server.wait(30)


def wait_for_line(process: subprocess.Popen[str], marker: str, seconds: float) -> str:
    assert process.stdout is not None
    seen: list[str] = []
    while True:
        ready, _, _ = select.select([process.stdout], [], [], seconds)
        line = process.stdout.readline() if ready else ""
        if not line:
            raise AssertionError("no preview URL:\n" + "".join(seen))
        seen.append(line)
        if marker in line:
            return line


def test_a_newcomer_opens_the_preview_signs_in_uploads_and_makes_a_card(
    browser: BrowserContext, kept_account: str, built_package: Path, tmp_path: Path
) -> None:
    password = secrets.token_urlsafe(18)
    tarball = tmp_path / "mqtt.tar"
    build_oci_tarball(REPO_ROOT / "mqtt", tarball)
    port = free_port()
    with running_yoto_fake() as yoto:
        deployed = subprocess.run(
            [sys.executable, "-m", "yoto_smart_stream_ci", "deploy", "--env", ENV,
             "--build-dir", str(built_package), "--oci-tarball", str(tarball), "--no-cloudfront",
             "--emulator", kept_account, "--yoto-client-id", yoto.client_id],
            cwd=REPO_ROOT, env=host_environ(**{ADMIN_PASSWORD_VAR: password}),
            capture_output=True, text=True, timeout=400, check=False,
        )  # fmt: skip
        assert deployed.returncode == 0, deployed.stdout[-3000:] + deployed.stderr[-3000:]
        yoto.set_players(
            [
                {"deviceId": "player-kitchen", "name": "Kitchen", "online": True},
                {"deviceId": "player-den", "name": "Den", "online": False},
            ]
        )
        preview = subprocess.Popen(
            [sys.executable, "-m", "yoto_smart_stream_ci", "preview", "--env", ENV,
             "--port", str(port), "--emulator", kept_account,
             "--yoto-api-base-url", yoto.base_url, "--yoto-auth-base-url", yoto.base_url],
            cwd=REPO_ROOT, env=host_environ(), stdout=subprocess.PIPE, text=True,
        )  # fmt: skip
        try:
            line = wait_for_line(preview, "Preview of pr-42", 120)
            assert f"http://127.0.0.1:{port}/{ENV}/" in line
            page = browser.new_page()
            errors: list[str] = []
            page.on("pageerror", lambda error: errors.append(str(error)))
            puts: list[str] = []
            page.on("request", lambda r: puts.append(r.url) if r.method == "PUT" else None)
            page.goto(f"http://127.0.0.1:{port}/")  # the bare root leads to the stage
            assert page.url == f"http://127.0.0.1:{port}/{ENV}/"
            sign_in(page, "admin", password)
            expect(page.locator("#session-user")).to_have_text("admin")

            # Link the family's Yoto account (the fake approves the device code at once).
            go_to(page, "account")
            page.click("#auth-start")
            expect(page.locator("#auth-code")).not_to_be_empty()
            yoto.approve_device_login()
            page.click("#auth-poll")
            linked = page.locator("#account-linked").get_by_role("heading")
            expect(linked).to_have_text("Linked ✓", timeout=30_000)

            go_to(page, "players")
            expect(page.locator("#players-list")).to_contain_text("Kitchen")
            expect(page.locator("#players-list")).to_contain_text("Den")

            go_to(page, "library")
            page.fill("#upload-title", "The Gruffalo")
            song = b"ID3" + bytes(64_000)
            page.set_input_files(
                "#upload-file",
                files=[{"name": "gruffalo.mp3", "mimeType": "audio/mpeg", "buffer": song}],
            )
            page.click("#upload-submit")
            expect(page.locator("#library-status")).to_have_text(
                "Added “The Gruffalo”. It can now go on a card.", timeout=30_000
            )

            # Straight to storage, through the preview's relay to the emulated account.
            assert any(u.startswith(f"http://127.0.0.1:{port}/_aws/") for u in puts), puts

            go_to(page, "cards")
            page.fill("#card-title", "Bedtime")
            page.get_by_role("button", name="Add The Gruffalo").click()
            page.click("#card-submit")
            expect(page.locator("#cards-status")).to_contain_text("Created “Bedtime”.")
            (card,) = yoto.content.values()
            (track,) = [t for c in card["content"]["chapters"] for t in c["tracks"]]
            # The track points at the preview itself, which streams from the emulated S3.
            assert track["trackUrl"].startswith(f"http://127.0.0.1:{port}/{ENV}/audio/")
            assert errors == []
        finally:
            preview.send_signal(signal.SIGINT)
            code = preview.wait(30)
            # The app's own log lines, shown by pytest when the test fails.
            print(preview.stdout.read() if preview.stdout else "")
        assert code == 0
