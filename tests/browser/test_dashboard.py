"""The dashboard in a real browser: sign in, link Yoto, see and control the fake's players."""

from __future__ import annotations

import httpx
from playwright.sync_api import BrowserContext, Page, expect

from tests.browser.conftest import FAKE_PLAYERS, Dashboard
from tests.support.app_server import TEST_PUBLIC_URL
from yoto_smart_stream.security import SESSION_COOKIE


def open_dashboard(browser: BrowserContext, dashboard: Dashboard) -> tuple[Page, list[str]]:
    """A page on the dashboard, plus the JavaScript errors it raises (must stay empty)."""
    page = browser.new_page()
    page_errors: list[str] = []
    page.on("pageerror", lambda error: page_errors.append(str(error)))
    page.goto(dashboard.url)
    return page, page_errors


def sign_in(page: Page, username: str, password: str) -> None:
    page.fill("#login-username", username)
    page.fill("#login-password", password)
    page.click("#login-submit")


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

    # No Yoto account yet: the players view shows the API's 409 message.
    players_status = page.locator("#players-status")
    expect(players_status).to_contain_text("No Yoto account is linked")
    expect(players_status).to_have_class("status error")

    # Link the account through the device-code flow, as a parent would.
    page.click("nav >> text=Yoto account")
    expect(page.locator("#account-status")).to_have_text("No Yoto account is linked yet.")
    page.click("#auth-start")
    user_code = page.locator("#auth-code")
    expect(user_code).not_to_be_empty()
    assert user_code.inner_text() in {
        c.user_code for c in dashboard.yoto.state.device_codes.values()
    }
    dashboard.yoto.approve_device_login(user_code.inner_text())
    page.click("#auth-poll")
    expect(page.locator("#account-status")).to_have_text("The Yoto account is linked.")

    # The players are the fake cloud's, rendered as text (the markup-like name stays text).
    page.click("nav >> text=Players")
    names = page.locator("#players-list li h3")
    expect(names).to_have_text([p["name"] for p in FAKE_PLAYERS])
    assert page.locator("#players-list i").count() == 0

    # A control goes through the API to the fake Yoto cloud.
    kitchen = page.locator("li[data-player-id='player-kitchen']")
    kitchen.get_by_role("button", name="pause").click()
    expect(page.locator("#players-status")).to_have_text("Kitchen: pause sent.")
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
    expect(page.locator("#app-view")).to_be_hidden()
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
    expect(page.locator("#app-view")).to_be_hidden()
    assert SESSION_COOKIE not in {c["name"] for c in browser.cookies()}
    assert page_errors == []


def seed_over_api(dashboard: Dashboard, title: str, audio: bytes) -> str:
    """Link Yoto and upload one MP3 through the API, as the dashboard would; return its id."""
    with httpx.Client(base_url=dashboard.api_url) as api:
        login = api.post(
            "/user/login",
            json={"username": dashboard.admin_username, "password": dashboard.admin_password},
        )
        login.raise_for_status()
        # httpx keeps Secure cookies for https only; send the session cookie explicitly.
        api.headers["Cookie"] = f"{SESSION_COOKIE}={login.cookies[SESSION_COOKIE]}"

        api.post("/auth/start").raise_for_status()
        dashboard.yoto.approve_device_login()
        assert api.post("/auth/poll").json()["status"] == "linked"

        ticket = api.post(
            "/audio/uploads",
            json={
                "filename": "bedtime.mp3",
                "content_type": "audio/mpeg",
                "size_bytes": len(audio),
                "title": title,
            },
        )
        ticket.raise_for_status()
        grant = ticket.json()
        httpx.put(grant["upload_url"], content=audio, headers=grant["headers"]).raise_for_status()
        api.post(f"/audio/{grant['audio_id']}/complete").raise_for_status()
        return str(grant["audio_id"])


def test_library_and_streaming_cards(browser: BrowserContext, dashboard: Dashboard) -> None:
    title = "Bedtime <b>story</b>"
    audio_id = seed_over_api(dashboard, title, b"ID3" + bytes(2048))

    page, page_errors = open_dashboard(browser, dashboard)
    page.on("dialog", lambda dialog: dialog.accept())  # the delete confirmation
    sign_in(page, dashboard.admin_username, dashboard.admin_password)
    expect(page.locator("#session-user")).to_have_text(dashboard.admin_username)

    page.click("nav >> text=Library")
    row = page.locator(f"#library-rows tr[data-audio-id='{audio_id}']")
    expect(row.locator("td").first).to_have_text(title)
    expect(row.get_by_role("link", name="Listen")).to_have_attribute(
        "href", f"{TEST_PUBLIC_URL}/audio/{audio_id}"
    )
    assert page.locator("#library-rows b").count() == 0

    # A streaming card made in the dashboard becomes a Yoto MYO playlist pointing at our audio.
    page.click("nav >> text=Cards")
    page.fill("#card-title", "Bedtime")
    page.locator(f"#card-audio-choices input[value='{audio_id}']").check()
    page.click("#card-form button[type=submit]")
    expect(page.locator("#cards-status")).to_have_text("Card created.")
    cards = page.locator("#cards-rows tr")
    expect(cards).to_have_count(1)
    assert len(dashboard.yoto.content) == 1
    (playlist,) = dashboard.yoto.content.values()
    track_urls = [t["trackUrl"] for c in playlist["content"]["chapters"] for t in c["tracks"]]
    assert track_urls == [f"{TEST_PUBLIC_URL}/audio/{audio_id}"]

    cards.first.get_by_role("button", name="Delete").click()
    expect(page.locator("#cards-status")).to_have_text('Deleted "Bedtime".')
    expect(cards).to_have_count(0)
    assert dashboard.yoto.content == {}

    # Admins manage app users; the new user can sign in with the password set here.
    page.click("nav >> text=Users")
    page.fill("#new-username", "grandma")
    page.fill("#new-password", "a long enough password")
    page.click("#user-form button[type=submit]")
    expect(page.locator("#users-status")).to_have_text("Added grandma.")
    expect(page.locator("#users-rows tr td:first-child")).to_have_text(["admin", "grandma"])
    grandma = httpx.post(
        f"{dashboard.api_url}/user/login",
        json={"username": "grandma", "password": "a long enough password"},
    )
    assert grandma.json() == {"username": "grandma", "role": "user"}
    assert page_errors == []
