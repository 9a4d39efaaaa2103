"""Linking the family's Yoto account with the OAuth device-code flow."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, HTTPException, status
from pydantic import BaseModel

from yoto_smart_stream.api.dependencies import (
    AdminUser,
    AuthClientDep,
    CurrentUser,
    DeviceLoginStoreDep,
    TokenStoreDep,
)
from yoto_smart_stream.api.errors import error_responses

router = APIRouter(
    prefix="/api/auth", tags=["yoto account"], responses=error_responses(401, 502, 503)
)

# Added to the interval whenever Yoto answers slow_down (RFC 8628, section 3.5).
SLOW_DOWN_STEP_SECONDS = 5


class DeviceLoginStarted(BaseModel):
    user_code: str
    verification_uri: str
    verification_uri_complete: str | None
    expires_in: int
    interval: int


class DeviceLoginPoll(BaseModel):
    status: Literal["linked", "authorization_pending", "slow_down", "expired_token", "denied"]
    interval: int | None = None
    message: str


class LinkStatus(BaseModel):
    linked: bool
    # "waiting": a device login was started and its code has not expired yet.
    state: Literal["not_linked", "waiting", "linked"]


class Disconnected(BaseModel):
    linked: bool


@router.post("/start", response_model=DeviceLoginStarted, responses=error_responses(403, 409))
def start(admin: AdminUser, auth: AuthClientDep, logins: DeviceLoginStoreDep) -> DeviceLoginStarted:
    code = auth.start_device_code()
    # The device code stays server-side; the browser only sees the user code.
    logins.start(code.device_code, code.interval, code.expires_in)
    return DeviceLoginStarted(
        user_code=code.user_code,
        verification_uri=code.verification_uri,
        verification_uri_complete=code.verification_uri_complete,
        expires_in=code.expires_in,
        interval=code.interval,
    )


@router.post("/poll", response_model=DeviceLoginPoll, responses=error_responses(403, 409))
def poll(
    admin: AdminUser, auth: AuthClientDep, logins: DeviceLoginStoreDep, tokens: TokenStoreDep
) -> DeviceLoginPoll:
    """One non-blocking attempt; the dashboard calls it again after ``interval`` seconds."""
    pending = logins.pending()
    if pending is None:
        raise HTTPException(
            status.HTTP_409_CONFLICT,
            "No Yoto sign-in is waiting for a code. Start linking the Yoto account again.",
        )
    interval = pending.interval
    result = auth.poll_device_code(pending.device_code)
    if result.status == "authorized" and result.tokens is not None:
        tokens.store(result.tokens)
        logins.finish()
        return DeviceLoginPoll(status="linked", message="The Yoto account is linked.")
    if result.status == "slow_down":
        interval += SLOW_DOWN_STEP_SECONDS
        logins.set_interval(interval)
        return DeviceLoginPoll(
            status="slow_down",
            interval=interval,
            message="Waiting for the code to be entered on Yoto's page.",
        )
    if result.status == "authorization_pending":
        return DeviceLoginPoll(
            status="authorization_pending",
            interval=interval,
            message="Waiting for the code to be entered on Yoto's page.",
        )
    logins.finish()
    if result.status == "denied":
        return DeviceLoginPoll(status="denied", message="The Yoto login was declined.")
    return DeviceLoginPoll(
        status="expired_token", message="The code expired; start the Yoto login again."
    )


@router.get("/status", response_model=LinkStatus)
def link_status(
    user: CurrentUser, tokens: TokenStoreDep, logins: DeviceLoginStoreDep
) -> LinkStatus:
    if tokens.is_linked():
        return LinkStatus(linked=True, state="linked")
    return LinkStatus(linked=False, state="waiting" if logins.pending() else "not_linked")


@router.post("/disconnect", response_model=Disconnected, responses=error_responses(403))
def disconnect(
    admin: AdminUser, tokens: TokenStoreDep, logins: DeviceLoginStoreDep
) -> Disconnected:
    """Forget the Yoto tokens (and any half-finished login); linking again starts afresh."""
    tokens.delete()
    logins.finish()
    return Disconnected(linked=False)
