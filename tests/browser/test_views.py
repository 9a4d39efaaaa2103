"""Every view and error state, on a phone and on a desktop: fits the screen, comfortable tap
targets, plain words, and no serious or critical axe-core finding."""

from __future__ import annotations

import pytest
from playwright.sync_api import BrowserContext, expect

from tests.browser.conftest import FAKE_PLAYERS, Dashboard
from tests.browser.helpers import (
    VIEWPORTS,
    api_client,
    check_view,
    go_to,
    open_dashboard,
    seed_family,
    sign_in,
)


@pytest.mark.parametrize("viewport", list(VIEWPORTS))
def test_every_view_and_error_state(
    browser: BrowserContext, dashboard: Dashboard, viewport: str
) -> None:
    family = seed_family(dashboard)
    page, page_errors = open_dashboard(browser, dashboard, viewport)
    page.on("dialog", lambda dialog: dialog.accept())

    # Sign-in, then a wrong password (the error state of that view).
    expect(page.locator("#login-view")).to_be_visible()
    check_view(page, f"{viewport}: sign-in")
    sign_in(page, dashboard.admin_username, "not the password")
    expect(page.locator("#login-error")).to_be_visible()
    check_view(page, f"{viewport}: sign-in refused")

    sign_in(page, dashboard.admin_username, dashboard.admin_password)
    expect(page.locator("#players-list li.player")).to_have_count(len(FAKE_PLAYERS))
    check_view(page, f"{viewport}: players")
    kitchen = page.locator("li[data-player-id='player-kitchen']")
    kitchen.get_by_role("button", name="Recent activity").click()
    expect(kitchen.locator(".activity li").first).to_contain_text("Playing")
    check_view(page, f"{viewport}: players with activity")

    go_to(page, "library")
    unfinished = page.locator(f"#library-rows li[data-audio-id='{family.unfinished_id}']")
    expect(unfinished).to_contain_text("This upload didn't finish")
    wav = page.locator(f"#library-rows li[data-audio-id='{family.wav_id}']")
    expect(wav).to_contain_text("Can't go on a card")
    expect(wav.locator(".row-meta")).to_have_text("WAV · 8 KB")
    check_view(page, f"{viewport}: library")
    # A file a card cannot play is stopped before anything is sent.
    page.fill("#upload-title", "Recording")
    page.set_input_files(
        "#upload-file", files=[{"name": "song.wav", "mimeType": "audio/wav", "buffer": b"RIFF"}]
    )
    page.click("#upload-submit")
    expect(page.locator("#upload-file-error")).to_contain_text("This isn't an MP3 file.")
    check_view(page, f"{viewport}: library, wrong file type")

    go_to(page, "cards")
    expect(page.locator("#cards-rows li.row")).to_have_count(1)
    check_view(page, f"{viewport}: cards")
    page.get_by_role("button", name="Edit Bedtime").click()
    expect(page.locator("#card-chosen li")).to_have_count(2)
    check_view(page, f"{viewport}: cards, editing")
    page.click("#card-cancel")
    page.click("#card-submit")  # nothing chosen: the form says what is missing
    expect(page.locator("#card-form-error")).to_have_text("Give the card a title.")
    check_view(page, f"{viewport}: cards, incomplete form")

    go_to(page, "account")
    expect(page.locator("#account-linked")).to_be_visible()
    check_view(page, f"{viewport}: Yoto account linked")
    page.click("#auth-relink")
    expect(page.locator("#auth-code")).not_to_be_empty()
    check_view(page, f"{viewport}: Yoto account waiting for the code")

    go_to(page, "users")
    expect(page.locator("#users-rows li.row")).to_have_count(2)
    check_view(page, f"{viewport}: users")
    page.fill("#new-username", "No Capitals")
    page.click("#user-submit")
    expect(page.locator("#user-form-error")).to_be_visible()
    check_view(page, f"{viewport}: users, invalid form")

    # Yoto is down: the players view explains without status codes.
    dashboard.yoto.set_outage("down")
    go_to(page, "players")
    expect(page.locator("#players-status")).to_have_class("notice error")
    expect(page.locator("#players-list li")).to_have_count(0)
    check_view(page, f"{viewport}: players, Yoto down")
    # Yoto sends nonsense.
    dashboard.yoto.set_outage("garbage")
    page.click("#players-refresh")
    expect(page.locator("#players-status")).to_have_text(
        "Yoto sent an answer we couldn't read. Try again in a minute."
    )
    check_view(page, f"{viewport}: players, Yoto answers nonsense")
    dashboard.yoto.set_outage(None)

    # Not linked: the players view and the account view say what to do next.
    with api_client(dashboard) as api:
        api.post("/auth/disconnect").raise_for_status()
    go_to(page, "players")
    expect(page.locator("#players-status")).to_contain_text("No Yoto account is linked yet.")
    check_view(page, f"{viewport}: players, not linked")
    go_to(page, "account")
    expect(page.locator("#account-not-linked")).to_be_visible()
    check_view(page, f"{viewport}: Yoto account not linked")

    # A family member (not an admin) is told to ask an admin, with no button that would fail.
    page.click("#logout-button")
    sign_in(page, "grandma", "a long enough password")
    expect(page.locator("#session-user")).to_have_text("grandma")
    go_to(page, "account")
    expect(page.locator("#account-not-linked .ask-admin")).to_have_text(
        "Ask an admin to link the family's Yoto account."
    )
    expect(page.locator("#auth-start")).to_be_hidden()
    expect(page.locator("#tabs a[data-view='users']")).to_be_hidden()
    check_view(page, f"{viewport}: Yoto account, family member")
    assert page_errors == []
