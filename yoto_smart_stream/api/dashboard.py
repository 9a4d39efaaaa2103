"""The dashboard page with a Content-Security-Policy that follows the environment.

The static ``index.html`` carries a strict policy whose ``connect-src`` allows the page's own
origin plus any https origin (in AWS the browser uploads straight to S3 over https, and
CloudFront serves the file unchanged from S3). Where the app itself serves the page (locally,
in tests, behind an API Gateway stage, in the emulated preview whose storage is plain http),
the upload target is known from the settings, so ``connect-src`` names exactly that origin,
in the meta tag and in a header.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from urllib.parse import urlsplit

from fastapi import APIRouter
from fastapi.responses import HTMLResponse

from yoto_smart_stream.api.dependencies import SettingsDep
from yoto_smart_stream.core.aws import aws_clients
from yoto_smart_stream.core.settings import Settings

INDEX_HTML = Path(__file__).resolve().parent / "static" / "index.html"
# The connect-src the static file ships with; replaced when the app serves the page.
STATIC_CONNECT_SRC = "connect-src 'self' https:;"

router = APIRouter(include_in_schema=False)


@lru_cache(maxsize=8)
def storage_origin(settings: Settings) -> str | None:
    """The origin the browser PUTs uploads to: that of a presigned URL for the audio bucket."""
    if not settings.s3_audio_bucket:
        return None
    url = aws_clients(settings).s3.generate_presigned_url(
        "put_object", Params={"Bucket": settings.s3_audio_bucket, "Key": "probe"}, ExpiresIn=60
    )
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def content_security_policy(settings: Settings) -> str:
    origin = storage_origin(settings)
    connect = f"connect-src 'self' {origin};" if origin else "connect-src 'self';"
    return _static_policy().replace(STATIC_CONNECT_SRC, connect)


@lru_cache(maxsize=1)
def _index_text() -> str:
    return INDEX_HTML.read_text(encoding="utf-8")


def _static_policy() -> str:
    text = _index_text()
    marker = 'http-equiv="Content-Security-Policy"'
    start = text.index('content="', text.index(marker)) + len('content="')
    return text[start : text.index('"', start)]


@router.get("/", response_class=HTMLResponse)
@router.get("/index.html", response_class=HTMLResponse)
def dashboard_page(settings: SettingsDep) -> HTMLResponse:
    policy = content_security_policy(settings)
    html = _index_text().replace(_static_policy(), policy)
    return HTMLResponse(
        html,
        headers={
            "Content-Security-Policy": policy,
            "Cache-Control": "no-cache",
            "X-Content-Type-Options": "nosniff",
        },
    )
