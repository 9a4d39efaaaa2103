"""What the browser tests (and the README screenshots) share: seeding over the API as the
dashboard would, signing in, and the checks every view must pass."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import httpx
from playwright.sync_api import BrowserContext, Page, expect

from tests.browser.conftest import Dashboard
from tests.support.player_events import store_player_payload
from yoto_smart_stream.api.security import SESSION_COOKIE

# Phone (the narrowest width the dashboard supports) and desktop.
VIEWPORTS = {"phone": {"width": 360, "height": 740}, "desktop": {"width": 1280, "height": 800}}
MIN_TAP_PX = 44
# Words a parent should never read: API paths, status codes, file-type names.
JARGON = [
    re.compile(r"/api/"),
    re.compile(r"\bHTTP "),
    re.compile(r"\b(audio|video|application|text|image)/[a-z0-9.+-]+", re.IGNORECASE),
]
MP3 = b"ID3" + bytes(4096)


@contextmanager
def api_client(
    dashboard: Dashboard, username: str = "", password: str = ""
) -> Iterator[httpx.Client]:
    """An API session as that user (the admin unless given)."""
    with httpx.Client(base_url=dashboard.api_url, timeout=30) as client:
        yield _signed_in(client, dashboard, username, password)


def _signed_in(
    client: httpx.Client, dashboard: Dashboard, username: str, password: str
) -> httpx.Client:
    login = client.post(
        "/user/login",
        json={
            "username": username or dashboard.admin_username,
            "password": password or dashboard.admin_password,
        },
    )
    login.raise_for_status()
    # httpx keeps Secure cookies for https only; send the session cookie explicitly.
    client.headers["Cookie"] = f"{SESSION_COOKIE}={login.cookies[SESSION_COOKIE]}"
    return client


def link_yoto(dashboard: Dashboard, api: httpx.Client) -> None:
    api.post("/auth/start").raise_for_status()
    dashboard.yoto.approve_device_login()
    assert api.post("/auth/poll").json()["status"] == "linked"


def upload_audio(
    api: httpx.Client,
    title: str,
    data: bytes = MP3,
    content_type: str = "audio/mpeg",
    *,
    complete: bool = True,
) -> str:
    """Upload as the dashboard does (ticket, PUT to storage, complete); return the audio id."""
    ticket = api.post(
        "/audio/uploads",
        json={
            "filename": "file",
            "content_type": content_type,
            "size_bytes": len(data),
            "title": title,
        },
    )
    ticket.raise_for_status()
    grant = ticket.json()
    if complete:
        httpx.put(grant["upload_url"], content=data, headers=grant["headers"]).raise_for_status()
        api.post(f"/audio/{grant['audio_id']}/complete").raise_for_status()
    return str(grant["audio_id"])


def player_reports(dashboard: Dashboard, device_id: str, **state: Any) -> None:
    """The player's state changes and it publishes its events payload, which the MQTT
    handler's own code stores."""
    if state:
        dashboard.yoto.set_player_state(device_id, **state)
    store_player_payload(dashboard.table_name, device_id, dashboard.yoto.events_payload(device_id))


def open_dashboard(
    browser: BrowserContext, dashboard: Dashboard, viewport: str = "desktop"
) -> tuple[Page, list[str]]:
    """A page on the dashboard, plus the JavaScript errors it raises (must stay empty)."""
    page = browser.new_page()
    page.set_viewport_size(VIEWPORTS[viewport])  # type: ignore[arg-type]
    page_errors: list[str] = []
    page.on("pageerror", lambda error: page_errors.append(str(error)))
    page.goto(dashboard.url)
    return page, page_errors


def sign_in(page: Page, username: str, password: str) -> None:
    page.fill("#login-username", username)
    page.fill("#login-password", password)
    page.click("#login-submit")


def go_to(page: Page, view: str) -> None:
    page.locator(f"#tabs a[data-view='{view}']").click()
    expect(page.locator(f"#{view}-view")).to_be_visible()
    # Loading notices go away (or turn into the view's message) before the view is judged.
    expect(page.locator(f"#{view}-status")).not_to_have_text(re.compile(r"^(Loading|Checking)"))


def check_view(page: Page, what: str) -> None:
    """Fits the width, every control is a comfortable tap target, no jargon, and axe finds
    no serious or critical problem."""
    width = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
    assert width[0] <= width[1], f"{what}: the page is {width[0]} px wide on a {width[1]} px screen"

    small = page.evaluate(
        """(minimum) => [...document.querySelectorAll(
              'button, a[href], input, select, textarea, summary')]
            .filter((node) => node.checkVisibility() && !node.closest('.skip-link'))
            .map((node) => [node, node.getBoundingClientRect()])
            .filter(([node, box]) => !node.classList.contains('skip-link')
                                     && (box.width < minimum || box.height < minimum))
            .map(([node, box]) => `${node.tagName.toLowerCase()} "${
                (node.innerText || node.getAttribute('aria-label') || node.id || '').trim()
              }" ${Math.round(box.width)}x${Math.round(box.height)}`)""",
        MIN_TAP_PX,
    )
    assert small == [], f"{what}: tap targets under {MIN_TAP_PX} px: {small}"

    text = page.evaluate("document.body.innerText")
    for pattern in JARGON:
        found = pattern.search(text)
        assert found is None, f"{what}: jargon {found.group(0)!r} in the visible text:\n{text}"

    result = page.evaluate(
        """async () => {
            const outcome = await axe.run(document, {resultTypes: ['violations']});
            return outcome.violations
              .filter((v) => v.impact === 'serious' || v.impact === 'critical')
              .map((v) => `${v.id} (${v.impact}): ${v.help} at ${
                  v.nodes.map((n) => n.target.join(' ')).join(', ')}`);
        }"""
    )
    assert result == [], f"{what}: axe found serious or critical problems: {result}"


@dataclass(frozen=True)
class Family:
    """What ``seed_family`` made, for tests to point at."""

    mp3_ids: list[str]
    wav_id: str
    unfinished_id: str
    card_id: str


def seed_family(dashboard: Dashboard) -> Family:
    """A lived-in account: players doing things, a library with every kind of row, a card
    and a second user."""
    with api_client(dashboard) as api:
        link_yoto(dashboard, api)
        mp3_ids = [upload_audio(api, t) for t in ("The Gruffalo", "Room on the Broom")]
        wav_id = upload_audio(api, "Birthday song (recording)", b"RIFF" + bytes(8192), "audio/wav")
        unfinished_id = upload_audio(api, "Lullabies", complete=False)
        card = api.post(
            "/cards/streaming", json={"title": "Bedtime", "audio_ids": list(reversed(mp3_ids))}
        )
        card.raise_for_status()
        api.post(
            "/admin/users", json={"username": "grandma", "password": "a long enough password"}
        ).raise_for_status()
    player_reports(
        dashboard,
        "player-kitchen",
        volume=35,
        playback="playing",
        card_id=card.json()["card_id"],
        track_title="Room on the Broom",
        battery=64,
        charging=True,
    )
    player_reports(
        dashboard,
        "player-bedroom",
        volume=20,
        playback="paused",
        track_title="The Gruffalo",
        battery=90,
    )
    return Family(mp3_ids, wav_id, unfinished_id, str(card.json()["card_id"]))
