"""Regenerate the README's dashboard screenshots (phone and desktop) from a seeded family.

    uv run python -m tests.browser.screenshots

Runs everything the browser tests run (moto server, the fake Yoto cloud, the app on
127.0.0.1, headless Chromium) and writes ``docs/screenshots/dashboard-{phone,desktop}.png``.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from tempfile import TemporaryDirectory

from playwright.sync_api import expect, sync_playwright

from tests.browser.conftest import FAKE_PLAYERS, launch_browser, running_dashboard
from tests.browser.helpers import go_to, seed_family, sign_in
from tests.support.moto_server import aws_env, patched_environ, running_moto_server

OUTPUT = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
# A common phone size (the tests also check 360 px) and a laptop.
SHOTS = {"phone": (390, 844), "desktop": (1280, 800)}
# The tests' player names include one that looks like markup; the README shows a family's.
SHOWN_NAMES = {"player-kitchen": "Kitchen", "player-den": "Den", "player-bedroom": "Bedroom"}


def main(argv: list[str]) -> int:
    """``--every-view DIR`` also writes each view at each size into DIR (for reviewing)."""
    every_view = Path(argv[argv.index("--every-view") + 1]) if "--every-view" in argv else None
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # the moto server's request log
    OUTPUT.mkdir(parents=True, exist_ok=True)
    with (
        running_moto_server() as endpoint,
        patched_environ(aws_env(endpoint)),
        running_dashboard() as dashboard,
        sync_playwright() as driver,
        TemporaryDirectory() as profile,
    ):
        dashboard.yoto.set_players(
            [{**p, "name": SHOWN_NAMES[p["deviceId"]]} for p in FAKE_PLAYERS]
        )
        seed_family(dashboard)
        context = launch_browser(driver, Path(profile))
        try:
            for name, (width, height) in SHOTS.items():
                page = context.new_page()
                page.set_viewport_size({"width": width, "height": height})
                page.goto(dashboard.url)
                if page.locator("#login-view").is_visible():
                    sign_in(page, dashboard.admin_username, dashboard.admin_password)
                expect(page.locator("#players-list li.player")).to_have_count(3)
                target = OUTPUT / f"dashboard-{name}.png"
                page.screenshot(path=str(target))
                print(
                    f"{target.relative_to(OUTPUT.parents[1])}: {target.stat().st_size // 1024} KB"
                )
                if every_view is not None:
                    every_view.mkdir(parents=True, exist_ok=True)
                    for view in ("library", "cards", "account", "users"):
                        go_to(page, view)
                        page.screenshot(path=str(every_view / f"{view}-{name}.png"), full_page=True)
                page.close()
        finally:
            context.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
