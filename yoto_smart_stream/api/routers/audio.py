"""The audio library: presigned uploads straight to S3, list, delete, public streaming.

``core.audio_library.AudioLibrary`` owns the audio items and their S3 objects (the presigned
PUT, the check of the stored object before the audio is ready, the presigned GET). Only the
uploader or an admin may complete or delete an audio item. The public ``GET /audio/{id}``
changes nothing: it serves ready audio, and a pending upload only when the stored object
already passes the same check ``complete`` makes.
"""

from __future__ import annotations

import time
import uuid
from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, status
from fastapi.responses import RedirectResponse
from pydantic import BaseModel, Field

from yoto_smart_stream.api.dependencies import (
    AudioLibraryDep,
    AudioStoreDep,
    CurrentUser,
    SettingsDep,
)
from yoto_smart_stream.api.errors import error_responses
from yoto_smart_stream.api.ownership import may_change
from yoto_smart_stream.core.audio_library import AudioNotReadyError, stream_url
from yoto_smart_stream.core.settings import Settings
from yoto_smart_stream.core.storage.library import AUDIO_ID_PATTERN, AudioRecord, AudioStore
from yoto_smart_stream.core.storage.users import UserRecord

router = APIRouter(tags=["audio"], responses=error_responses(503))

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


def _audio(settings: Settings, audio: AudioRecord) -> Audio:
    return Audio(
        audio_id=audio.audio_id,
        title=audio.title,
        filename=audio.filename,
        content_type=audio.content_type,
        size_bytes=audio.size_bytes,
        status=audio.status,
        created_at=audio.created_at,
        stream_url=stream_url(settings.public_url, audio.audio_id),
        uploaded_by=audio.uploaded_by,
    )


def _owned_or_403(user: UserRecord, audio: AudioRecord, what: str) -> None:
    if not may_change(user, audio.uploaded_by):
        raise HTTPException(
            status.HTTP_403_FORBIDDEN, f"Only its uploader or an admin may {what} this audio."
        )


def _get_or_404(audio: AudioStore, audio_id: str) -> AudioRecord:
    found = audio.get(audio_id)
    if found is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"No audio {audio_id!r}.")
    return found


def _not_ready_409(exc: AudioNotReadyError) -> HTTPException:
    return HTTPException(status.HTTP_409_CONFLICT, str(exc))


@router.post(
    "/api/audio/uploads",
    response_model=UploadTicket,
    status_code=status.HTTP_201_CREATED,
    responses=error_responses(400, 401, 403, 413, 415),
)
def create_upload(
    body: UploadRequest, user: CurrentUser, settings: SettingsDep, library: AudioLibraryDep
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
    audio = AudioRecord(
        audio_id=uuid.uuid4().hex,
        title=body.title,
        filename=body.filename,
        content_type=content_type,
        size_bytes=body.size_bytes,
        status="pending",
        created_at=int(time.time()),
        uploaded_by=user.username,
    )
    upload_url = library.start_upload(audio, settings.upload_url_expiry_seconds)
    return UploadTicket(
        audio_id=audio.audio_id,
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
    audio_id: AudioId,
    user: CurrentUser,
    settings: SettingsDep,
    audio: AudioStoreDep,
    library: AudioLibraryDep,
) -> Audio:
    """Call after the PUT: checks the stored object against the declared size and type, then
    marks the audio ready. A mismatch is a 409 that removes nothing."""
    found = _get_or_404(audio, audio_id)
    _owned_or_403(user, found, "complete")
    try:
        return _audio(settings, library.complete(found))
    except AudioNotReadyError as exc:
        raise _not_ready_409(exc) from exc


@router.get("/api/audio", response_model=list[Audio], responses=error_responses(401))
def list_audio(user: CurrentUser, settings: SettingsDep, audio: AudioStoreDep) -> list[Audio]:
    items = sorted(audio.list(), key=lambda a: a.created_at, reverse=True)
    return [_audio(settings, a) for a in items]


@router.delete(
    "/api/audio/{audio_id}",
    response_model=Deleted,
    responses=error_responses(401, 403, 404),
)
def delete_audio(
    audio_id: AudioId, user: CurrentUser, audio: AudioStoreDep, library: AudioLibraryDep
) -> Deleted:
    _owned_or_403(user, _get_or_404(audio, audio_id), "delete")
    library.delete(audio_id)
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
    audio_id: AudioId, settings: SettingsDep, audio: AudioStoreDep, library: AudioLibraryDep
) -> RedirectResponse:
    """Public (Yoto players fetch trackUrl without our cookie), so it writes nothing."""
    found = _get_or_404(audio, audio_id)
    try:
        url = library.download_url(found, settings.download_url_expiry_seconds)
    except AudioNotReadyError as exc:
        raise _not_ready_409(exc) from exc
    return RedirectResponse(url, status_code=status.HTTP_307_TEMPORARY_REDIRECT)
