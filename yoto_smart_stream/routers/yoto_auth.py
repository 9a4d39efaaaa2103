"""Linking the family's Yoto account with the OAuth device-code flow."""

from __future__ import annotations

import time
from typing import Literal

from fastapi import APIRouter, HTTPException, status
from pydantic import BaseModel

from yoto_smart_stream.dependencies import (
    AdminUser,
    AuthClientDep,
    AwsDep,
    CurrentUser,
    TokenManagerDep,
)
from yoto_smart_stream.errors import error_responses
from yoto_smart_stream.storage import schema
from yoto_smart_stream.storage.items import plain

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


@router.post("/start", response_model=DeviceLoginStarted, responses=error_responses(403, 409))
def start(admin: AdminUser, auth: AuthClientDep, aws: AwsDep) -> DeviceLoginStarted:
    code = auth.start_device_code()
    # The device code stays server-side; the browser only sees the user code.
    aws.table.put_item(
        Item={
            **schema.device_code_key(),
            "device_code": code.device_code,
            "interval": code.interval,
            schema.TTL_ATTRIBUTE: int(time.time()) + code.expires_in,
        }
    )
    return DeviceLoginStarted(
        user_code=code.user_code,
        verification_uri=code.verification_uri,
        verification_uri_complete=code.verification_uri_complete,
        expires_in=code.expires_in,
        interval=code.interval,
    )


@router.post("/poll", response_model=DeviceLoginPoll, responses=error_responses(403, 409))
def poll(
    admin: AdminUser, auth: AuthClientDep, aws: AwsDep, tokens: TokenManagerDep
) -> DeviceLoginPoll:
    """One non-blocking attempt; the dashboard calls it again after ``interval`` seconds."""
    found = aws.table.get_item(Key=schema.device_code_key(), ConsistentRead=True).get("Item")
    item = plain(found) if found else None
    # DynamoDB's TTL deletes lazily, so an expired item may still be there.
    if item is None or int(item[schema.TTL_ATTRIBUTE]) <= time.time():
        raise HTTPException(
            status.HTTP_409_CONFLICT,
            "No Yoto login is in progress; start with POST /api/auth/start.",
        )
    interval = int(item.get("interval", 5))
    result = auth.poll_device_code(str(item["device_code"]))
    if result.status == "authorized" and result.tokens is not None:
        tokens.store(result.tokens)
        aws.table.delete_item(Key=schema.device_code_key())
        return DeviceLoginPoll(status="linked", message="The Yoto account is linked.")
    if result.status == "slow_down":
        interval += SLOW_DOWN_STEP_SECONDS
        aws.table.update_item(
            Key=schema.device_code_key(),
            UpdateExpression="SET #interval = :interval",
            ExpressionAttributeNames={"#interval": "interval"},
            ExpressionAttributeValues={":interval": interval},
        )
        return DeviceLoginPoll(
            status="slow_down", interval=interval, message="Polling too fast; wait longer."
        )
    if result.status == "authorization_pending":
        return DeviceLoginPoll(
            status="authorization_pending",
            interval=interval,
            message="Waiting for the code to be entered at the verification address.",
        )
    aws.table.delete_item(Key=schema.device_code_key())
    if result.status == "denied":
        return DeviceLoginPoll(status="denied", message="The Yoto login was declined.")
    return DeviceLoginPoll(
        status="expired_token", message="The code expired; start the Yoto login again."
    )


@router.get("/status", response_model=LinkStatus)
def link_status(user: CurrentUser, tokens: TokenManagerDep) -> LinkStatus:
    return LinkStatus(linked=tokens.is_linked())
