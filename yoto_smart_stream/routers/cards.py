"""Streaming MYO cards: Yoto playlists whose tracks stream our own audio URLs."""

from __future__ import annotations

import contextlib
import time
from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, status
from pydantic import BaseModel, Field

from yoto_smart_stream.dependencies import (
    AudioStoreDep,
    AwsDep,
    CardStoreDep,
    CurrentUser,
    SettingsDep,
    YotoApiDep,
)
from yoto_smart_stream.routers.audio import AUDIO_ID_PATTERN, ensure_uploaded, stream_url
from yoto_smart_stream.yoto.client import YotoNotFoundError

router = APIRouter(prefix="/api/cards/streaming", tags=["cards"])

LOOPBACK_HTTP = ("http://127.0.0.1:", "http://localhost:")
CARD_ID_PATTERN = r"^[A-Za-z0-9_-]{1,64}$"
CardId = Annotated[str, Path(pattern=CARD_ID_PATTERN, description="Yoto card id")]
# The player streams trackUrl itself and only plays mp3 from a stream track.
STREAMABLE_CONTENT_TYPE = "audio/mpeg"


class NewStreamingCard(BaseModel):
    title: str = Field(min_length=1, max_length=100)
    audio_ids: list[Annotated[str, Field(pattern=AUDIO_ID_PATTERN)]] = Field(
        min_length=1, max_length=100
    )


class StreamingCard(BaseModel):
    card_id: str
    title: str
    audio_ids: list[str]
    created_at: int


class Deleted(BaseModel):
    status: str


def _chapters(
    body: NewStreamingCard, settings: SettingsDep, aws: AwsDep, audio: AudioStoreDep
) -> list[dict[str, object]]:
    """One chapter per track, in the order given (the order the card plays)."""
    # Players fetch tracks over https; only a local preview (a loopback address, which no real
    # player reaches anyway) may use plain http.
    if not settings.public_url.startswith(("https://", *LOOPBACK_HTTP)):
        raise HTTPException(
            status.HTTP_503_SERVICE_UNAVAILABLE,
            "PUBLIC_URL is not an https address, so players could not fetch the audio.",
        )
    chapters = []
    for index, audio_id in enumerate(body.audio_ids, start=1):
        item = audio.get(audio_id)
        if item is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"No audio {audio_id!r}.")
        if item["content_type"] != STREAMABLE_CONTENT_TYPE:
            raise HTTPException(
                status.HTTP_422_UNPROCESSABLE_CONTENT,
                f"Audio {audio_id!r} is {item['content_type']}; streaming cards need audio/mpeg.",
            )
        item = ensure_uploaded(settings, aws, audio, item)
        key = f"{index:02d}"
        chapters.append(
            {
                "key": key,
                "title": item["title"],
                "tracks": [
                    {
                        "key": key,
                        "title": item["title"],
                        "type": "stream",
                        "format": "mp3",
                        "trackUrl": stream_url(settings, audio_id),
                    }
                ],
            }
        )
    return chapters


@router.post("", response_model=StreamingCard, status_code=status.HTTP_201_CREATED)
def create_card(
    body: NewStreamingCard,
    user: CurrentUser,
    settings: SettingsDep,
    aws: AwsDep,
    audio: AudioStoreDep,
    cards: CardStoreDep,
    api: YotoApiDep,
) -> StreamingCard:
    chapters = _chapters(body, settings, aws, audio)
    card = api.create_content({"title": body.title, "content": {"chapters": chapters}})
    created = StreamingCard(
        card_id=card["cardId"],
        title=body.title,
        audio_ids=body.audio_ids,
        created_at=int(time.time()),
    )
    cards.put(created.card_id, created.model_dump(exclude={"card_id"}))
    return created


@router.get("", response_model=list[StreamingCard])
def list_cards(user: CurrentUser, cards: CardStoreDep) -> list[StreamingCard]:
    items = sorted(cards.list(), key=lambda c: c.get("created_at", 0), reverse=True)
    return [StreamingCard(**c) for c in items]


@router.put("/{card_id}", response_model=StreamingCard)
def update_card(
    card_id: CardId,
    body: NewStreamingCard,
    user: CurrentUser,
    settings: SettingsDep,
    aws: AwsDep,
    audio: AudioStoreDep,
    cards: CardStoreDep,
    api: YotoApiDep,
) -> StreamingCard:
    """New title or tracks (reordered, added, removed): the same Yoto card is rewritten."""
    existing = cards.get(card_id)
    if existing is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"No streaming card {card_id!r}.")
    chapters = _chapters(body, settings, aws, audio)
    api.create_content({"cardId": card_id, "title": body.title, "content": {"chapters": chapters}})
    updated = StreamingCard(
        card_id=card_id,
        title=body.title,
        audio_ids=body.audio_ids,
        created_at=int(existing.get("created_at", time.time())),
    )
    cards.put(card_id, updated.model_dump(exclude={"card_id"}))
    return updated


@router.delete("/{card_id}", response_model=Deleted)
def delete_card(
    card_id: CardId, user: CurrentUser, cards: CardStoreDep, api: YotoApiDep
) -> Deleted:
    if cards.get(card_id) is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"No streaming card {card_id!r}.")
    # Already gone at Yoto (deleted in the Yoto app): just forget it here too.
    with contextlib.suppress(YotoNotFoundError):
        api.delete_content(card_id)
    cards.delete(card_id)
    return Deleted(status="deleted")
