"""The audio library's readiness service: audio items (``storage.library.AudioStore``) and
their objects in S3, kept consistent.

Uploads never pass through Lambda (its payloads are capped at 6 MB): the API hands out a
presigned PUT whose signature covers the declared content type and length
(``X-Amz-SignedHeaders=content-length;content-type;host``), so real S3 refuses a PUT of any
other length or type. An audio item is ready only once the stored object was checked
(HeadObject: size and Content-Type equal the declared ones), because an emulator, or a client
holding other credentials, may not honour the signature. Checks only read: a bad object stays
where it is (the uploader may PUT again or delete the audio).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from botocore.exceptions import ClientError

from yoto_smart_stream.core.storage.library import AudioRecord, AudioStore

if TYPE_CHECKING:
    from mypy_boto3_s3.client import S3Client


class AudioNotReadyError(Exception):
    """The stored object is missing or differs from what was declared; the message says which
    and what to do (the API answers 409 with it)."""


def object_key(audio_id: str) -> str:
    return f"audio/{audio_id}"


def stream_url(public_url: str, audio_id: str) -> str:
    """The public address players fetch (``GET /audio/{id}``)."""
    return f"{public_url.rstrip('/')}/audio/{audio_id}"


class AudioLibrary:
    def __init__(self, store: AudioStore, s3: S3Client, bucket: str) -> None:
        self._store = store
        self._s3 = s3
        self._bucket = bucket

    def start_upload(self, audio: AudioRecord, expires_in: int) -> str:
        """Record the pending audio; the presigned PUT its object must arrive by."""
        url = self._s3.generate_presigned_url(
            "put_object",
            Params={
                "Bucket": self._bucket,
                "Key": object_key(audio.audio_id),
                "ContentType": audio.content_type,
                "ContentLength": audio.size_bytes,
            },
            ExpiresIn=expires_in,
        )
        self._store.create(audio)
        return url

    def verify_upload(self, audio: AudioRecord) -> int:
        """The stored object's size, if it is exactly what was declared."""
        try:
            head = self._s3.head_object(Bucket=self._bucket, Key=object_key(audio.audio_id))
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                raise AudioNotReadyError("The audio has not been uploaded yet.") from exc
            raise
        size = int(head["ContentLength"])
        if size != audio.size_bytes:
            raise AudioNotReadyError(
                f"The stored file is {size} bytes but {audio.size_bytes} were declared; "
                "upload it again or delete the audio."
            )
        stored_type = str(head.get("ContentType", "")).split(";")[0].strip().lower()
        if stored_type != audio.content_type:
            raise AudioNotReadyError(
                f"The stored file's Content-Type is not the declared {audio.content_type}; "
                "upload it again or delete the audio."
            )
        return size

    def complete(self, audio: AudioRecord) -> AudioRecord:
        """Mark the audio ready once its object passes the check."""
        if audio.status == "ready":
            return audio
        size = self.verify_upload(audio)
        self._store.mark_ready(audio.audio_id, size)
        return audio.ready(size)

    def download_url(self, audio: AudioRecord, expires_in: int) -> str:
        """A presigned GET of ready audio, or of a pending upload whose object already passes
        the check (writes nothing: the public stream URL must not change state)."""
        if audio.status != "ready":
            self.verify_upload(audio)
        return self._s3.generate_presigned_url(
            "get_object",
            Params={
                "Bucket": self._bucket,
                "Key": object_key(audio.audio_id),
                "ResponseContentType": audio.content_type,
            },
            ExpiresIn=expires_in,
        )

    def delete(self, audio_id: str) -> None:
        # Object first: a failure leaves the item, so the delete can simply be retried.
        self._s3.delete_object(Bucket=self._bucket, Key=object_key(audio_id))
        self._store.delete(audio_id)
