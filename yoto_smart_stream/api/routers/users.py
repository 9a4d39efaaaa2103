"""App users: login/logout/session, and admin user management."""

from __future__ import annotations

import hmac
import time
from typing import Annotated, Literal

from fastapi import APIRouter, HTTPException, Path, Request, Response, status
from pydantic import BaseModel, Field

from yoto_smart_stream.api import smoke_principal
from yoto_smart_stream.api.dependencies import (
    AdminUser,
    CurrentUser,
    LoginThrottleDep,
    SettingsDep,
    UserStoreDep,
)
from yoto_smart_stream.api.errors import error_responses
from yoto_smart_stream.api.login_throttle import source_address
from yoto_smart_stream.api.secrets import admin_bootstrap_password
from yoto_smart_stream.api.security import (
    SESSION_COOKIE,
    hash_password,
    issue_session,
    verify_password,
)
from yoto_smart_stream.core.settings import Settings
from yoto_smart_stream.core.storage.users import UserRecord, UserStore

router = APIRouter(prefix="/api", tags=["users"], responses=error_responses(503))

USERNAME_PATTERN = r"^[a-z0-9][a-z0-9._-]{1,31}$"
Username = Annotated[str, Path(pattern=USERNAME_PATTERN, description="lower-case user name")]
BAD_CREDENTIALS = "Wrong username or password."


class LoginRequest(BaseModel):
    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=1024)


class NewUser(BaseModel):
    username: str = Field(pattern=USERNAME_PATTERN)
    password: str = Field(min_length=12, max_length=1024)
    role: Literal["admin", "user"] = "user"


class UserOut(BaseModel):
    username: str
    role: str
    disabled: bool
    created_at: int

    @classmethod
    def of(cls, user: UserRecord) -> UserOut:
        return cls(
            username=user.username,
            role=user.role,
            disabled=user.disabled,
            created_at=user.created_at,
        )


class SessionOut(BaseModel):
    username: str
    role: str


class Message(BaseModel):
    status: str


def _set_session_cookie(response: Response, settings: Settings, user: UserRecord) -> None:
    response.set_cookie(
        SESSION_COOKIE,
        issue_session(settings, user),
        max_age=settings.session_ttl_seconds,
        httponly=True,
        secure=settings.session_cookie_secure,
        samesite="lax",
        path="/",
    )


def _bootstrap_admin(settings: Settings, users: UserStore, password: str) -> UserRecord | None:
    """Create the first admin from the deployer's secret, only while no admin exists."""
    if users.any_admin():
        return None
    secret = admin_bootstrap_password(settings)
    if not hmac.compare_digest(secret.encode(), password.encode()):
        return None
    users.create(settings.admin_username, hash_password(password), "admin")
    return users.get(settings.admin_username)


@router.post(
    "/user/login",
    response_model=SessionOut,
    responses=error_responses(400, 401, 403, 413, 429),
)
def login(
    body: LoginRequest,
    request: Request,
    response: Response,
    settings: SettingsDep,
    users: UserStoreDep,
    throttle: LoginThrottleDep,
) -> SessionOut:
    """Sign in. Failures are throttled per (user name, source address) and per address, the
    same way for names that exist and names that do not (``login_throttle``); the pipeline's
    smoke principal, whose credential cannot be guessed, is never throttled
    (``smoke_principal``)."""
    username = body.username.strip().lower()
    source = source_address(request, settings)
    now = int(time.time())
    if smoke_principal.is_smoke_principal(settings, username):
        principal = smoke_principal.sign_in(settings, body.password)
        if principal is None:
            throttle.failed(username, source, now)  # still counts against the address
            raise HTTPException(status.HTTP_401_UNAUTHORIZED, BAD_CREDENTIALS)
        _set_session_cookie(response, settings, principal)
        return SessionOut(username=principal.username, role=principal.role)
    wait = throttle.retry_after(username, source, now)
    if wait > 0:
        raise HTTPException(
            status.HTTP_429_TOO_MANY_REQUESTS,
            "Too many failed logins; try again later.",
            headers={"Retry-After": str(wait)},
        )
    user = users.get(username)
    if user is None and username == settings.admin_username:
        user = _bootstrap_admin(settings, users, body.password)
        if user is not None:
            throttle.succeeded(username, source)
            _set_session_cookie(response, settings, user)
            return SessionOut(username=user.username, role=user.role)
    matches, upgraded_hash = verify_password(user.password_hash if user else None, body.password)
    if user is None or not matches:
        throttle.failed(username, source, now)
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, BAD_CREDENTIALS)
    throttle.succeeded(username, source)
    if user.disabled:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "This account is disabled.")
    if upgraded_hash:
        users.store_upgraded_hash(user.username, upgraded_hash)
    if not user.session_epoch:  # an item from before session epochs: give it one
        users.end_sessions(user.username)
        user = users.get(user.username) or user
    _set_session_cookie(response, settings, user)
    return SessionOut(username=user.username, role=user.role)


@router.post("/user/logout", response_model=Message, responses=error_responses(401, 403))
def logout(
    response: Response, user: CurrentUser, users: UserStoreDep, settings: SettingsDep
) -> Message:
    users.end_sessions(user.username)
    response.delete_cookie(
        SESSION_COOKIE,
        path="/",
        httponly=True,
        secure=settings.session_cookie_secure,
        samesite="lax",
    )
    return Message(status="logged out")


@router.get("/user/session", response_model=SessionOut, responses=error_responses(401))
def session(user: CurrentUser) -> SessionOut:
    return SessionOut(username=user.username, role=user.role)


@router.get("/admin/users", response_model=list[UserOut], responses=error_responses(401, 403))
def list_users(admin: AdminUser, users: UserStoreDep) -> list[UserOut]:
    return sorted((UserOut.of(u) for u in users.list()), key=lambda u: u.username)


@router.post(
    "/admin/users",
    response_model=UserOut,
    status_code=status.HTTP_201_CREATED,
    responses=error_responses(400, 401, 403, 409, 413),
)
def create_user(body: NewUser, admin: AdminUser, users: UserStoreDep) -> UserOut:
    if not users.create(body.username, hash_password(body.password), body.role):
        raise HTTPException(status.HTTP_409_CONFLICT, f"User {body.username!r} already exists.")
    created = users.get(body.username)
    if created is None:  # deleted between the two calls
        raise HTTPException(status.HTTP_409_CONFLICT, f"User {body.username!r} was just deleted.")
    return UserOut.of(created)


def _not_self(admin: UserRecord, username: str, verb: str) -> None:
    if admin.username == username:
        raise HTTPException(status.HTTP_409_CONFLICT, f"You cannot {verb} your own account.")


def _set_disabled(users: UserStore, username: str, disabled: bool) -> UserOut:
    if not users.set_disabled(username, disabled):
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"No user {username!r}.")
    changed = users.get(username)
    if changed is None:  # deleted between the two calls
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"No user {username!r}.")
    return UserOut.of(changed)


@router.post(
    "/admin/users/{username}/disable",
    response_model=UserOut,
    responses=error_responses(401, 403, 404, 409),
)
def disable_user(username: Username, admin: AdminUser, users: UserStoreDep) -> UserOut:
    _not_self(admin, username, "disable")
    return _set_disabled(users, username, disabled=True)


@router.post(
    "/admin/users/{username}/enable",
    response_model=UserOut,
    responses=error_responses(401, 403, 404),
)
def enable_user(username: Username, admin: AdminUser, users: UserStoreDep) -> UserOut:
    return _set_disabled(users, username, disabled=False)


@router.delete(
    "/admin/users/{username}",
    response_model=Message,
    responses=error_responses(401, 403, 404, 409),
)
def delete_user(username: Username, admin: AdminUser, users: UserStoreDep) -> Message:
    _not_self(admin, username, "delete")
    if not users.delete(username):
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"No user {username!r}.")
    return Message(status="deleted")
