"""Flows a parent walks through: uploading (with progress, failure, retry and remove), ordering a
card's tracks, managing users, and the Yoto account's states."""

from __future__ import annotations

import re

import boto3
from playwright.sync_api import BrowserContext, Dialog, Page, expect

from tests.browser.conftest import Dashboard
from tests.browser.helpers import (
    api_client,
    check_view,
    go_to,
    link_yoto,
    open_dashboard,
    sign_in,
    upload_audio,
)
from tests.support.app_server import TEST_PUBLIC_URL


def signed_in_page(browser: BrowserContext, dashboard: Dashboard) -> tuple[Page, list[str]]:
    page, page_errors = open_dashboard(browser, dashboard)
    sign_in(page, dashboard.admin_username, dashboard.admin_password)
    expect(page.locator("#session-user")).to_have_text(dashboard.admin_username)
    return page, page_errors


def stored_objects(dashboard: Dashboard) -> list[str]:
    listing = boto3.client("s3").list_objects_v2(Bucket=dashboard.bucket_name)
    return [o["Key"] for o in listing.get("Contents", [])]


def test_upload_shows_progress_and_a_failed_upload_can_be_retried_or_removed(
    browser: BrowserContext, dashboard: Dashboard, aws_environ: dict[str, str]
) -> None:
    storage = aws_environ["AWS_ENDPOINT_URL"]
    page, page_errors = signed_in_page(browser, dashboard)
    go_to(page, "library")
    # A slow line (Chromium's own throttling), so the progress can be seen while it runs.
    cdp = browser.new_cdp_session(page)
    cdp.send("Network.enable")
    cdp.send(
        "Network.emulateNetworkConditions",
        {"offline": False, "latency": 0, "downloadThroughput": -1, "uploadThroughput": 256_000},
    )
    song = b"ID3" + bytes(1_200_000)
    page.fill("#upload-title", "The Gruffalo")
    page.set_input_files(
        "#upload-file", files=[{"name": "gruffalo.mp3", "mimeType": "audio/mpeg", "buffer": song}]
    )
    page.click("#upload-submit")
    expect(page.locator("#upload-progress-row")).to_be_visible()
    expect(page.locator("#upload-submit")).to_be_disabled()
    expect(page.locator("#upload-progress-text")).to_have_text(re.compile(r"^([1-9]|[1-9]\d)%$"))
    midway = page.locator("#upload-progress").evaluate("p => p.value")
    assert 0 < midway < 100
    expect(page.locator("#library-status")).to_have_text(
        "Added “The Gruffalo”. It can now go on a card.", timeout=30_000
    )
    expect(page.locator("#upload-progress-row")).to_be_hidden()
    expect(page.locator("#upload-submit")).to_be_enabled()
    expect(page.locator("#library-rows li.row:not(.failed)")).to_have_count(1)
    cdp.send(
        "Network.emulateNetworkConditions",
        {"offline": False, "latency": 0, "downloadThroughput": -1, "uploadThroughput": -1},
    )
    assert len(stored_objects(dashboard)) == 1  # the browser reached plain-http storage

    # Storage cannot be reached (Chromium blocks its address): the row explains itself.
    cdp.send("Network.setBlockedURLs", {"urls": [f"{storage}/*"]})
    page.fill("#upload-title", "Room on the Broom")
    page.set_input_files(
        "#upload-file",
        files=[{"name": "broom.mp3", "mimeType": "audio/mpeg", "buffer": b"ID3" + bytes(2048)}],
    )
    page.click("#upload-submit")
    expect(page.locator("#library-status")).to_have_text(
        "The file didn't reach storage. Check your connection, then press Retry on the row below."
    )
    failed = page.locator("#library-rows li.row.failed")
    expect(failed).to_have_count(1)
    expect(failed).to_contain_text("Room on the Broom")
    expect(failed).to_contain_text("This upload didn't finish, so it can't be played yet.")
    expect(failed.get_by_role("button", name="Retry uploading Room on the Broom")).to_be_visible()
    expect(failed.get_by_role("button", name="Remove Room on the Broom")).to_be_visible()
    check_view(page, "library with a failed upload")

    # Retry, once storage can be reached again: the same file, without choosing it again.
    cdp.send("Network.setBlockedURLs", {"urls": []})
    failed.get_by_role("button", name="Retry uploading Room on the Broom").click()
    expect(page.locator("#library-status")).to_have_text(
        "Added “Room on the Broom”. It can now go on a card."
    )
    expect(page.locator("#library-rows li.row.failed")).to_have_count(0)
    expect(page.locator("#library-rows .row-title")).to_have_text(
        ["Room on the Broom", "The Gruffalo"]
    )

    # An unfinished upload from another time (no file in this page) can be removed.
    with api_client(dashboard) as api:
        upload_audio(api, "Lullabies", complete=False)
    go_to(page, "library")
    stale = page.locator("#library-rows li.row.failed")
    expect(stale).to_contain_text("Lullabies")
    stale.get_by_role("button", name="Retry uploading Lullabies").click()
    expect(page.locator("#library-status")).to_contain_text("Choose the file for “Lullabies” again")
    expect(page.locator("#upload-title")).to_have_value("Lullabies")
    stale.get_by_role("button", name="Remove Lullabies").click()
    expect(page.locator("#library-status")).to_have_text("Removed “Lullabies”.")
    expect(page.locator("#library-rows li.row")).to_have_count(2)
    assert page_errors == []


def test_card_tracks_keep_the_order_chosen_on_the_card_yoto_receives(
    browser: BrowserContext, dashboard: Dashboard
) -> None:
    titles = ["Chapter one", "Chapter two", "Chapter three"]
    with api_client(dashboard) as api:
        link_yoto(dashboard, api)
        ids = dict(zip(titles, (upload_audio(api, t) for t in titles), strict=True))
    page, page_errors = signed_in_page(browser, dashboard)
    page.on("dialog", lambda dialog: dialog.accept())
    go_to(page, "cards")

    page.fill("#card-title", "Story time")
    for title in ("Chapter three", "Chapter one", "Chapter two"):
        page.get_by_role("button", name=f"Add {title}").click()
    page.get_by_role("button", name="Move Chapter two up").click()  # three, two, one
    expect(page.locator("#card-chosen .track-name")).to_have_text(
        ["1. Chapter three", "2. Chapter two", "3. Chapter one"]
    )
    page.click("#card-submit")
    expect(page.locator("#cards-status")).to_contain_text("Created “Story time”.")

    def yoto_order() -> list[str]:
        (card,) = dashboard.yoto.content.values()
        return [t["trackUrl"] for c in card["content"]["chapters"] for t in c["tracks"]]

    expected = [
        f"{TEST_PUBLIC_URL}/audio/{ids[t]}" for t in ("Chapter three", "Chapter two", "Chapter one")
    ]
    assert yoto_order() == expected
    row = page.locator("#cards-rows li.row")
    expect(row.locator(".track-list li")).to_have_text(
        ["Chapter three", "Chapter two", "Chapter one"]
    )
    expect(row).to_contain_text("in the Yoto app under Library → Make Your Own")

    # Edit: reorder, drop one, rename; the same Yoto card is rewritten in the new order.
    (card_id,) = dashboard.yoto.content
    row.get_by_role("button", name="Edit Story time").click()
    page.get_by_role("button", name="Move Chapter one up").click()
    page.get_by_role("button", name="Move Chapter one up").click()  # one, three, two
    page.get_by_role("button", name="Remove Chapter three from the card").click()
    page.fill("#card-title", "Story time (short)")
    page.click("#card-submit")
    expect(page.locator("#cards-status")).to_contain_text("Saved “Story time (short)”.")
    assert list(dashboard.yoto.content) == [card_id]
    assert yoto_order() == [
        f"{TEST_PUBLIC_URL}/audio/{ids[t]}" for t in ("Chapter one", "Chapter two")
    ]
    expect(row.locator(".track-list li")).to_have_text(["Chapter one", "Chapter two"])
    assert page_errors == []


def test_users_rules_confirm_before_disable_and_enable_again(
    browser: BrowserContext, dashboard: Dashboard
) -> None:
    page, page_errors = signed_in_page(browser, dashboard)
    go_to(page, "users")
    # The rules sit beside their fields and are announced with them.
    form = page.locator("#user-form")
    username = form.get_by_label("Username")
    expect(username).to_have_accessible_description(re.compile("2 to 32 characters"))
    expect(page.locator("#new-username-rule")).to_be_visible()
    expect(form.get_by_label("Password")).to_have_accessible_description(
        re.compile("At least 12 characters")
    )
    username.fill("grandma")
    form.get_by_label("Password").fill("short")
    page.click("#user-submit")
    expect(page.locator("#user-form-error")).to_have_text(
        "The password needs at least 12 characters."
    )
    form.get_by_label("Password").fill("a long enough password")
    page.click("#user-submit")
    expect(page.locator("#users-status")).to_have_text("Added grandma. They can sign in now.")

    questions: list[str] = []
    answers = iter([False, True])

    def answer(dialog: Dialog) -> None:
        questions.append(dialog.message)
        if next(answers):
            dialog.accept()
        else:
            dialog.dismiss()

    page.on("dialog", answer)
    grandma = page.locator("#users-rows li[data-username='grandma']")
    grandma.get_by_role("button", name="Disable grandma").click()  # dismissed: nothing changes
    expect(grandma.locator(".user-state")).to_have_text("Family member · Active")
    grandma.get_by_role("button", name="Disable grandma").click()  # accepted
    expect(page.locator("#users-status")).to_have_text("Disabled grandma.")
    expect(grandma.locator(".user-state")).to_have_text("Family member · Disabled: can't sign in")
    assert (
        questions
        == ["Disable grandma? They are signed out and can't sign in until you enable them again."]
        * 2
    )

    grandma.get_by_role("button", name="Enable grandma").click()  # no question to enable
    expect(page.locator("#users-status")).to_have_text("Enabled grandma. They can sign in again.")
    expect(grandma.locator(".user-state")).to_have_text("Family member · Active")
    assert len(questions) == 2
    assert page_errors == []


def test_yoto_account_disconnect_and_relink(browser: BrowserContext, dashboard: Dashboard) -> None:
    with api_client(dashboard) as api:
        link_yoto(dashboard, api)
    page, page_errors = signed_in_page(browser, dashboard)
    page.on("dialog", lambda dialog: dialog.accept())
    go_to(page, "account")
    linked = page.locator("#account-linked")
    expect(linked.get_by_role("heading")).to_have_text("Linked ✓")
    expect(linked.get_by_role("button", name="Link again")).to_be_visible()
    linked.get_by_role("button", name="Disconnect").click()
    expect(page.locator("#account-status")).to_have_text("The Yoto account is disconnected.")
    expect(page.locator("#account-not-linked")).to_be_visible()
    with api_client(dashboard) as api:
        assert api.get("/auth/status").json()["state"] == "not_linked"

    # A reload while a link is waiting shows the waiting state, with one way forward.
    page.click("#auth-start")
    expect(page.locator("#auth-code")).not_to_be_empty()
    page.reload()
    expect(page.locator("#account-waiting")).to_be_visible()
    expect(page.locator("#auth-restart-hint")).to_be_visible()
    page.click("#auth-restart")
    code = page.locator("#auth-code")
    expect(code).not_to_be_empty()
    dashboard.yoto.approve_device_login(code.inner_text())
    page.click("#auth-poll")
    expect(linked).to_be_visible()
    assert page_errors == []
