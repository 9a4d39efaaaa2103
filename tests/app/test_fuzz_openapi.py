"""Schemathesis against the served app (uvicorn on 127.0.0.1, moto, the Yoto fake), with and
without an admin session: no answer may be a 5xx, and every answer must fit the OpenAPI
document (status code, content type, headers and body schema).

Bounded and seeded: ``derandomize=True`` makes Hypothesis derive every example from the test's
name, so each run sends the same requests; ``MAX_EXAMPLES`` per operation and mode bounds it.
The request count is printed at the end of the module (``-s`` shows it).
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.app.conftest import ADMIN_PASSWORD, Stack
from tests.app.test_yoto_and_players import PLAYERS
from tests.support.app_server import app_env, create_app_resources, running_app_server
from tests.support.moto_server import aws_env, patched_environ
from tests.support.yoto_fake import running_yoto_fake
from yoto_smart_stream.api.main import create_app
from yoto_smart_stream.api.security import SESSION_COOKIE
from yoto_smart_stream.core.settings import Settings

MAX_EXAMPLES = int(os.environ.get("FUZZ_MAX_EXAMPLES", "8"))
# Re-signing in comes from its own loopback address, so the fuzzer's failed sign-ins from
# 127.0.0.1 (which the throttle counts) never stop the admin session from being renewed.
ADMIN_SOURCE = "127.0.0.9"
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]

# The document does not depend on the environment; the served app below is built the same way.
schema = schemathesis.openapi.from_dict(create_app(Settings()).openapi())
sent: dict[str, int] = {"anonymous": 0, "admin": 0}
statuses: dict[str, Counter[int]] = {"anonymous": Counter(), "admin": Counter()}


@pytest.fixture(scope="module")
def fuzz_stack(moto_endpoint: str) -> Iterator[Stack]:
    with ExitStack() as stack:
        stack.enter_context(patched_environ(aws_env(moto_endpoint)))
        yoto = stack.enter_context(running_yoto_fake())
        table, bucket = create_app_resources("fuzz")
        env = app_env(
            table_name=table, bucket_name=bucket, yoto=yoto, admin_password=ADMIN_PASSWORD
        )
        server = stack.enter_context(running_app_server(env))
        served = Stack(server=server, yoto=yoto, table_name=table, bucket_name=bucket)
        served.link_yoto()
        yoto.set_players(PLAYERS)
        yield served
    print(f"\nschemathesis sent {sent} requests ({sum(sent.values())} in all); ", end="")
    print("answers by status:", {kind: dict(sorted(c.items())) for kind, c in statuses.items()})


def _admin_cookie(stack: Stack) -> str:
    transport = httpx.HTTPTransport(local_address=ADMIN_SOURCE)
    with httpx.Client(base_url=stack.base_url, transport=transport) as client:
        response = client.post(
            "/api/user/login", json={"username": "admin", "password": ADMIN_PASSWORD}
        )
        assert response.status_code == 200, response.text
        return str(client.cookies[SESSION_COOKIE])


@pytest.fixture(params=["anonymous", "admin"])
def session_headers(
    request: pytest.FixtureRequest, fuzz_stack: Stack
) -> tuple[str, dict[str, str]]:
    """No cookie, or a live admin cookie (renewed per operation: the fuzzer may log out), and
    a linked Yoto account (the fuzzer may disconnect it)."""
    fuzz_stack.link_yoto()
    if request.param == "anonymous":
        return "anonymous", {}
    return "admin", {"Cookie": f"{SESSION_COOKIE}={_admin_cookie(fuzz_stack)}"}


@schema.parametrize()
@settings(
    max_examples=MAX_EXAMPLES,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
)
def test_no_server_error_and_every_answer_fits_the_schema(
    case: schemathesis.Case, fuzz_stack: Stack, session_headers: tuple[str, dict[str, str]]
) -> None:
    kind, headers = session_headers
    sent[kind] += 1
    response = case.call_and_validate(base_url=fuzz_stack.base_url, headers=headers, checks=CHECKS)
    statuses[kind][response.status_code] += 1
