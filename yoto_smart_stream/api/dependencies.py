"""FastAPI dependencies: settings, AWS clients, stores, the signed-in user, Yoto clients."""

from __future__ import annotations

import hmac
from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, HTTPException, Request, status

from yoto_smart_stream.api.login_throttle import LoginThrottle
from yoto_smart_stream.api.security import SESSION_COOKIE, decode_session
from yoto_smart_stream.core.audio_library import AudioLibrary
from yoto_smart_stream.core.aws import AwsClients, aws_clients
from yoto_smart_stream.core.settings import Settings, get_settings
from yoto_smart_stream.core.storage.device_login import DeviceLoginStore
from yoto_smart_stream.core.storage.events import PlayerEventStore
from yoto_smart_stream.core.storage.library import AudioStore, CardStore
from yoto_smart_stream.core.storage.throttle import LoginThrottleStore
from yoto_smart_stream.core.storage.tokens import TokenStore
from yoto_smart_stream.core.storage.users import UserRecord, UserStore
from yoto_smart_stream.core.yoto.client import YotoApiClient, YotoAuthClient
from yoto_smart_stream.core.yoto.tokens import YotoTokenManager


async def settings_dependency() -> Settings:
    # async: FastAPI runs a plain `def` dependency in a worker thread, and Mangum gives each
    # invocation a new event loop, so a sync dependency costs a thread per request.
    return get_settings()


SettingsDep = Annotated[Settings, Depends(settings_dependency)]


def get_aws(settings: SettingsDep) -> AwsClients:
    return aws_clients(settings)


AwsDep = Annotated[AwsClients, Depends(get_aws)]


def get_user_store(aws: AwsDep) -> UserStore:
    return UserStore(aws.table)


def get_audio_store(aws: AwsDep) -> AudioStore:
    return AudioStore(aws.table)


def get_card_store(aws: AwsDep) -> CardStore:
    return CardStore(aws.table)


def get_audio_library(settings: SettingsDep, aws: AwsDep) -> AudioLibrary:
    return AudioLibrary(AudioStore(aws.table), aws.s3, settings.s3_audio_bucket)


def get_player_event_store(aws: AwsDep) -> PlayerEventStore:
    return PlayerEventStore(aws.table)


def get_device_login_store(aws: AwsDep) -> DeviceLoginStore:
    return DeviceLoginStore(aws.table)


def get_token_store(aws: AwsDep) -> TokenStore:
    return TokenStore(aws.table)


def get_login_throttle(settings: SettingsDep, aws: AwsDep) -> LoginThrottle:
    return LoginThrottle.from_settings(settings, LoginThrottleStore(aws.table))


UserStoreDep = Annotated[UserStore, Depends(get_user_store)]
LoginThrottleDep = Annotated[LoginThrottle, Depends(get_login_throttle)]
AudioStoreDep = Annotated[AudioStore, Depends(get_audio_store)]
CardStoreDep = Annotated[CardStore, Depends(get_card_store)]
AudioLibraryDep = Annotated[AudioLibrary, Depends(get_audio_library)]
PlayerEventStoreDep = Annotated[PlayerEventStore, Depends(get_player_event_store)]
DeviceLoginStoreDep = Annotated[DeviceLoginStore, Depends(get_device_login_store)]
TokenStoreDep = Annotated[TokenStore, Depends(get_token_store)]

NOT_SIGNED_IN = "Not signed in, or the session has ended; sign in again."


def current_user(request: Request, settings: SettingsDep, users: UserStoreDep) -> UserRecord:
    token = request.cookies.get(SESSION_COOKIE)
    if not token:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, NOT_SIGNED_IN)
    claims = decode_session(settings, token)
    if claims is None:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, NOT_SIGNED_IN)
    # The user item is read on every request so disabling or deleting a user, or logging
    # out (each gives the user a new random session_epoch), takes effect at once.
    user = users.get(str(claims["sub"]))
    if (
        user is None
        or user.disabled
        or not user.session_epoch
        or not isinstance(claims["sv"], str)
        or not hmac.compare_digest(user.session_epoch.encode(), claims["sv"].encode())
    ):
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, NOT_SIGNED_IN)
    return user


CurrentUser = Annotated[UserRecord, Depends(current_user)]


def admin_user(user: CurrentUser) -> UserRecord:
    if user.role != "admin":
        raise HTTPException(status.HTTP_403_FORBIDDEN, "Only an admin may do this.")
    return user


AdminUser = Annotated[UserRecord, Depends(admin_user)]


def get_auth_client(settings: SettingsDep) -> Iterator[YotoAuthClient]:
    client = YotoAuthClient.from_settings(settings)
    try:
        yield client
    finally:
        client.close()


AuthClientDep = Annotated[YotoAuthClient, Depends(get_auth_client)]


def get_token_manager(
    settings: SettingsDep, store: TokenStoreDep, auth: AuthClientDep
) -> YotoTokenManager:
    return YotoTokenManager.from_settings(settings, store, auth)


TokenManagerDep = Annotated[YotoTokenManager, Depends(get_token_manager)]


def get_yoto_api(settings: SettingsDep, tokens: TokenManagerDep) -> Iterator[YotoApiClient]:
    client = YotoApiClient.from_settings(settings, tokens)
    try:
        yield client
    finally:
        client.close()


YotoApiDep = Annotated[YotoApiClient, Depends(get_yoto_api)]
