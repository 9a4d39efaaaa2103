"""Streaming MYO cards: Yoto playlists whose tracks stream our own audio URLs."""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Path, status
from pydantic import BaseModel, Field

from yoto_smart_stream.api.dependencies import (
    AudioStoreDep,
    CardStoreDep,
    CurrentUser,
    SettingsDep,
    YotoApiDep,
)
from yoto_smart_stream.api.errors import error_responses
from yoto_smart_stream.api.ownership import may_change
from yoto_smart_stream.core.audio_library import stream_url
from yoto_smart_stream.core.settings import Settings
from yoto_smart_stream.core.storage.library import (
    AUDIO_ID_PATTERN,
    AudioStore,
    CardRecord,
    CardStore,
)
from yoto_smart_stream.core.storage.users import UserRecord
from yoto_smart_stream.core.yoto.client import YotoApiClient, YotoNotFoundError

# Every route here may reach Yoto: 502 (nonsense answer) and 503 (outage) come from there.
router = APIRouter(
    prefix="/api/cards/streaming", tags=["cards"], responses=error_responses(401, 502, 503)
)
# Creating or rewriting a card: a JSON body, audio that must exist and be complete, Yoto.
WRITE_RESPONSES = error_responses(400, 403, 404, 409, 413)

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
    body: NewStreamingCard, settings: Settings, audio: AudioStore
) -> list[dict[str, object]]:
    """One chapter per track, in the order given (the order the card plays)."""
    # Players fetch tracks over https; only a local preview (a loopback address, which no real
    # player reaches anyway) may use plain http.
    if not settings.public_url.startswith(("https://", *LOOPBACK_HTTP)):
        raise HTTPException(
            status.HTTP_503_SERVICE_UNAVAILABLE,
            "PUBLIC_URL is not an https address, so players could not fetch the audio.",
        )
    chapters: list[dict[str, object]] = []
    for index, audio_id in enumerate(body.audio_ids, start=1):
        item = audio.get(audio_id)
        if item is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"No audio {audio_id!r}.")
        if item.content_type != STREAMABLE_CONTENT_TYPE:
            raise HTTPException(
                status.HTTP_422_UNPROCESSABLE_CONTENT,
                f"Audio {audio_id!r} is {item.content_type}; streaming cards need audio/mpeg.",
            )
        if item.status != "ready":
            raise HTTPException(
                status.HTTP_409_CONFLICT,
                f"Audio {audio_id!r} is not complete; call POST /api/audio/{audio_id}/complete.",
            )
        key = f"{index:02d}"
        chapters.append(
            {
                "key": key,
                "title": item.title,
                "tracks": [
                    {
                        "key": key,
                        "title": item.title,
                        "type": "stream",
                        "format": "mp3",
                        "trackUrl": stream_url(settings.public_url, audio_id),
                    }
                ],
            }
        )
    return chapters


def _card(card: CardRecord) -> StreamingCard:
    return StreamingCard(
        card_id=card.card_id, title=card.title, audio_ids=card.audio_ids, created_at=card.created_at
    )


@dataclass(frozen=True)
class CardWriter:
    """What writing a card takes: the audio it plays, Yoto, and our record of the card."""

    settings: Settings
    audio: AudioStore
    cards: CardStore
    api: YotoApiClient

    def write(
        self,
        body: NewStreamingCard,
        *,
        card_id: str | None,
        created_at: int | None,
        created_by: str,
    ) -> StreamingCard:
        """Write the card at Yoto (a new one, or ``card_id`` rewritten), then record it here."""
        content: dict[str, object] = {
            "title": body.title,
            "content": {"chapters": _chapters(body, self.settings, self.audio)},
        }
        if card_id is not None:
            content["cardId"] = card_id
        written = self.api.create_content(content)
        card = StreamingCard(
            card_id=card_id or written["cardId"],
            title=body.title,
            audio_ids=body.audio_ids,
            created_at=created_at or int(time.time()),
        )
        self.cards.put(CardRecord(**card.model_dump(), created_by=created_by))
        return card


def card_writer(
    settings: SettingsDep, audio: AudioStoreDep, cards: CardStoreDep, api: YotoApiDep
) -> CardWriter:
    return CardWriter(settings, audio, cards, api)


CardWriterDep = Annotated[CardWriter, Depends(card_writer)]


def _owned_or_403(user: UserRecord, card: CardRecord, what: str) -> None:
    if not may_change(user, card.created_by):
        raise HTTPException(
            status.HTTP_403_FORBIDDEN, f"Only its creator or an admin may {what} this card."
        )


@router.post(
    "",
    response_model=StreamingCard,
    status_code=status.HTTP_201_CREATED,
    responses=WRITE_RESPONSES,
)
def create_card(body: NewStreamingCard, user: CurrentUser, writer: CardWriterDep) -> StreamingCard:
    return writer.write(body, card_id=None, created_at=None, created_by=user.username)


@router.get("", response_model=list[StreamingCard])
def list_cards(user: CurrentUser, cards: CardStoreDep) -> list[StreamingCard]:
    items = sorted(cards.list(), key=lambda c: c.created_at, reverse=True)
    return [_card(c) for c in items]


@router.put("/{card_id}", response_model=StreamingCard, responses=WRITE_RESPONSES)
def update_card(
    card_id: CardId, body: NewStreamingCard, user: CurrentUser, writer: CardWriterDep
) -> StreamingCard:
    """New title or tracks (reordered, added, removed): the same Yoto card is rewritten."""
    existing = writer.cards.get(card_id)
    if existing is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"No streaming card {card_id!r}.")
    _owned_or_403(user, existing, "change")
    return writer.write(
        body, card_id=card_id, created_at=existing.created_at, created_by=existing.created_by
    )


@router.delete("/{card_id}", response_model=Deleted, responses=error_responses(403, 404, 409))
def delete_card(
    card_id: CardId, user: CurrentUser, cards: CardStoreDep, api: YotoApiDep
) -> Deleted:
    card = cards.get(card_id)
    if card is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"No streaming card {card_id!r}.")
    _owned_or_403(user, card, "delete")
    # Already gone at Yoto (deleted in the Yoto app): just forget it here too.
    with contextlib.suppress(YotoNotFoundError):
        api.delete_content(card_id)
    cards.delete(card_id)
    return Deleted(status="deleted")
