"""Password hashing (argon2) and the signed session cookie (PyJWT, HS256).

argon2 and PyJWT are imported on first use, not with this module: the dependencies module
imports it at cold start, and a cold Lambda's first request (often ``/api/health``) signs
nothing (``bench/app_bench.py --importtime``).
"""

from __future__ import annotations

import time
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from yoto_smart_stream.api.secrets import session_signing_key
from yoto_smart_stream.core.settings import Settings
from yoto_smart_stream.core.storage.users import UserRecord

if TYPE_CHECKING:
    from argon2 import PasswordHasher

SESSION_COOKIE = "yss_session"
JWT_ALGORITHM = "HS256"


@lru_cache(maxsize=1)
def password_hasher() -> PasswordHasher:
    from argon2 import PasswordHasher

    return PasswordHasher()


@lru_cache(maxsize=1)
def _unknown_user_hash() -> str:
    # Verifying against this for unknown usernames makes both answers take as long.
    return password_hasher().hash("no such user")


def hash_password(password: str) -> str:
    return password_hasher().hash(password)


def verify_password(password_hash: str | None, password: str) -> tuple[bool, str | None]:
    """Return (matches, upgraded hash or None)."""
    from argon2.exceptions import InvalidHashError, VerificationError

    hasher = password_hasher()
    try:
        hasher.verify(password_hash or _unknown_user_hash(), password)
    except (VerificationError, InvalidHashError):
        return False, None
    if password_hash is None:
        return False, None
    return True, hasher.hash(password) if hasher.check_needs_rehash(password_hash) else None


def issue_session(settings: Settings, user: UserRecord) -> str:
    import jwt

    now = int(time.time())
    claims = {
        "sub": user.username,
        "role": user.role,
        "sv": user.session_epoch,
        "aud": settings.environment,
        "iat": now,
        "exp": now + settings.session_ttl_seconds,
    }
    return jwt.encode(claims, session_signing_key(settings), algorithm=JWT_ALGORITHM)


def decode_session(settings: Settings, token: str) -> dict[str, Any] | None:
    """The session's claims, or None if it is forged, expired or for another environment."""
    import jwt

    try:
        claims = jwt.decode(
            token,
            session_signing_key(settings),
            algorithms=[JWT_ALGORITHM],
            audience=settings.environment,
            options={"require": ["sub", "sv", "exp", "iat", "aud"]},
        )
    except jwt.PyJWTError:
        return None
    return dict(claims)
