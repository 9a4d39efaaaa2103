"""Two guards in front of every route, as plain ASGI middleware (they run before FastAPI
parses anything).

``BodyLimit``: a request body over ``max_request_body_bytes`` is refused with 413 before any
route parses it. Lambda receives the whole body anyway (API Gateway caps it at 10 MB); the
local server and tests stream it, so the limit also bounds what one request can make us hold.

``CrossSiteGuard`` (OWASP CSRF cheat sheet, "Fetch Metadata" and "Verifying Origin"): every
state-changing request (POST, PUT, PATCH, DELETE) that carries ``Sec-Fetch-Site`` must say
``same-origin``, and one that carries ``Origin`` must name this site's own origin: the origin of
``PUBLIC_URL`` (CloudFront's address when it fronts the API) or the scheme and ``Host`` the
request arrived with. ``same-site`` is refused too: every ``*.execute-api.<region>.amazonaws.com``
host (dev and every preview) is the same site by the public-suffix list, so SameSite=Lax alone
protects nothing there. A request with neither header is not a browser's cross-site request
(every browser that sends cookies sends at least one of them on a cross-origin POST), so
curl, httpx and the pipeline's smoke test keep working.
"""

from __future__ import annotations

import json
from urllib.parse import urlsplit

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

STATE_CHANGING_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


async def _send_json(send: Send, status: int, detail: str) -> None:
    body = json.dumps({"detail": detail}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                # The rest of an over-long body is never read; the connection cannot be reused.
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


class BodyLimit:
    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        too_large = f"The request body is larger than the {self.max_bytes}-byte limit."
        declared = Headers(scope=scope).get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await _send_json(send, 413, too_large)
            return
        # No (or a false) Content-Length: read at most the limit, then hand the body on.
        messages: list[Message] = []
        received = 0
        while True:
            message = await receive()
            messages.append(message)
            if message["type"] != "http.request":
                break
            received += len(message.get("body", b""))
            if received > self.max_bytes:
                await _send_json(send, 413, too_large)
                return
            if not message.get("more_body", False):
                break

        async def replay() -> Message:
            return messages.pop(0) if messages else await receive()

        await self.app(scope, replay, send)


def origin_of(url: str) -> str | None:
    parts = urlsplit(url)
    if not parts.scheme or not parts.netloc:
        return None
    return f"{parts.scheme}://{parts.netloc}".lower()


class CrossSiteGuard:
    def __init__(self, app: ASGIApp, public_url: str) -> None:
        self.app = app
        self.public_origin = origin_of(public_url)

    def _own_origins(self, scope: Scope, headers: Headers) -> set[str]:
        origins = {self.public_origin} if self.public_origin else set()
        host = headers.get("host")
        if host:
            origins.add(f"{scope.get('scheme', 'http')}://{host}".lower())
        return origins

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in STATE_CHANGING_METHODS:
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        fetch_site = headers.get("sec-fetch-site")
        if fetch_site is not None and fetch_site.lower() != "same-origin":
            await _send_json(
                send, 403, "Cross-site request refused: this API only accepts its own pages."
            )
            return
        origin = headers.get("origin")
        if origin is not None and origin.lower() not in self._own_origins(scope, headers):
            await _send_json(
                send, 403, "Cross-origin request refused: this API only accepts its own pages."
            )
            return
        await self.app(scope, receive, send)
