"""The API's error answers: one model for the OpenAPI document, and validation errors that
never repeat what the caller sent."""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel


class ErrorOut(BaseModel):
    """Every 4xx/5xx except 422 has this shape (FastAPI's ``HTTPException`` does too)."""

    detail: str


_DESCRIPTIONS = {
    400: "The body is not JSON text (it could not be decoded).",
    401: "Not signed in, the session has ended, or wrong credentials.",
    403: "Signed in but not allowed, or a cross-site request refused.",
    404: "No such resource.",
    409: "The resource is not in a state that allows this.",
    413: "The request body (or the declared upload) is too large.",
    415: "The declared content type is not accepted.",
    429: "Too many failed sign-ins from this address; wait for Retry-After seconds.",
    502: "Yoto answered with something unusable.",
    503: "A dependency (storage, a secret, Yoto) is unavailable; try again shortly.",
}
_RETRY_AFTER = {
    "Retry-After": {
        "description": "Seconds until a retry can succeed.",
        "schema": {"type": "integer"},
    }
}


def error_responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` entries for the given status codes, all with ``ErrorOut``."""
    responses: dict[int | str, dict[str, Any]] = {}
    for code in codes:
        entry: dict[str, Any] = {"model": ErrorOut, "description": _DESCRIPTIONS[code]}
        if code == 429:
            entry["headers"] = _RETRY_AFTER
        responses[code] = entry
    return responses


async def validation_error(request: Request, exc: Exception) -> JSONResponse:
    """FastAPI's 422 shape without ``input`` and ``ctx``: the default repeats the offending
    value, so an over-long password came back in the answer (and a huge body came back huge)."""
    errors = exc.errors() if isinstance(exc, RequestValidationError) else []
    return JSONResponse(status_code=422, content={"detail": [_quiet(e) for e in errors]})


def _quiet(error: Any) -> dict[str, Any]:
    message = str(error.get("msg", ""))
    context = error.get("ctx") or {}
    if error.get("type") == "union_tag_invalid":
        # pydantic's own message quotes the tag the caller sent.
        message = (
            f"'{context.get('discriminator', '').strip(chr(39))}' should be one of "
            f"{context.get('expected_tags', '')}"
        )
    return {"loc": list(error.get("loc", ())), "msg": message, "type": str(error.get("type"))}
