"""The audio library: presigned uploads straight to S3, list, delete, public streaming.

Uploads never pass through Lambda (its payloads are capped at 6 MB): the API hands out a
presigned PUT whose signature covers the declared content type and length, and checks the
object's real size with HeadObject before the audio is used.
"""

from __future__ import annotations

import time
import uuid
from typing import Annotated, Any

from botocore.exceptions import ClientError
from fastapi import APIRouter, HTTPException, Path, status
from fastapi.responses import RedirectResponse
from pydantic import BaseModel, Field

from yoto_smart_stream.aws import AwsClients
from yoto_smart_stream.config import Settings
from yoto_smart_stream.dependencies import AudioStoreDep, AwsDep, CurrentUser, SettingsDep
from yoto_smart_stream.storage.library import AudioStore

router = APIRouter(tags=["audio"])

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


class Deleted(BaseModel):
    status: str


def object_key(audio_id: str) -> str:
    return f"audio/{audio_id}"


def stream_url(settings: Settings, audio_id: str) -> str:
    return f"{settings.public_url.rstrip('/')}/audio/{audio_id}"


def _audio(settings: Settings, item: dict[str, Any]) -> Audio:
    return Audio(**item, stream_url=stream_url(settings, item["audio_id"]))


def ensure_uploaded(
    settings: Settings, aws: AwsClients, audio: AudioStore, item: dict[str, Any]
) -> dict[str, Any]:
    """Confirm a pending upload reached S3 within the size limit; mark it ready.

    Raises 409 while the object is missing and 413 (deleting it) when it is too large.
    """
    if item["status"] == "ready":
        return item
    try:
        head = aws.s3.head_object(Bucket=settings.s3_audio_bucket, Key=object_key(item["audio_id"]))
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
            raise HTTPException(
                status.HTTP_409_CONFLICT, "The audio has not been uploaded yet."
            ) from exc
        raise
    size = int(head["ContentLength"])
    if size > settings.max_upload_bytes:
        aws.s3.delete_object(Bucket=settings.s3_audio_bucket, Key=object_key(item["audio_id"]))
        raise HTTPException(
            status.HTTP_413_CONTENT_TOO_LARGE,
            f"The uploaded file is {size} bytes; the limit is {settings.max_upload_bytes}.",
        )
    audio.mark_ready(item["audio_id"], size)
    return {**item, "status": "ready", "size_bytes": size}


def _get_or_404(audio: AudioStore, audio_id: str) -> dict[str, Any]:
    item = audio.get(audio_id)
    if item is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"No audio {audio_id!r}.")
    return item


@router.post("/api/audio/uploads", response_model=UploadTicket, status_code=status.HTTP_201_CREATED)
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
            f"Content type {body.content_type!r} is not accepted; use one of "
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


@router.post("/api/audio/{audio_id}/complete", response_model=Audio)
def complete_upload(
    audio_id: AudioId, user: CurrentUser, settings: SettingsDep, aws: AwsDep, audio: AudioStoreDep
) -> Audio:
    """Call after the PUT: verifies the object and marks the audio ready."""
    item = _get_or_404(audio, audio_id)
    return _audio(settings, ensure_uploaded(settings, aws, audio, item))


@router.get("/api/audio", response_model=list[Audio])
def list_audio(user: CurrentUser, settings: SettingsDep, audio: AudioStoreDep) -> list[Audio]:
    items = sorted(audio.list(), key=lambda i: i.get("created_at", 0), reverse=True)
    return [_audio(settings, i) for i in items]


@router.delete("/api/audio/{audio_id}", response_model=Deleted)
def delete_audio(
    audio_id: AudioId, user: CurrentUser, settings: SettingsDep, aws: AwsDep, audio: AudioStoreDep
) -> Deleted:
    _get_or_404(audio, audio_id)
    # Object first: a failure leaves the item, so the delete can simply be retried.
    aws.s3.delete_object(Bucket=settings.s3_audio_bucket, Key=object_key(audio_id))
    audio.delete(audio_id)
    return Deleted(status="deleted")


@router.get(
    "/audio/{audio_id}",
    response_class=RedirectResponse,
    status_code=status.HTTP_307_TEMPORARY_REDIRECT,
    responses={307: {"description": "to a short-lived presigned S3 GET"}},
)
def stream_audio(
    audio_id: AudioId, settings: SettingsDep, aws: AwsDep, audio: AudioStoreDep
) -> RedirectResponse:
    """Public: Yoto players fetch trackUrl without our cookie."""
    item = ensure_uploaded(settings, aws, audio, _get_or_404(audio, audio_id))
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
