"""Hands out a valid Yoto access token, refreshing it safely across processes.

The tokens live in one DynamoDB item (``storage.tokens.TokenStore``), shared by every API Lambda
and the MQTT handler. Yoto rotates refresh tokens: spending one returns a new one and the old
one may stop working. So two processes must never both spend the same refresh token. A refresh
first takes a lock with a conditional write (only if the stored refresh token is still the one
it read and no unexpired lock exists); the process that loses waits briefly and re-reads the
winner's new tokens. The new tokens are written only if the stored refresh token is still the
one that was spent, which also drops the lock.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from typing import Protocol

from yoto_smart_stream.core.storage.tokens import StoredTokens, TokenStore
from yoto_smart_stream.core.yoto.client import (
    YotoAuthClient,
    YotoNotLinkedError,
    YotoRefreshRejectedError,
    YotoUnavailableError,
)


class TokenPolicySettings(Protocol):
    """The token policy (meaning of each value: ``core/defaults.py``), from the API's
    ``Settings`` or the handler's ``SharedSettings``."""

    @property
    def token_refresh_margin_seconds(self) -> int: ...
    @property
    def token_refresh_lock_seconds(self) -> int: ...
    @property
    def token_refresh_wait_seconds(self) -> float: ...


class YotoTokenManager:
    """Hands out a valid Yoto access token, refreshing it safely across processes.

    ``get_access_token()`` refreshes when the token is within ``refresh_margin_seconds`` of
    expiry. ``force_refresh(rejected)`` refreshes after Yoto answered 401, unless another
    process already replaced the rejected token.
    """

    def __init__(
        self,
        store: TokenStore,
        auth: YotoAuthClient,
        *,
        refresh_margin_seconds: float = 300,
        lock_seconds: float = 30,
        wait_seconds: float = 10,
        poll_interval_seconds: float = 0.1,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._store = store
        self._auth = auth
        self._margin = refresh_margin_seconds
        self._lock_seconds = lock_seconds
        self._wait_seconds = wait_seconds
        self._poll_interval = poll_interval_seconds
        self._clock = clock
        self._sleep = sleep
        # Unique per manager, so a lock is only ever released by the process that took it.
        self._owner = uuid.uuid4().hex

    @classmethod
    def from_settings(
        cls, settings: TokenPolicySettings, store: TokenStore, auth: YotoAuthClient
    ) -> YotoTokenManager:
        return cls(
            store,
            auth,
            refresh_margin_seconds=settings.token_refresh_margin_seconds,
            lock_seconds=settings.token_refresh_lock_seconds,
            wait_seconds=settings.token_refresh_wait_seconds,
        )

    # -- public API ------------------------------------------------------------------------

    def get_access_token(self) -> str:
        current = self._require()
        if self._usable(current):
            return current.access_token
        return self._refresh(current)

    def force_refresh(self, rejected_access_token: str) -> str:
        current = self._require()
        if current.access_token != rejected_access_token and self._usable(current):
            return current.access_token  # someone else already refreshed
        return self._refresh(current)

    # -- internals -------------------------------------------------------------------------

    def _require(self) -> StoredTokens:
        current = self._store.load()
        if current is None:
            raise YotoNotLinkedError(
                "No Yoto account is linked yet; an admin can link it under Yoto account."
            )
        return current

    def _usable(self, tokens: StoredTokens) -> bool:
        return tokens.expires_at - self._margin > self._clock()

    def _refresh(self, current: StoredTokens) -> str:
        deadline = self._clock() + self._wait_seconds
        seen_access_token = current.access_token
        while True:
            now = self._clock()
            if self._store.take_refresh_lock(
                current.refresh_token, self._owner, now, now + self._lock_seconds
            ):
                return self._refresh_locked(current)
            self._sleep(self._poll_interval)
            latest = self._require()
            if latest.access_token != seen_access_token and self._usable(latest):
                return latest.access_token  # the lock holder finished
            if self._clock() > deadline:
                raise YotoUnavailableError(
                    "Another process is refreshing the Yoto token and has not finished; "
                    "try again shortly."
                )
            current = latest

    def _refresh_locked(self, current: StoredTokens) -> str:
        try:
            tokens = self._auth.refresh(current.refresh_token)
        except YotoRefreshRejectedError:
            # The refresh token is dead: drop it so the API says "not linked" from now on.
            self._store.delete_if_refresh_token(current.refresh_token, self._owner)
            raise
        except BaseException:
            self._store.release_refresh_lock(self._owner)
            raise
        # Not written if somebody replaced the tokens meanwhile (e.g. a new device login): this
        # access token still works for this request.
        self._store.replace(current.refresh_token, tokens, self._clock())
        return tokens.access_token
