"""Fixtures for the app's tests: moto resources, the fake Yoto cloud, a served app."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import boto3
import httpx
import pytest

from tests.support.app_server import AppServer, app_env, create_app_resources, running_app_server
from tests.support.template import create_table_from_template
from tests.support.yoto_fake import FakeYoto, running_yoto_fake
from yoto_smart_stream.core.aws import aws_clients
from yoto_smart_stream.core.storage.tokens import TokenStore
from yoto_smart_stream.core.yoto.client import TokenSet

ADMIN_PASSWORD = "correct horse battery staple"


@pytest.fixture
def yoto() -> Iterator[FakeYoto]:
    with running_yoto_fake() as fake:
        yield fake


@pytest.fixture
def table_name(aws_environ: dict[str, str]) -> str:
    name = f"app-{uuid.uuid4().hex[:12]}"
    create_table_from_template(boto3.client("dynamodb"), name)
    return name


@dataclass
class Stack:
    server: AppServer
    yoto: FakeYoto
    table_name: str
    bucket_name: str

    @property
    def base_url(self) -> str:
        return self.server.base_url

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.base_url, timeout=30)

    def login(self, username: str = "admin", password: str = ADMIN_PASSWORD) -> httpx.Client:
        client = self.client()
        response = client.post("/api/user/login", json={"username": username, "password": password})
        assert response.status_code == 200, response.text
        return client

    def link_yoto(self, expires_in: int = 3600) -> None:
        """Store tokens as a finished device login would (the flow itself is tested apart)."""
        issued = self.yoto.issue_tokens(expires_in=expires_in)
        TokenStore(aws_clients(self.server.settings).table).store(
            TokenSet(issued.access_token, issued.refresh_token, time.time() + expires_in)
        )


@contextmanager
def client_from(stack: Stack, address: str) -> Iterator[httpx.Client]:
    """A client whose requests come from ``address`` (another loopback address, e.g. 127.0.0.2),
    so the app sees another peer exactly as API Gateway's ``sourceIp`` would differ."""
    transport = httpx.HTTPTransport(local_address=address)
    with httpx.Client(base_url=stack.base_url, transport=transport, timeout=30) as client:
        yield client


def login(client: httpx.Client, username: str, password: str) -> httpx.Response:
    """One sign-in attempt, whatever its answer (``Stack.login`` insists on success)."""
    return client.post("/api/user/login", json={"username": username, "password": password})


@contextmanager
def stack_with(yoto: FakeYoto, **extra: str) -> Iterator[Stack]:
    """A served app on fresh moto resources; ``extra`` sets Settings fields."""
    table, bucket = create_app_resources()
    env = app_env(
        table_name=table, bucket_name=bucket, yoto=yoto, admin_password=ADMIN_PASSWORD, **extra
    )
    with running_app_server(env) as server:
        yield Stack(server=server, yoto=yoto, table_name=table, bucket_name=bucket)


@pytest.fixture
def stack(aws_environ: dict[str, str], yoto: FakeYoto) -> Iterator[Stack]:
    # A short Yoto timeout keeps the "Yoto hangs" test quick.
    with stack_with(yoto, yoto_timeout_seconds="1.5") as served:
        yield served


@pytest.fixture
def admin(stack: Stack) -> Iterator[httpx.Client]:
    client = stack.login()
    try:
        yield client
    finally:
        client.close()
