"""Issue 12, items 4-6 and 9 over real HTTP: no echo and a body limit, no internals for
anonymous callers, ownership of audio and cards, a side-effect-free public stream, and an
OpenAPI document that says what the server does."""

from __future__ import annotations

import contextlib
import logging
import socket
import threading
import uuid
from contextlib import closing
from urllib.parse import parse_qs, urlsplit

import boto3
import httpx
import pytest

from tests.app.conftest import ADMIN_PASSWORD, Stack, stack_with
from tests.app.test_audio_and_cards import MP3, upload
from tests.app.test_yoto_and_players import write_event
from tests.support.app_server import app_env, create_app_resources, running_app_server
from tests.support.yoto_fake import FakeYoto
from yoto_smart_stream.core.storage import schema

KID_PASSWORD = "twelve chars!"


def raw_request(base_url: str, head: bytes, body: bytes) -> tuple[bytes, float]:
    """Send ``head`` and ``body`` on a plain socket; return the whole answer.

    The body goes out from a second thread while this one reads: a server that answers and
    closes without reading a large body makes the kernel reset the connection, and a client
    that only reads once it has sent everything can lose the answer to that reset.
    """
    parts = urlsplit(base_url)
    with socket.create_connection((parts.hostname, parts.port), timeout=20) as sock:
        sock.sendall(head)

        def send_body() -> None:
            # The server may answer and close without reading it all: that is the point.
            with contextlib.suppress(BrokenPipeError, ConnectionResetError, OSError):
                sock.sendall(body)

        sender = threading.Thread(target=send_body, daemon=True)
        sender.start()
        chunks = []
        while True:
            try:
                chunk = sock.recv(65536)
            except ConnectionResetError:
                break
            if not chunk:
                break
            chunks.append(chunk)
    sender.join(timeout=20)
    answer = b"".join(chunks)
    return answer, len(answer)


def test_a_422_never_echoes_the_password(stack: Stack) -> None:
    """The issue: a 422 for an over-long password repeated the password."""
    password = "hunter2-" + "p" * 2000
    response = stack.client().post(
        "/api/user/login", json={"username": "admin", "password": password}
    )
    assert response.status_code == 422
    assert "hunter2" not in response.text
    assert response.json()["detail"][0]["loc"] == ["body", "password"]
    assert "at most 1024 characters" in response.json()["detail"][0]["msg"]


def test_a_50_mib_body_gets_a_short_413(stack: Stack) -> None:
    """The issue: a 50 MiB login body came back as a 52 MB answer."""
    size = 50 * 1024 * 1024
    body = b'{"username": "admin", "password": "' + b"a" * (size - 40) + b'"}'
    head = (
        b"POST /api/user/login HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        b"Content-Type: application/json\r\nContent-Length: "
        + str(len(body)).encode()
        + b"\r\n\r\n"
    )
    answer, length = raw_request(stack.base_url, head, body)
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    assert b"larger than the 65536-byte limit" in answer
    assert length < 1024


def test_a_chunked_body_over_the_limit_is_413(stack: Stack) -> None:
    chunk = b"a" * 32768
    body = b"".join(b"%x\r\n%s\r\n" % (len(chunk), chunk) for _ in range(4)) + b"0\r\n\r\n"
    head = (
        b"POST /api/user/login HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        b"Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
    )
    answer, length = raw_request(stack.base_url, head, body)
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    assert length < 1024


def test_an_unreadable_secret_is_a_plain_503(
    aws_environ: dict[str, str], caplog: pytest.LogCaptureFixture
) -> None:
    """The issue: anyone saw the SSM parameter's name in the 503."""
    parameter = f"/yss-test/missing-{uuid.uuid4().hex[:8]}/admin-bootstrap-password"
    table, bucket = create_app_resources()
    env = app_env(
        table_name=table, bucket_name=bucket, admin_bootstrap_password_parameter=parameter
    )
    with caplog.at_level(logging.ERROR, "yoto_smart_stream"), running_app_server(env) as server:
        response = httpx.post(
            f"{server.base_url}/api/user/login", json={"username": "admin", "password": "x"}
        )
    assert response.status_code == 503
    assert response.json() == {
        "detail": "The admin bootstrap password cannot be read right now; try again shortly."
    }
    assert parameter not in response.text
    assert "ssm" not in response.text.lower()
    assert parameter in caplog.text  # the operator still learns which one


@pytest.fixture
def family(stack: Stack, admin: httpx.Client) -> dict[str, httpx.Client]:
    for name in ("kid", "sis"):
        body = {"username": name, "password": KID_PASSWORD}
        assert admin.post("/api/admin/users", json=body).status_code == 201
    return {"kid": stack.login("kid", KID_PASSWORD), "sis": stack.login("sis", KID_PASSWORD)}


def test_only_the_uploader_or_an_admin_deletes_audio(
    stack: Stack, admin: httpx.Client, family: dict[str, httpx.Client]
) -> None:
    kid, sis = family["kid"], family["sis"]
    mine = upload(kid)
    assert kid.post(f"/api/audio/{mine}/complete").status_code == 200
    refused = sis.delete(f"/api/audio/{mine}")
    assert refused.status_code == 403
    assert "uploader or an admin" in refused.json()["detail"]
    assert sis.post(f"/api/audio/{mine}/complete").status_code == 403
    assert [a["uploaded_by"] for a in sis.get("/api/audio").json()] == ["kid"]
    assert kid.delete(f"/api/audio/{mine}").status_code == 200
    theirs = upload(kid)
    assert admin.delete(f"/api/audio/{theirs}").status_code == 200
    assert admin.get("/api/audio").json() == []


def test_only_the_creator_or_an_admin_deletes_a_card(
    stack: Stack, admin: httpx.Client, family: dict[str, httpx.Client]
) -> None:
    stack.link_yoto()
    kid, sis = family["kid"], family["sis"]
    audio_id = upload(kid)
    assert kid.post(f"/api/audio/{audio_id}/complete").status_code == 200
    cards = []
    for _ in range(2):
        created = kid.post("/api/cards/streaming", json={"title": "t", "audio_ids": [audio_id]})
        assert created.status_code == 201, created.text
        cards.append(created.json()["card_id"])
    refused = sis.delete(f"/api/cards/streaming/{cards[0]}")
    assert refused.status_code == 403
    rewrite = {"title": "mine now", "audio_ids": [audio_id]}
    assert sis.put(f"/api/cards/streaming/{cards[0]}", json=rewrite).status_code == 403
    assert kid.put(f"/api/cards/streaming/{cards[0]}", json=rewrite).status_code == 200
    assert set(stack.yoto.content) == set(cards)  # nothing reached Yoto
    assert kid.delete(f"/api/cards/streaming/{cards[0]}").status_code == 200
    assert admin.delete(f"/api/cards/streaming/{cards[1]}").status_code == 200
    assert stack.yoto.content == {}


def audio_item(stack: Stack, audio_id: str) -> dict[str, object]:
    table = boto3.resource("dynamodb").Table(stack.table_name)
    return dict(table.get_item(Key=schema.audio_key(audio_id))["Item"])


def object_exists(stack: Stack, audio_id: str) -> bool:
    listed = boto3.client("s3").list_objects_v2(
        Bucket=stack.bucket_name, Prefix=f"audio/{audio_id}"
    )
    return bool(listed.get("Contents"))


def ticket(admin: httpx.Client, size: int, content_type: str = "audio/mpeg") -> str:
    body = {"filename": "a.mp3", "content_type": content_type, "size_bytes": size, "title": "t"}
    response = admin.post("/api/audio/uploads", json=body)
    assert response.status_code == 201, response.text
    return str(response.json()["audio_id"])


def test_the_public_stream_changes_nothing(aws_environ: dict[str, str], yoto: FakeYoto) -> None:
    """The issue: GET /audio/{id} marked uploads ready and deleted oversized objects."""
    with stack_with(yoto, max_upload_bytes="1000") as stack, closing(stack.login()) as admin:
        oversized = ticket(admin, 900)
        boto3.client("s3").put_object(
            Bucket=stack.bucket_name,
            Key=f"audio/{oversized}",
            Body=b"x" * 2000,
            ContentType="audio/mpeg",
        )
        assert httpx.get(f"{stack.base_url}/audio/{oversized}").status_code == 409
        assert object_exists(stack, oversized)  # an anonymous GET deletes nothing
        assert audio_item(stack, oversized)["status"] == "pending"

        good = upload(admin, MP3[:900])
        assert httpx.get(f"{stack.base_url}/audio/{good}").status_code == 307
        assert audio_item(stack, good)["status"] == "pending"  # and marks nothing ready


@pytest.mark.parametrize(
    ("stored", "content_type", "fragment"),
    [
        (b"x" * 3800, "audio/mpeg", "3800 bytes but 1000 were declared"),  # the case
        (b"x" * 1000, "text/html", "Content-Type is not the declared audio/mpeg"),
    ],
)
def test_complete_refuses_an_object_unlike_its_declaration(
    stack: Stack, admin: httpx.Client, stored: bytes, content_type: str, fragment: str
) -> None:
    audio_id = ticket(admin, 1000)
    # A client that ignores the signed headers (moto does not check them; real S3 does).
    boto3.client("s3").put_object(
        Bucket=stack.bucket_name, Key=f"audio/{audio_id}", Body=stored, ContentType=content_type
    )
    response = admin.post(f"/api/audio/{audio_id}/complete")
    assert response.status_code == 409
    assert fragment in response.json()["detail"]
    # Nothing removed: the uploader may PUT again or delete the audio.
    assert object_exists(stack, audio_id)
    assert audio_item(stack, audio_id)["status"] == "pending"
    assert httpx.get(f"{stack.base_url}/audio/{audio_id}").status_code == 409
    boto3.client("s3").put_object(
        Bucket=stack.bucket_name,
        Key=f"audio/{audio_id}",
        Body=b"y" * 1000,
        ContentType="audio/mpeg",
    )
    assert admin.post(f"/api/audio/{audio_id}/complete").json()["status"] == "ready"


def test_the_presigned_put_signs_length_and_type(admin: httpx.Client) -> None:
    """Real S3 refuses a PUT whose signed headers differ (SignatureDoesNotMatch); the moto
    server does not verify presigned signatures at all, hence the check in complete."""
    body = {"filename": "a.mp3", "content_type": "audio/mpeg", "size_bytes": 1000, "title": "t"}
    url = admin.post("/api/audio/uploads", json=body).json()["upload_url"]
    signed = parse_qs(urlsplit(url).query)["X-Amz-SignedHeaders"][0].split(";")
    assert {"content-length", "content-type", "host"} <= set(signed)


def test_wrong_method_on_a_known_path_is_405(stack: Stack) -> None:
    response = stack.client().put("/api/user/session")
    assert response.status_code == 405
    assert response.headers["allow"] == "GET"
    assert stack.client().put("/api/no-such-thing").status_code == 404


def openapi(stack: Stack) -> dict[str, object]:
    document = stack.server.app.openapi()
    assert isinstance(document, dict)
    return document


def test_openapi_documents_the_errors_the_server_gives(stack: Stack) -> None:
    paths = openapi(stack)["paths"]
    assert isinstance(paths, dict)
    documented = {
        (path, method): set(operation["responses"])
        for path, item in paths.items()
        for method, operation in item.items()
    }
    expected = {
        ("/api/user/login", "post"): {"401", "403", "413", "422", "429", "503"},
        ("/api/admin/users", "post"): {"401", "403", "409", "413", "422"},
        ("/api/admin/users/{username}", "delete"): {"401", "403", "404", "409"},
        ("/api/audio/{audio_id}/complete", "post"): {"401", "403", "404", "409"},
        ("/api/audio/{audio_id}", "delete"): {"401", "403", "404"},
        ("/audio/{audio_id}", "get"): {"307", "404", "409"},
        ("/api/players/{player_id}/events", "get"): {"401", "422", "503"},
        ("/api/cards/streaming/{card_id}", "delete"): {"401", "403", "404"},
    }
    for key, codes in expected.items():
        assert codes <= documented[key], (key, documented[key])
    login_429 = paths["/api/user/login"]["post"]["responses"]["429"]
    assert "Retry-After" in login_429["headers"]
    assert login_429["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/ErrorOut"
    }


def test_the_cursor_schema_is_exactly_what_the_server_accepts(
    stack: Stack, admin: httpx.Client
) -> None:
    """The issue: the schema allowed any 2,048 characters, the server answered 400."""
    paths = openapi(stack)["paths"]
    parameters = paths["/api/players/{player_id}/events"]["get"]["parameters"]  # type: ignore[index]
    cursor = next(p for p in parameters if p["name"] == "cursor")
    pattern = cursor["schema"]["anyOf"][0]["pattern"]
    assert pattern == r"^(?:[0-9a-f]{2}){1,128}$"
    write_event(stack.table_name, "kitchen1", "2026-11-25T07:00:00Z", 1)
    write_event(stack.table_name, "other9", "2026-11-25T07:00:00Z", 2)
    # Made-up cursors that fit the pattern are positions, never a way out of the player.
    for made_up in (b"USER#admin".hex(), "ff", "00" * 128, b"zz".hex()):
        response = admin.get("/api/players/kitchen1/events", params={"cursor": made_up})
        assert response.status_code == 200, (made_up, response.text)
        assert {e["player_id"] for e in response.json()["items"]} <= {"kitchen1"}


def test_the_volume_rule_is_in_the_schema(stack: Stack) -> None:
    document = openapi(stack)
    operation = document["paths"]["/api/players/{player_id}/control"]["post"]  # type: ignore[index]
    body = operation["requestBody"]["content"]["application/json"]["schema"]
    assert body["discriminator"]["propertyName"] == "action"
    schemas = document["components"]["schemas"]  # type: ignore[index]
    volume = schemas["VolumeControl"]
    assert volume["required"] == ["action", "volume"]
    assert volume["properties"]["volume"]["minimum"] == 0
    assert volume["properties"]["volume"]["maximum"] == 100
    playback = schemas["PlaybackControl"]
    assert playback["additionalProperties"] is False
    assert "volume" not in playback["properties"]


def test_admin_password_never_in_a_response(stack: Stack) -> None:
    stack.login().close()
    answer = stack.client().post(
        "/api/user/login", json={"username": "admin", "password": ADMIN_PASSWORD + "!"}
    )
    assert ADMIN_PASSWORD not in answer.text
