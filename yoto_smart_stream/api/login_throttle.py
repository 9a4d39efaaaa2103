"""Sign-in throttling (OWASP ASVS V2.2) that no outsider can turn into a lockout.

Failures are counted per (account, source address) and per source address, never per account
alone: a stranger who guesses wrong five times slows down only themselves, while the account's
owner, signing in from anywhere else, is not affected. Unknown and known user names are counted
and answered the same way, so the throttle reveals nothing about which names exist; the
bootstrap password (before the first admin exists) goes through the same path.

The source address (``source_address``) is the network peer API Gateway saw: Mangum puts the
HTTP API event's ``requestContext.http.sourceIp`` in the ASGI scope's ``client``, and uvicorn
puts the socket's peer there. ``X-Forwarded-For`` is never trusted: its first entries are
whatever the client wrote. Behind CloudFront the peer is a CloudFront edge address shared by
many viewers, so the viewer's own address (``CloudFront-Viewer-Address``, which the
distribution forwards) is used, but only when the request also carries the origin secret
(``X-Origin-Verify`` = ``CLOUDFRONT_ORIGIN_SECRET``) that only our distribution adds; anyone
calling the execute-api address directly could write that header themselves. IPv6 addresses
are throttled per /64, the block one subscriber usually holds.
"""

from __future__ import annotations

import hmac
import ipaddress
import logging
from dataclasses import dataclass

from fastapi import Request

from yoto_smart_stream.api.secrets import SecretUnavailableError, cloudfront_origin_secret
from yoto_smart_stream.core.settings import Settings
from yoto_smart_stream.core.storage.throttle import LoginThrottleStore, throttle_digest

logger = logging.getLogger("yoto_smart_stream")

ORIGIN_SECRET_HEADER = "x-origin-verify"  # noqa: S105 - a header name, not a secret
VIEWER_ADDRESS_HEADER = "cloudfront-viewer-address"


def _address_unit(address: str) -> str:
    try:
        ip = ipaddress.ip_address(address.strip().strip("[]"))
    except ValueError:
        return address[:64] or "unknown"
    if ip.version == 6:
        return str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return str(ip)


def _viewer_address(request: Request, settings: Settings) -> str | None:
    try:
        secret = cloudfront_origin_secret(settings)
    except SecretUnavailableError as exc:
        logger.warning("CloudFront origin secret unavailable, throttling by peer: %s", exc)
        return None
    sent = request.headers.get(ORIGIN_SECRET_HEADER)
    viewer = request.headers.get(VIEWER_ADDRESS_HEADER)
    if not secret or not sent or not viewer:
        return None
    if not hmac.compare_digest(secret.encode(), sent.encode()):
        return None
    # "198.51.100.10:46532" or "2001:db8::1:46532": the address, then the viewer's port.
    return viewer.rsplit(":", 1)[0]


def source_address(request: Request, settings: Settings) -> str:
    viewer = _viewer_address(request, settings)
    peer = request.client.host if request.client else ""
    return _address_unit(viewer or peer)


@dataclass(frozen=True)
class LoginThrottle:
    store: LoginThrottleStore
    per_account_source: int
    per_source: int
    window_seconds: int

    @classmethod
    def from_settings(cls, settings: Settings, store: LoginThrottleStore) -> LoginThrottle:
        return cls(
            store,
            settings.login_failures_per_account_source,
            settings.login_failures_per_source,
            settings.login_throttle_window_seconds,
        )

    @staticmethod
    def _keys(username: str, source: str) -> tuple[str, str]:
        return throttle_digest("account+source", username, source), throttle_digest(
            "source", source
        )

    def retry_after(self, username: str, source: str, now: int) -> int:
        """Seconds until this (name, address) may try again; 0 if it may now."""
        pair, address = self._keys(username, source)
        wait = 0
        for digest, limit in ((pair, self.per_account_source), (address, self.per_source)):
            window = self.store.get(digest, now)
            if window is not None and window.failures >= limit:
                wait = max(wait, window.window_ends - now)
        return wait

    def failed(self, username: str, source: str, now: int) -> None:
        for digest in self._keys(username, source):
            self.store.record_failure(digest, now, self.window_seconds)

    def succeeded(self, username: str, source: str) -> None:
        # Only the pair: a success on one's own account must not reset the address's count.
        self.store.clear(self._keys(username, source)[0])
