"""The audio library: presigned uploads straight to S3, list, delete, public streaming.

Uploads never pass through Lambda (its payloads are capped at 6 MB): the API hands out a
presigned PUT whose signature covers the declared content type and length
(``X-Amz-SignedHeaders=content-length;content-type;host``), so real S3 refuses a PUT of any
other length or type. ``complete`` checks the stored object anyway (HeadObject: size and
Content-Type must equal what was declared) before the audio is marked ready, because an
emulator, or a client holding other credentials, may not honour the signature.

Only the uploader or an admin may complete or delete an audio item. The public
``GET /audio/{id}`` changes nothing: it serves ready audio, and a pending upload only when
the stored object already passes the same check ``complete`` makes.
"""

from __future__ import annotations

import time
import uuid
from typing import Annotated, Any

from botocore.exceptions import ClientError
from fastapi import APIRouter, HTTPException, Path, status
from fastapi.responses import RedirectResponse
from pydantic import BaseModel, Field

from yoto_smart_stream.api.dependencies import AudioStoreDep, AwsDep, CurrentUser, SettingsDep
from yoto_smart_stream.api.errors import error_responses
from yoto_smart_stream.core.aws import AwsClients
from yoto_smart_stream.core.settings import Settings
from yoto_smart_stream.core.storage.library import AudioStore
from yoto_smart_stream.core.storage.users import UserRecord

router = APIRouter(tags=["audio"], responses=error_responses(503))

AUDIO_ID_PATTERN = r"^[0-9a-f]{32}$"
AudioId = Annotated[str, Path(pattern=AUDIO_ID_PATTERN, description="32 hex characters")]


class UploadRequest(BaseModel):
    filename: str = Field(min_length=1, max_length=255, pattern=r"^[^/\\\x00-\x1f]+$")
    content_type: str = Field(min_length=1, max_length=100)
    size_bytes: int = Field(gt=0, strict=True)
    title: str = Field(min_length=1, max_length=200)


class UploadTicket(BaseModel):
    audio_id: str
    upload_url: str
    method: str = "PUT"
    headers: dict[str, str]
    expires_in: int


class Audio(BaseModel):
    audio_id: str
    title: str
    filename: str
    content_type: str
    size_bytes: int
    status: str
    created_at: int
    stream_url: str
    uploaded_by: str | None = None


class Deleted(BaseModel):
    status: str


def object_key(audio_id: str) -> str:
    return f"audio/{audio_id}"


def stream_url(settings: Settings, audio_id: str) -> str:
    return f"{settings.public_url.rstrip('/')}/audio/{audio_id}"


def _audio(settings: Settings, item: dict[str, Any]) -> Audio:
    return Audio(**item, stream_url=stream_url(settings, item["audio_id"]))


def verify_upload(settings: Settings, aws: AwsClients, item: dict[str, Any]) -> int:
    """The stored object's size, if it is exactly what was declared; 409 if it is missing or
    differs. Reads only: a bad object is left where it is (the uploader may PUT again or
    delete the audio)."""
    try:
        head = aws.s3.head_object(Bucket=settings.s3_audio_bucket, Key=object_key(item["audio_id"]))
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
            raise HTTPException(
                status.HTTP_409_CONFLICT, "The audio has not been uploaded yet."
            ) from exc
        raise
    size = int(head["ContentLength"])
    if size != int(item["size_bytes"]):
        raise HTTPException(
            status.HTTP_409_CONFLICT,
            f"The stored file is {size} bytes but {item['size_bytes']} were declared; "
            "upload it again or delete the audio.",
        )
    stored_type = str(head.get("ContentType", "")).split(";")[0].strip().lower()
    if stored_type != item["content_type"]:
        raise HTTPException(
            status.HTTP_409_CONFLICT,
            f"The stored file's Content-Type is not the declared {item['content_type']}; "
            "upload it again or delete the audio.",
        )
    return size


def may_change(user: UserRecord, owner: object) -> bool:
    """The owner (uploader or creator) or an admin. Items without an owner: admins only."""
    return user.role == "admin" or (isinstance(owner, str) and owner == user.username)


def _owned_or_403(user: UserRecord, item: dict[str, Any], what: str) -> None:
    if not may_change(user, item.get("uploaded_by")):
        raise HTTPException(
            status.HTTP_403_FORBIDDEN, f"Only its uploader or an admin may {what} this audio."
        )


def _get_or_404(audio: AudioStore, audio_id: str) -> dict[str, Any]:
    item = audio.get(audio_id)
    if item is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"No audio {audio_id!r}.")
    return item


@router.post(
    "/api/audio/uploads",
    response_model=UploadTicket,
    status_code=status.HTTP_201_CREATED,
    responses=error_responses(400, 401, 403, 413, 415),
)
def create_upload(
    body: UploadRequest,
    user: CurrentUser,
    settings: SettingsDep,
    aws: AwsDep,
    audio: AudioStoreDep,
) -> UploadTicket:
    content_type = body.content_type.lower()
    if content_type not in settings.allowed_audio_content_types:
        raise HTTPException(
            status.HTTP_415_UNSUPPORTED_MEDIA_TYPE,
            "That content type is not accepted; use one of "
            f"{', '.join(settings.allowed_audio_content_types)}.",
        )
    if body.size_bytes > settings.max_upload_bytes:
        raise HTTPException(
            status.HTTP_413_CONTENT_TOO_LARGE,
            f"The file is {body.size_bytes} bytes; the limit is {settings.max_upload_bytes}.",
        )
    audio_id = uuid.uuid4().hex
    upload_url = aws.s3.generate_presigned_url(
        "put_object",
        Params={
            "Bucket": settings.s3_audio_bucket,
            "Key": object_key(audio_id),
            "ContentType": content_type,
            "ContentLength": body.size_bytes,
        },
        ExpiresIn=settings.upload_url_expiry_seconds,
    )
    audio.put(
        audio_id,
        {
            "title": body.title,
            "filename": body.filename,
            "content_type": content_type,
            "size_bytes": body.size_bytes,
            "status": "pending",
            "created_at": int(time.time()),
            "uploaded_by": user.username,
        },
    )
    return UploadTicket(
        audio_id=audio_id,
        upload_url=upload_url,
        headers={"Content-Type": content_type},
        expires_in=settings.upload_url_expiry_seconds,
    )


@router.post(
    "/api/audio/{audio_id}/complete",
    response_model=Audio,
    responses=error_responses(401, 403, 404, 409),
)
def complete_upload(
    audio_id: AudioId, user: CurrentUser, settings: SettingsDep, aws: AwsDep, audio: AudioStoreDep
) -> Audio:
    """Call after the PUT: checks the stored object against the declared size and type, then
    marks the audio ready. A mismatch is a 409 that removes nothing."""
    item = _get_or_404(audio, audio_id)
    _owned_or_403(user, item, "complete")
    if item["status"] != "ready":
        size = verify_upload(settings, aws, item)
        audio.mark_ready(audio_id, size)
        item = {**item, "status": "ready", "size_bytes": size}
    return _audio(settings, item)


@router.get("/api/audio", response_model=list[Audio], responses=error_responses(401))
def list_audio(user: CurrentUser, settings: SettingsDep, audio: AudioStoreDep) -> list[Audio]:
    items = sorted(audio.list(), key=lambda i: i.get("created_at", 0), reverse=True)
    return [_audio(settings, i) for i in items]


@router.delete(
    "/api/audio/{audio_id}",
    response_model=Deleted,
    responses=error_responses(401, 403, 404),
)
def delete_audio(
    audio_id: AudioId, user: CurrentUser, settings: SettingsDep, aws: AwsDep, audio: AudioStoreDep
) -> Deleted:
    _owned_or_403(user, _get_or_404(audio, audio_id), "delete")
    # Object first: a failure leaves the item, so the delete can simply be retried.
    aws.s3.delete_object(Bucket=settings.s3_audio_bucket, Key=object_key(audio_id))
    audio.delete(audio_id)
    return Deleted(status="deleted")


@router.get(
    "/audio/{audio_id}",
    response_class=RedirectResponse,
    status_code=status.HTTP_307_TEMPORARY_REDIRECT,
    responses={
        307: {"description": "to a short-lived presigned S3 GET"},
        **error_responses(404, 409),
    },
)
def stream_audio(
    audio_id: AudioId, settings: SettingsDep, aws: AwsDep, audio: AudioStoreDep
) -> RedirectResponse:
    """Public (Yoto players fetch trackUrl without our cookie), so it writes nothing."""
    item = _get_or_404(audio, audio_id)
    if item["status"] != "ready":
        verify_upload(settings, aws, item)
    url = aws.s3.generate_presigned_url(
        "get_object",
        Params={
            "Bucket": settings.s3_audio_bucket,
            "Key": object_key(audio_id),
            "ResponseContentType": item["content_type"],
        },
        ExpiresIn=settings.download_url_expiry_seconds,
    )
    return RedirectResponse(url, status_code=status.HTTP_307_TEMPORARY_REDIRECT)
