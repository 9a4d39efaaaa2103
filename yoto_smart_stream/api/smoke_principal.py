"""The deploy pipeline's smoke principal: a sign-in no person can change and no stranger can lock.

Its name (``Settings.smoke_username``, ``pipeline:smoke``) is outside the user name pattern, so
no user of that name can be created, changed or deleted. Its credential is 256 random bits the
pipeline writes to SSM on every deploy; the app compares it in constant time. Guessing it is
infeasible, so its sign-in is exempt from the sign-in throttle: failed guesses at other names
from the pipeline's own address (a shared CI runner) cannot lock it. Its session is read-only:
it may read everything a user may read and change nothing (any unsafe method is a 403).
"""

from __future__ import annotations

import hashlib
import hmac

from yoto_smart_stream.api.secrets import smoke_credential
from yoto_smart_stream.core.settings import Settings
from yoto_smart_stream.core.storage.users import UserRecord

SMOKE_ROLE = "smoke"
READ_ONLY_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
CAN_CHANGE_NOTHING = "The smoke principal can change nothing."


def is_smoke_principal(settings: Settings, username: str) -> bool:
    return username == settings.smoke_username


def _principal(settings: Settings, credential: str) -> UserRecord:
    # The session epoch follows the credential: the next deploy's new one ends old sessions.
    epoch = hmac.new(credential.encode(), b"smoke-session-epoch", hashlib.sha256).hexdigest()
    return UserRecord(
        username=settings.smoke_username,
        password_hash="",
        role=SMOKE_ROLE,
        disabled=False,
        created_at=0,
        session_epoch=epoch[:32],
    )


def sign_in(settings: Settings, password: str) -> UserRecord | None:
    """The principal when ``password`` is its current credential, else None."""
    credential = smoke_credential(settings)
    if credential is None:
        return None
    # Digests first: compare_digest then compares equal lengths and leaks nothing.
    given = hashlib.sha256(password.encode()).digest()
    if not hmac.compare_digest(given, hashlib.sha256(credential.encode()).digest()):
        return None
    return _principal(settings, credential)


def current(settings: Settings) -> UserRecord | None:
    """The principal as its sessions must match it now; None where none is configured."""
    credential = smoke_credential(settings)
    return None if credential is None else _principal(settings, credential)
