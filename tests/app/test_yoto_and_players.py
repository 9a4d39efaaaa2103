"""Yoto device-code linking, players, control, events and Yoto outages over real HTTP."""

from __future__ import annotations

import time
from contextlib import closing

import boto3
import httpx
import pytest

from tests.app.conftest import Stack, stack_with
from tests.support.moto_server import free_port
from tests.support.player_events import store_player_payload
from tests.support.yoto_fake import FakeYoto
from yoto_smart_stream.core.storage import schema

PLAYERS = [
    {"deviceId": "kitchen1", "name": "Kitchen", "online": True, "deviceType": "v3"},
    {"deviceId": "bedroom2", "name": "Bedroom", "online": False},
]


def test_device_code_flow_links_the_account(stack: Stack, admin: httpx.Client) -> None:
    assert admin.get("/api/auth/status").json() == {"linked": False, "state": "not_linked"}
    started = admin.post("/api/auth/start")
    assert started.status_code == 200
    body = started.json()
    assert body["user_code"]
    assert body["verification_uri"].startswith(stack.yoto.base_url)
    assert "device_code" not in body  # stays server-side

    # A reloaded dashboard can tell a login is waiting for its code.
    assert admin.get("/api/auth/status").json() == {"linked": False, "state": "waiting"}
    pending = admin.post("/api/auth/poll").json()
    assert pending["status"] == "authorization_pending"
    stack.yoto.force_poll_outcomes("slow_down")
    slow = admin.post("/api/auth/poll").json()
    assert slow["status"] == "slow_down"
    assert slow["interval"] == body["interval"] + 5

    stack.yoto.approve_device_login(body["user_code"])
    linked = admin.post("/api/auth/poll").json()
    assert linked["status"] == "linked"
    assert admin.get("/api/auth/status").json() == {"linked": True, "state": "linked"}
    item = boto3.resource("dynamodb").Table(stack.table_name).get_item(Key=schema.tokens_key())
    assert item["Item"]["access_token"] in stack.yoto.valid_access_tokens()
    # The login is finished: another poll has nothing to poll.
    assert admin.post("/api/auth/poll").status_code == 409


def test_expired_device_code_asks_to_start_again(stack: Stack, admin: httpx.Client) -> None:
    admin.post("/api/auth/start")
    stack.yoto.expire_device_codes()
    expired = admin.post("/api/auth/poll").json()
    assert expired["status"] == "expired_token"
    assert "start the Yoto login again" in expired["message"]
    assert admin.post("/api/auth/poll").status_code == 409


def test_players_need_a_linked_account(stack: Stack, admin: httpx.Client) -> None:
    response = admin.get("/api/players")
    assert response.status_code == 409
    assert "No Yoto account is linked" in response.json()["detail"]


def test_players_list_detail_and_control(stack: Stack, admin: httpx.Client) -> None:
    stack.link_yoto()
    stack.yoto.set_players(PLAYERS)
    stack.yoto.set_status("kitchen1", {"userVolumePercentage": 40, "activeCard": "none"})
    players = admin.get("/api/players").json()
    assert [(p["id"], p["name"], p["online"], p["device_type"]) for p in players] == [
        ("kitchen1", "Kitchen", True, "v3"),
        ("bedroom2", "Bedroom", False, None),
    ]
    assert players[0]["volume"] == 40
    detail = admin.get("/api/players/kitchen1").json()
    assert detail["status"]["userVolumePercentage"] == 40

    stack.yoto.set_player_state("kitchen1", playback="playing", card_id="abc")
    assert admin.post("/api/players/kitchen1/control", json={"action": "pause"}).status_code == 200
    volume = admin.post("/api/players/kitchen1/control", json={"action": "volume", "volume": 55})
    assert volume.json() == {"status": "sent", "action": "volume"}
    assert stack.yoto.commands == [
        ("kitchen1", "card/pause", {}),
        ("kitchen1", "volume/set", {"volume": 55}),
    ]


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ({"action": "volume", "volume": 101}, "less than or equal to 100"),
        ({"action": "volume", "volume": -1}, "greater than or equal to 0"),
        ({"action": "volume", "volume": "50"}, "valid integer"),
        ({"action": "volume"}, "Field required"),
        ({"action": "pause", "volume": 3}, "Extra inputs are not permitted"),
        ({"action": "explode"}, "'play', 'pause', 'stop', 'volume'"),
        ([], "valid dictionary"),
    ],
)
def test_control_input_is_validated(
    stack: Stack, admin: httpx.Client, body: object, fragment: str
) -> None:
    stack.link_yoto()
    stack.yoto.set_players(PLAYERS)
    response = admin.post("/api/players/kitchen1/control", json=body)
    assert response.status_code == 422
    assert fragment in response.text
    assert stack.yoto.commands == []


def test_unknown_and_malicious_player_ids(stack: Stack, admin: httpx.Client) -> None:
    stack.link_yoto()
    stack.yoto.set_players(PLAYERS)
    unknown = admin.get("/api/players/nosuchplayer")
    assert unknown.status_code == 404
    assert "No player" in unknown.json()["detail"]
    for bad in ("a.b", "...", "a%20b", "x" * 65):
        response = admin.get(f"/api/players/{bad}")
        assert response.status_code == 422, bad
        assert "pattern" in response.text
    # Plain dot segments are resolved by the client (no such route: JSON 404); encoded ones
    # reach the id pattern (422). Either way nothing is read or sent.
    for dots in ("..", "%2E%2E"):
        response = admin.get(f"/api/players/{dots}/events")
        assert response.status_code in (404, 422), dots
        assert response.json()["detail"]
    traversal = admin.post("/api/players/..%2F..%2Fcontent/control", json={"action": "stop"})
    assert traversal.status_code == 404
    assert stack.yoto.commands == []


@pytest.mark.parametrize(("outage", "status"), [("down", 503), ("error", 503), ("hang", 503)])
def test_yoto_outage_is_a_clear_503(
    stack: Stack, admin: httpx.Client, outage: str, status: int
) -> None:
    stack.link_yoto()
    stack.yoto.set_outage(outage, hang_seconds=3)  # type: ignore[arg-type]
    response = admin.get("/api/players")
    assert response.status_code == status
    assert "Yoto" in response.json()["detail"]


def test_yoto_unreachable_is_503(aws_environ: dict[str, str], yoto: FakeYoto) -> None:
    unreachable = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    with stack_with(yoto, yoto_api_base_url=unreachable) as stack, closing(stack.login()) as client:
        stack.link_yoto()
        response = client.get("/api/players")
        assert response.status_code == 503
        assert response.json()["detail"] == "Yoto is unreachable; try again shortly."


def test_yoto_garbage_is_502(stack: Stack, admin: httpx.Client) -> None:
    stack.link_yoto()
    stack.yoto.set_players([{"no": "deviceId"}])  # filtered out, not a crash
    assert admin.get("/api/players").json() == []
    stack.yoto.set_outage("garbage")
    response = admin.get("/api/players")
    assert response.status_code == 502
    assert response.json()["detail"] == "Yoto answered with something that is not JSON."


def test_revoked_refresh_token_asks_to_link_again(stack: Stack, admin: httpx.Client) -> None:
    stack.link_yoto()
    stack.yoto.revoke_refresh_tokens()
    stack.yoto.revoke_access_tokens()
    response = admin.get("/api/players")
    assert response.status_code == 409
    assert "link the Yoto account again" in response.json()["detail"]


def test_expiring_token_is_refreshed_by_a_request(stack: Stack, admin: httpx.Client) -> None:
    stack.link_yoto(expires_in=30)  # inside the refresh margin
    stack.yoto.set_players(PLAYERS)
    assert admin.get("/api/players").status_code == 200
    assert stack.yoto.refresh_uses == 1
    assert admin.get("/api/players").status_code == 200
    assert stack.yoto.refresh_uses == 1  # the new token is stored and reused


def write_event(table_name: str, player_id: str, event_utc: str, volume: int) -> None:
    """Write an event item exactly as the MQTT handler does (schema module keys)."""
    topic = f"device/{player_id}/data/events"
    payload = f'{{"volume": {volume}}}'.encode()
    boto3.resource("dynamodb").Table(table_name).put_item(
        Item={
            **schema.event_key(player_id, event_utc, schema.event_digest(topic, payload)),
            "player_id": player_id,
            "event_utc": event_utc,
            "topic": topic,
            "kind": "events",
            "data": {"volume": volume},
            "received_at": event_utc,
            schema.TTL_ATTRIBUTE: int(time.time()) + schema.EVENT_TTL_SECONDS,
        }
    )


def test_events_are_newest_first_and_paginated(stack: Stack, admin: httpx.Client) -> None:
    for minute in range(5):
        write_event(stack.table_name, "kitchen1", f"2026-11-25T07:0{minute}:00Z", minute)
    write_event(stack.table_name, "bedroom2", "2026-11-25T08:00:00Z", 99)
    first = admin.get("/api/players/kitchen1/events", params={"limit": 2}).json()
    assert [e["data"]["volume"] for e in first["items"]] == [4, 3]
    assert first["items"][0]["kind"] == "events"
    second = admin.get(
        "/api/players/kitchen1/events", params={"limit": 2, "cursor": first["next_cursor"]}
    ).json()
    assert [e["data"]["volume"] for e in second["items"]] == [2, 1]
    third = admin.get(
        "/api/players/kitchen1/events", params={"limit": 2, "cursor": second["next_cursor"]}
    ).json()
    assert [e["data"]["volume"] for e in third["items"]] == [0]
    assert third["next_cursor"] is None


@pytest.mark.parametrize(
    ("params", "status", "fragment"),
    [
        # The schema's pattern is the whole rule: anything else is a 422 before any query.
        ({"cursor": "not-a-cursor"}, 422, "String should match pattern"),
        ({"cursor": "eyJzayI6ICJVU0VSI2FkbWluIn0"}, 422, "String should match pattern"),
        ({"cursor": "ab" * 129}, 422, "String should match pattern"),
        ({"limit": 0}, 422, "greater than or equal to 1"),
        ({"limit": "many"}, 422, "valid integer"),
    ],
)
def test_events_input_is_validated(
    admin: httpx.Client, params: dict[str, str | int], status: int, fragment: str
) -> None:
    response = admin.get("/api/players/kitchen1/events", params=params)
    assert response.status_code == status
    assert fragment in response.text


def test_player_state_comes_from_yoto_status_and_the_mqtt_handler(
    stack: Stack, admin: httpx.Client
) -> None:
    stack.link_yoto()
    stack.yoto.set_players(PLAYERS)
    stack.yoto.set_player_state(
        "kitchen1",
        volume=35,
        playback="playing",
        card_id="card42",
        chapter_title="Chapter one",
        track_title="The Gruffalo",
        battery=64,
        charging=True,
    )
    # Before the MQTT handler has heard anything: REST status only, playback unknown.
    before = {p["id"]: p for p in admin.get("/api/players").json()}
    assert (before["kitchen1"]["volume"], before["kitchen1"]["playback"]) == (35, None)
    assert before["kitchen1"]["battery_percent"] == 64

    store_player_payload(stack.table_name, "kitchen1", stack.yoto.events_payload("kitchen1"))
    kitchen = {p["id"]: p for p in admin.get("/api/players").json()}["kitchen1"]
    assert kitchen["volume"] == 35
    assert kitchen["playback"] == "playing"
    assert kitchen["card_id"] == "card42"
    assert kitchen["track_title"] == "The Gruffalo"
    assert kitchen["chapter_title"] == "Chapter one"
    assert (kitchen["battery_percent"], kitchen["charging"], kitchen["online"]) == (64, True, True)
    assert kitchen["heard_at"]
    detail = admin.get("/api/players/kitchen1").json()
    assert (detail["volume"], detail["playback"]) == (35, "playing")

    # A volume command changes what the player reports.
    admin.post("/api/players/kitchen1/control", json={"action": "volume", "volume": 20})
    assert admin.get("/api/players/kitchen1").json()["volume"] == 20


def test_one_players_failed_status_does_not_hide_the_list(
    stack: Stack, admin: httpx.Client
) -> None:
    stack.link_yoto()
    stack.yoto.set_players(PLAYERS)
    stack.yoto.set_player_state("kitchen1", volume=35)
    stack.yoto.fail_status_of("bedroom2")
    players = {p["id"]: p for p in admin.get("/api/players").json()}
    assert (players["kitchen1"]["status_available"], players["kitchen1"]["volume"]) == (True, 35)
    assert (players["bedroom2"]["status_available"], players["bedroom2"]["volume"]) == (False, None)


def test_offline_player_refuses_commands_in_plain_words(stack: Stack, admin: httpx.Client) -> None:
    stack.link_yoto()
    stack.yoto.set_players(PLAYERS)
    response = admin.post("/api/players/bedroom2/control", json={"action": "play"})
    assert response.status_code == 409
    assert response.json()["detail"] == (
        "Bedroom is offline, so it cannot hear this. Switch it on and try again."
    )
    assert stack.yoto.commands == []


def test_disconnect_forgets_the_yoto_account(stack: Stack, admin: httpx.Client) -> None:
    stack.link_yoto()
    assert admin.get("/api/auth/status").json()["state"] == "linked"
    assert admin.post("/api/auth/disconnect").json() == {"linked": False}
    assert admin.get("/api/auth/status").json() == {"linked": False, "state": "not_linked"}
    assert admin.get("/api/players").status_code == 409


def test_auth_messages_name_no_api_paths(stack: Stack, admin: httpx.Client) -> None:
    response = admin.post("/api/auth/poll")
    assert response.status_code == 409
    assert "/api/" not in response.json()["detail"]
    assert "Start linking the Yoto account again" in response.json()["detail"]
