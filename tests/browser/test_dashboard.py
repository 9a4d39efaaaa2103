"""The dashboard in a real browser: sign in, link Yoto, see and control the fake's players."""

from __future__ import annotations

import re

import httpx
from playwright.sync_api import BrowserContext, expect

from tests.browser.conftest import FAKE_PLAYERS, Dashboard
from tests.browser.helpers import (
    api_client,
    go_to,
    link_yoto,
    open_dashboard,
    player_reports,
    sign_in,
    upload_audio,
)
from tests.support.app_server import TEST_PUBLIC_URL
from tests.support.player_events import store_player_payload
from yoto_smart_stream.api.security import SESSION_COOKIE


def test_sign_in_link_yoto_and_control_the_fake_players(
    browser: BrowserContext, dashboard: Dashboard
) -> None:
    page, page_errors = open_dashboard(browser, dashboard)
    expect(page.locator("#login-view")).to_be_visible()

    sign_in(page, dashboard.admin_username, dashboard.admin_password)
    expect(page.locator("#session-user")).to_have_text(dashboard.admin_username)
    expect(page.locator("#login-view")).to_be_hidden()

    # The browser kept the session cookie with the production attributes.
    cookies = {c["name"]: c for c in browser.cookies()}
    assert SESSION_COOKIE in cookies, f"no session cookie stored: {sorted(cookies)}"
    session = cookies[SESSION_COOKIE]
    assert (session["httpOnly"], session["secure"], session["sameSite"]) == (True, True, "Lax")

    # No Yoto account yet: the players view says so and points at the account view.
    players_status = page.locator("#players-status")
    expect(players_status).to_contain_text("No Yoto account is linked yet.")
    expect(players_status).to_have_class("notice error")
    players_status.get_by_role("link", name=re.compile("Yoto account")).click()

    # Link the account through the device-code flow, as a parent would.
    expect(page.locator("#account-not-linked")).to_be_visible()
    page.click("#auth-start")
    user_code = page.locator("#auth-code")
    expect(user_code).not_to_be_empty()
    expect(page.locator("#account-status")).to_have_text(
        "Waiting for you to enter the code on Yoto's page…"
    )
    assert user_code.inner_text() in {
        c.user_code for c in dashboard.yoto.state.device_codes.values()
    }
    dashboard.yoto.approve_device_login(user_code.inner_text())
    page.click("#auth-poll")
    expect(page.locator("#account-linked")).to_be_visible()
    expect(page.locator("#account-linked h2")).to_have_text("Linked ✓")

    # The players are the fake cloud's, rendered as text (the markup-like name stays text).
    page.get_by_role("link", name="Go to players").click()
    names = page.locator("#players-list li.player h2")
    expect(names).to_have_text([p["name"] for p in FAKE_PLAYERS])
    assert page.locator("#players-list i").count() == 0

    # A control goes through the API to the fake Yoto cloud; feedback lands on that card.
    kitchen = page.locator("li[data-player-id='player-kitchen']")
    kitchen.get_by_role("button", name="Pause").click()
    expect(page.locator("li[data-player-id='player-kitchen'] .feedback")).to_contain_text(
        "Pause sent."
    )
    assert [(d, c) for d, c, _ in dashboard.yoto.commands] == [("player-kitchen", "card/pause")]

    # The session survives a reload (the Secure cookie really is sent back over loopback) ...
    page.reload()
    expect(page.locator("#session-user")).to_have_text(dashboard.admin_username)
    expect(names).to_have_count(len(FAKE_PLAYERS))

    # ... and signing out ends it for good.
    page.click("#logout-button")
    expect(page.locator("#login-view")).to_be_visible()
    page.reload()
    expect(page.locator("#login-view")).to_be_visible()
    expect(page.locator("#players-view")).to_be_hidden()
    assert page_errors == []


def test_wrong_password_shows_the_api_error_and_no_session(
    browser: BrowserContext, dashboard: Dashboard
) -> None:
    # What the API itself says about bad credentials (a different wrong password, same user).
    answer = httpx.post(
        f"{dashboard.api_url}/user/login",
        json={"username": dashboard.admin_username, "password": "not-" + dashboard.admin_password},
    )
    assert answer.status_code == 401
    api_message = answer.json()["detail"]

    page, page_errors = open_dashboard(browser, dashboard)
    sign_in(page, dashboard.admin_username, dashboard.admin_password + "-wrong")
    expect(page.locator("#login-error")).to_have_text(api_message)
    expect(page.locator("#login-error")).to_be_visible()
    expect(page.locator("#tabs")).to_be_hidden()
    assert SESSION_COOKIE not in {c["name"] for c in browser.cookies()}
    assert page_errors == []


def test_player_cards_show_the_state_yoto_reports(
    browser: BrowserContext, dashboard: Dashboard
) -> None:
    with api_client(dashboard) as api:
        link_yoto(dashboard, api)
    player_reports(
        dashboard,
        "player-kitchen",
        volume=35,
        playback="playing",
        track_title="The Gruffalo",
        battery=64,
        charging=True,
    )

    page, page_errors = open_dashboard(browser, dashboard)
    sign_in(page, dashboard.admin_username, dashboard.admin_password)
    kitchen = page.locator("li[data-player-id='player-kitchen']")
    expect(kitchen.locator(".volume-value")).to_have_text("35")
    expect(kitchen.get_by_role("slider", name="Volume")).to_have_value("35")
    expect(kitchen.locator(".playback")).to_have_text("Playing")
    expect(kitchen).to_contain_text("The Gruffalo")
    expect(kitchen).to_contain_text("Battery 64% (charging)")
    expect(kitchen.locator(".badge")).to_have_text("Online")

    # The offline player: every control disabled, and the card says why.
    den = page.locator("li[data-player-id='player-den']")
    expect(den.locator(".badge")).to_have_text("Offline")
    for name in ("Play", "Pause", "Stop"):
        expect(den.get_by_role("button", name=name)).to_be_disabled()
    expect(den.get_by_role("slider", name="Volume")).to_be_disabled()
    expect(den).to_contain_text("Controls come back when the player is switched on")

    # Pause: the card says it was sent, and once the player reports back it reads "Paused".
    kitchen.get_by_role("button", name="Pause").click()
    expect(kitchen.locator(".feedback")).to_contain_text("Pause sent.")
    assert dashboard.yoto.player_state("player-kitchen").playback == "paused"
    player_reports(dashboard, "player-kitchen")
    page.click("#players-refresh")
    expect(kitchen.locator(".playback")).to_have_text("Paused")

    # Volume from the slider reaches the player.
    slider = kitchen.get_by_role("slider", name="Volume")
    slider.fill("60")
    expect(kitchen.locator(".feedback")).to_contain_text("Volume set to 60.")
    assert dashboard.yoto.commands[-1] == ("player-kitchen", "volume/set", {"volume": 60})
    expect(kitchen.locator(".volume-value")).to_have_text("60")
    assert page_errors == []


def test_events_read_as_local_times_and_words(
    browser: BrowserContext, dashboard: Dashboard
) -> None:
    with api_client(dashboard) as api:
        link_yoto(dashboard, api)
    # 00:31 UTC on 26 November is 7:31 pm on 25 November in New York (the viewer's zone).
    dashboard.yoto.set_player_state("player-kitchen", playback="paused", volume=35)
    payload = {**dashboard.yoto.events_payload("player-kitchen"), "eventUtc": 1795653060}
    store_player_payload(dashboard.table_name, "player-kitchen", payload)

    page, page_errors = open_dashboard(browser, dashboard)
    sign_in(page, dashboard.admin_username, dashboard.admin_password)
    kitchen = page.locator("li[data-player-id='player-kitchen']")
    kitchen.get_by_role("button", name="Recent activity").click()
    activity = kitchen.locator(".activity li")
    expect(activity).to_have_count(1)
    expect(activity.first).to_have_text("Wed 25 Nov, 7:31 pm \u2013 Paused, volume 35")
    assert page_errors == []


def test_library_and_streaming_cards(browser: BrowserContext, dashboard: Dashboard) -> None:
    title = "Bedtime <b>story</b>"
    with api_client(dashboard) as api:
        link_yoto(dashboard, api)
        audio_id = upload_audio(api, title)

    page, page_errors = open_dashboard(browser, dashboard)
    page.on("dialog", lambda dialog: dialog.accept())  # the delete confirmation
    sign_in(page, dashboard.admin_username, dashboard.admin_password)
    expect(page.locator("#session-user")).to_have_text(dashboard.admin_username)

    go_to(page, "library")
    row = page.locator(f"#library-rows li[data-audio-id='{audio_id}']")
    expect(row.locator(".row-title")).to_have_text(title)
    expect(row.locator(".row-meta")).to_have_text("MP3 · 4 KB")
    expect(row.get_by_role("link", name="Listen")).to_have_attribute(
        "href", f"{TEST_PUBLIC_URL}/audio/{audio_id}"
    )
    assert page.locator("#library-rows b").count() == 0

    # A streaming card made in the dashboard becomes a Yoto MYO playlist pointing at our audio.
    go_to(page, "cards")
    page.fill("#card-title", "Bedtime")
    page.get_by_role("button", name=f"Add {title}").click()
    page.click("#card-submit")
    expect(page.locator("#cards-status")).to_contain_text("Created “Bedtime”.")
    cards = page.locator("#cards-rows li.row")
    expect(cards).to_have_count(1)
    expect(cards.first.locator(".track-list li")).to_have_text([title])
    expect(cards.first).to_contain_text("in the Yoto app under Library → Make Your Own")
    assert len(dashboard.yoto.content) == 1
    (playlist,) = dashboard.yoto.content.values()
    track_urls = [t["trackUrl"] for c in playlist["content"]["chapters"] for t in c["tracks"]]
    assert track_urls == [f"{TEST_PUBLIC_URL}/audio/{audio_id}"]

    cards.first.get_by_role("button", name="Delete Bedtime").click()
    expect(page.locator("#cards-status")).to_have_text("Deleted “Bedtime”.")
    expect(cards).to_have_count(0)
    assert dashboard.yoto.content == {}

    # Admins manage app users; the new user can sign in with the password set here.
    go_to(page, "users")
    page.fill("#new-username", "grandma")
    page.fill("#new-password", "a long enough password")
    page.click("#user-submit")
    expect(page.locator("#users-status")).to_have_text("Added grandma. They can sign in now.")
    expect(page.locator("#users-rows .row-title")).to_have_text(["admin (you)", "grandma"])
    grandma = httpx.post(
        f"{dashboard.api_url}/user/login",
        json={"username": "grandma", "password": "a long enough password"},
    )
    assert grandma.json() == {"username": "grandma", "role": "user"}
    assert page_errors == []
