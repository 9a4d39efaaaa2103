"""Audio library (presigned S3 upload/download through moto) and streaming cards."""

from __future__ import annotations

from contextlib import closing

import boto3
import httpx
import pytest

from tests.app.conftest import Stack, stack_with
from tests.support.app_server import TEST_PUBLIC_URL
from tests.support.yoto_fake import FakeYoto

MP3 = b"ID3" + bytes(range(256)) * 8


def upload(admin: httpx.Client, data: bytes = MP3, content_type: str = "audio/mpeg") -> str:
    ticket = admin.post(
        "/api/audio/uploads",
        json={
            "filename": "song.mp3",
            "content_type": content_type,
            "size_bytes": len(data),
            "title": "A song",
        },
    )
    assert ticket.status_code == 201, ticket.text
    body = ticket.json()
    assert body["method"] == "PUT"
    put = httpx.put(body["upload_url"], content=data, headers=body["headers"])
    assert put.status_code == 200, put.text
    return str(body["audio_id"])


def test_upload_complete_list_stream_delete(stack: Stack, admin: httpx.Client) -> None:
    audio_id = upload(admin)
    pending = admin.get("/api/audio").json()
    assert [(a["audio_id"], a["status"]) for a in pending] == [(audio_id, "pending")]
    done = admin.post(f"/api/audio/{audio_id}/complete").json()
    assert done["status"] == "ready"
    assert done["size_bytes"] == len(MP3)
    assert done["stream_url"] == f"{TEST_PUBLIC_URL}/audio/{audio_id}"

    # Public: a player has no cookie.
    redirect = httpx.get(f"{stack.base_url}/audio/{audio_id}")
    assert redirect.status_code == 307
    fetched = httpx.get(redirect.headers["location"])
    assert fetched.content == MP3
    assert fetched.headers["content-type"] == "audio/mpeg"

    assert admin.delete(f"/api/audio/{audio_id}").json() == {"status": "deleted"}
    assert admin.get("/api/audio").json() == []
    assert httpx.get(f"{stack.base_url}/audio/{audio_id}").status_code == 404
    objects = boto3.client("s3").list_objects_v2(Bucket=stack.bucket_name).get("Contents", [])
    assert objects == []


def test_download_before_upload_is_409(stack: Stack, admin: httpx.Client) -> None:
    ticket = admin.post(
        "/api/audio/uploads",
        json={"filename": "a.mp3", "content_type": "audio/mpeg", "size_bytes": 10, "title": "t"},
    ).json()
    response = httpx.get(f"{stack.base_url}/audio/{ticket['audio_id']}")
    assert response.status_code == 409
    assert "not been uploaded" in response.json()["detail"]


def test_object_larger_than_declared_is_refused_and_kept(
    aws_environ: dict[str, str], yoto: FakeYoto
) -> None:
    with stack_with(yoto, max_upload_bytes="1000") as stack, closing(stack.login()) as admin:
        ticket = admin.post(
            "/api/audio/uploads",
            json={
                "filename": "a.mp3",
                "content_type": "audio/mpeg",
                "size_bytes": 900,
                "title": "t",
            },
        ).json()
        # A client that ignores the signed length (or an emulator that does not check it).
        boto3.client("s3").put_object(
            Bucket=stack.bucket_name,
            Key=f"audio/{ticket['audio_id']}",
            Body=b"x" * 2000,
            ContentType="audio/mpeg",
        )
        response = admin.post(f"/api/audio/{ticket['audio_id']}/complete")
        assert response.status_code == 409
        assert "2000 bytes but 900 were declared" in response.json()["detail"]
        # Kept until its uploader deletes it (which removes object and item) or uploads again.
        listed = boto3.client("s3").list_objects_v2(Bucket=stack.bucket_name)
        assert len(listed.get("Contents", [])) == 1
        assert admin.delete(f"/api/audio/{ticket['audio_id']}").status_code == 200
        listed = boto3.client("s3").list_objects_v2(Bucket=stack.bucket_name)
        assert listed.get("Contents", []) == []


@pytest.mark.parametrize(
    ("body", "status", "fragment"),
    [
        (
            {
                "filename": "a.mp3",
                "content_type": "audio/mpeg",
                "size_bytes": 300 * 1024**2,
                "title": "t",
            },
            413,
            "limit is",
        ),
        (
            {
                "filename": "a.exe",
                "content_type": "application/x-msdownload",
                "size_bytes": 10,
                "title": "t",
            },
            415,
            "not accepted",
        ),
        (
            {"filename": "a.mp3", "content_type": "audio/mpeg", "size_bytes": "10", "title": "t"},
            422,
            "valid integer",
        ),
        (
            {"filename": "a.mp3", "content_type": "audio/mpeg", "size_bytes": 0, "title": "t"},
            422,
            "greater than 0",
        ),
        (
            {
                "filename": "../../etc/passwd",
                "content_type": "audio/mpeg",
                "size_bytes": 10,
                "title": "t",
            },
            422,
            "pattern",
        ),
        ({"content_type": "audio/mpeg", "size_bytes": 10, "title": "t"}, 422, "Field required"),
    ],
)
def test_upload_requests_are_validated(
    stack: Stack, admin: httpx.Client, body: dict[str, object], status: int, fragment: str
) -> None:
    response = admin.post("/api/audio/uploads", json=body)
    assert response.status_code == status
    assert fragment in response.text
    assert admin.get("/api/audio").json() == []  # nothing half-created


def test_audio_ids_are_validated(stack: Stack, admin: httpx.Client) -> None:
    unknown = "0" * 32
    assert admin.delete(f"/api/audio/{unknown}").status_code == 404
    assert httpx.get(f"{stack.base_url}/audio/{unknown}").status_code == 404
    for bad in ("..%2F..%2Fsecret", "%2E%2E", "ABC", "0" * 31 + "g"):
        response = httpx.get(f"{stack.base_url}/audio/{bad}")
        assert response.status_code in (404, 422), bad
        assert response.json()["detail"]
    assert admin.delete("/api/audio/..%2Fx").status_code in (404, 422)
    malformed = admin.post(
        "/api/audio/uploads", content=b'{"filename": ', headers={"content-type": "application/json"}
    )
    assert malformed.status_code == 422


def completed(admin: httpx.Client, content_type: str = "audio/mpeg") -> str:
    audio_id = upload(admin, content_type=content_type)
    assert admin.post(f"/api/audio/{audio_id}/complete").status_code == 200
    return audio_id


def test_streaming_card_round_trip(stack: Stack, admin: httpx.Client) -> None:
    stack.link_yoto()
    first, second = completed(admin), completed(admin)
    created = admin.post(
        "/api/cards/streaming", json={"title": "Bedtime", "audio_ids": [first, second]}
    )
    assert created.status_code == 201, created.text
    card = created.json()
    content = stack.yoto.content[card["card_id"]]
    assert content["title"] == "Bedtime"
    tracks = [c["tracks"][0] for c in content["content"]["chapters"]]
    assert tracks == [
        {
            "key": "01",
            "title": "A song",
            "type": "stream",
            "format": "mp3",
            "trackUrl": f"{TEST_PUBLIC_URL}/audio/{first}",
        },
        {
            "key": "02",
            "title": "A song",
            "type": "stream",
            "format": "mp3",
            "trackUrl": f"{TEST_PUBLIC_URL}/audio/{second}",
        },
    ]
    assert [c["card_id"] for c in admin.get("/api/cards/streaming").json()] == [card["card_id"]]
    assert admin.delete(f"/api/cards/streaming/{card['card_id']}").status_code == 200
    assert stack.yoto.content == {}
    assert admin.get("/api/cards/streaming").json() == []
    assert admin.delete(f"/api/cards/streaming/{card['card_id']}").status_code == 404


def test_card_needs_known_uploaded_mp3(stack: Stack, admin: httpx.Client) -> None:
    stack.link_yoto()
    missing = admin.post("/api/cards/streaming", json={"title": "x", "audio_ids": ["0" * 32]})
    assert missing.status_code == 404
    ogg = upload(admin, content_type="audio/ogg")
    wrong = admin.post("/api/cards/streaming", json={"title": "x", "audio_ids": [ogg]})
    assert wrong.status_code == 422
    assert "need audio/mpeg" in wrong.json()["detail"]
    pending = upload(admin)
    incomplete = admin.post("/api/cards/streaming", json={"title": "x", "audio_ids": [pending]})
    assert incomplete.status_code == 409
    assert "is not complete" in incomplete.json()["detail"]
    empty = admin.post("/api/cards/streaming", json={"title": "x", "audio_ids": []})
    assert empty.status_code == 422
    traversal = admin.post("/api/cards/streaming", json={"title": "x", "audio_ids": ["../x"]})
    assert traversal.status_code == 422
    assert stack.yoto.content == {}


def test_card_creation_when_yoto_is_down_is_503_and_stores_nothing(
    stack: Stack, admin: httpx.Client
) -> None:
    stack.link_yoto()
    audio_id = completed(admin)
    stack.yoto.set_outage("down")
    response = admin.post("/api/cards/streaming", json={"title": "x", "audio_ids": [audio_id]})
    assert response.status_code == 503
    stack.yoto.set_outage(None)
    assert admin.get("/api/cards/streaming").json() == []
