"""Serve ``create_app()`` with uvicorn on 127.0.0.1 (real sockets) for tests.

Typical use, inside a test that has the ``aws_environ`` fixture (moto server)::

    table, bucket = create_app_resources()
    with running_yoto_fake() as yoto, running_app_server(
        app_env(table_name=table, bucket_name=bucket, yoto=yoto, admin_password=PASSWORD)
    ) as server:
        httpx.post(f"{server.base_url}/api/user/login", json={...})

The server runs in a thread of the test process, so moto's environment (``AWS_*``) applies to
it and tests can reach ``server.app`` and ``server.settings``.
"""

from __future__ import annotations

import secrets
import socket
import threading
import time
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, cast

import boto3
import uvicorn
from fastapi import FastAPI

from tests.support.moto_server import patched_environ
from tests.support.template import create_table_from_template
from tests.support.yoto_fake import FakeYoto
from yoto_smart_stream.api.main import create_app
from yoto_smart_stream.core.settings import Settings

TEST_PUBLIC_URL = "https://stream.example.test"


@dataclass(frozen=True)
class AppServer:
    base_url: str
    app: FastAPI
    settings: Settings


def create_app_resources(prefix: str = "app") -> tuple[str, str]:
    """Create a table (from the template's key schema) and an audio bucket in the current
    AWS endpoint (moto); return their names."""
    suffix = uuid.uuid4().hex[:12]
    table_name, bucket_name = f"{prefix}-{suffix}", f"{prefix}-audio-{suffix}"
    create_table_from_template(boto3.client("dynamodb"), table_name)
    s3 = boto3.client("s3")
    region = s3.meta.region_name
    if region == "us-east-1":
        s3.create_bucket(Bucket=bucket_name)
    else:
        s3.create_bucket(
            Bucket=bucket_name,
            CreateBucketConfiguration={"LocationConstraint": cast(Any, region)},
        )
    return table_name, bucket_name


def app_env(
    *,
    table_name: str,
    bucket_name: str,
    yoto: FakeYoto | None = None,
    admin_password: str | None = None,
    public_url: str = TEST_PUBLIC_URL,
    **extra: str,
) -> dict[str, str]:
    """Environment variables for ``Settings``: a random signing key, plain-http cookies."""
    env = {
        "ENVIRONMENT": "test",
        "DYNAMODB_TABLE": table_name,
        "S3_AUDIO_BUCKET": bucket_name,
        "PUBLIC_URL": public_url,
        "SESSION_SIGNING_KEY": secrets.token_urlsafe(32),
        # Browsers and httpx drop Secure cookies on http://127.0.0.1.
        "SESSION_COOKIE_SECURE": "false",
        "GIT_COMMIT": "test-commit",
    }
    if yoto is not None:
        env.update(yoto.settings_env())
    if admin_password is not None:
        env["ADMIN_BOOTSTRAP_PASSWORD"] = admin_password
    env.update({key.upper(): value for key, value in extra.items()})
    return env


def settings_from_env(env: Mapping[str, str]) -> Settings:
    """``Settings`` read from the current environment overlaid with ``env``."""
    with patched_environ(dict(env)):
        return Settings()


@contextmanager
def running_app_server(
    env: Mapping[str, str] | None = None, *, settings: Settings | None = None
) -> Iterator[AppServer]:
    """Serve a fresh app until the block ends; the port is chosen by the OS."""
    effective = settings or settings_from_env(env or {})
    app = create_app(effective)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(app, log_level="warning", lifespan="off", access_log=False)
    server = uvicorn.Server(config)
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [sock]}, name="app-server", daemon=True
    )
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("The app server did not start within 10 seconds.")
        time.sleep(0.02)
    try:
        yield AppServer(base_url=f"http://127.0.0.1:{port}", app=app, settings=effective)
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()
