"""The Lambda entry point driven with real API Gateway HTTP API (payload v2.0) events."""

from __future__ import annotations

import base64
import importlib
import json
import os
import subprocess
import sys
import textwrap
import time
import uuid
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from types import ModuleType
from typing import Any

import pytest

from tests.app.conftest import ADMIN_PASSWORD
from tests.support.app_server import app_env, create_app_resources
from yoto_smart_stream.api.lambda_handler import strip_stage
from yoto_smart_stream.api.main import ROUTERS
from yoto_smart_stream.core.settings import get_settings

API_ID = "a1b2c3d4e5"
DOMAIN = f"{API_ID}.execute-api.eu-west-2.amazonaws.com"


def http_api_event(
    method: str,
    path: str,
    *,
    stage: str = "pr-42",
    body: Any = None,
    cookies: list[str] | None = None,
    query: str = "",
    base64_body: bool = False,
) -> dict[str, Any]:
    """An HTTP API payload v2.0 event as API Gateway sends it for ``ANY /{proxy+}``."""
    raw_path = path if stage == "$default" else f"/{stage}{path}"
    now = time.time()
    headers = {
        "accept": "application/json",
        "content-type": "application/json",
        "host": DOMAIN,
        "user-agent": "curl/8.5.0",
        "x-amzn-trace-id": "Root=1-6744a8e0-0123456789abcdef01234567",
        "x-forwarded-for": "203.0.113.7",
        "x-forwarded-port": "443",
        "x-forwarded-proto": "https",
    }
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": "ANY /{proxy+}",
        "rawPath": raw_path,
        "rawQueryString": query,
        "headers": headers,
        "requestContext": {
            "accountId": "123456789012",
            "apiId": API_ID,
            "domainName": DOMAIN,
            "domainPrefix": API_ID,
            "http": {
                "method": method,
                "path": raw_path,
                "protocol": "HTTP/1.1",
                "sourceIp": "203.0.113.7",
                "userAgent": "curl/8.5.0",
            },
            "requestId": uuid.uuid4().hex[:16] + "=",
            "routeKey": "ANY /{proxy+}",
            "stage": stage,
            "time": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(now)),
            "timeEpoch": int(now * 1000),
        },
        "pathParameters": {"proxy": path.lstrip("/")},
        "isBase64Encoded": base64_body,
    }
    if query:
        event["queryStringParameters"] = dict(p.split("=", 1) for p in query.split("&"))
    if cookies:
        event["cookies"] = cookies
    if body is not None:
        text = body if isinstance(body, str) else json.dumps(body)
        event["body"] = base64.b64encode(text.encode()).decode() if base64_body else text
    return event


@dataclass
class LambdaContext:
    function_name: str = "yoto-smart-stream-pr-42-api"
    function_version: str = "$LATEST"
    invoked_function_arn: str = (
        "arn:aws:lambda:eu-west-2:123456789012:function:yoto-smart-stream-pr-42-api"
    )
    memory_limit_in_mb: int = 512
    aws_request_id: str = "6f1f5c3e-3a4b-4d2c-9c1e-0a1b2c3d4e5f"
    log_group_name: str = "/aws/lambda/yoto-smart-stream-pr-42-api"
    log_stream_name: str = "2026/11/25/[$LATEST]0123456789abcdef"

    def get_remaining_time_in_millis(self) -> int:
        return 30_000


@pytest.fixture
def lambda_module(
    aws_environ: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> Iterator[ModuleType]:
    """The handler module imported the way Lambda does: settings from the environment."""
    table, bucket = create_app_resources("lambda")
    for key, value in app_env(
        table_name=table, bucket_name=bucket, admin_password=ADMIN_PASSWORD
    ).items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("ENVIRONMENT", "pr-42")
    monkeypatch.setenv("SESSION_COOKIE_SECURE", "true")
    get_settings.cache_clear()
    import yoto_smart_stream.api.lambda_handler as module

    yield importlib.reload(module)
    get_settings.cache_clear()


def invoke(module: ModuleType, event: dict[str, Any]) -> dict[str, Any]:
    return dict(module.handler(event, LambdaContext()))


def test_health_routes_behind_a_named_stage(lambda_module: ModuleType) -> None:
    response = invoke(lambda_module, http_api_event("GET", "/api/health"))
    assert response["statusCode"] == 200
    body = json.loads(response["body"])
    assert body["status"] == "ok"
    assert body["environment"] == "pr-42"
    assert response["headers"]["content-type"] == "application/json"


def test_default_stage_routes_too(lambda_module: ModuleType) -> None:
    response = invoke(lambda_module, http_api_event("GET", "/api/health", stage="$default"))
    assert response["statusCode"] == 200


def test_ready_through_the_handler(lambda_module: ModuleType) -> None:
    response = invoke(lambda_module, http_api_event("GET", "/api/ready"))
    assert response["statusCode"] == 200
    assert json.loads(response["body"])["checks"] == {"dynamodb": "ok", "s3": "ok"}


def test_login_cookie_round_trip_through_the_handler(lambda_module: ModuleType) -> None:
    login = invoke(
        lambda_module,
        http_api_event(
            "POST",
            "/api/user/login",
            body={"username": "admin", "password": ADMIN_PASSWORD},
            base64_body=True,
        ),
    )
    assert login["statusCode"] == 200
    (cookie,) = login["cookies"]  # payload v2 returns Set-Cookie in "cookies"
    assert "HttpOnly" in cookie
    assert "Secure" in cookie
    assert "SameSite=lax" in cookie
    session = invoke(
        lambda_module,
        http_api_event("GET", "/api/user/session", cookies=[cookie.split(";", 1)[0]]),
    )
    assert session["statusCode"] == 200
    assert json.loads(session["body"]) == {"username": "admin", "role": "admin"}
    anonymous = invoke(lambda_module, http_api_event("GET", "/api/user/session"))
    assert anonymous["statusCode"] == 401


def test_bad_input_through_the_handler_is_4xx(lambda_module: ModuleType) -> None:
    malformed = invoke(lambda_module, http_api_event("POST", "/api/user/login", body="{oops"))
    assert malformed["statusCode"] == 422
    assert "JSON" in malformed["body"]
    unknown = invoke(lambda_module, http_api_event("GET", "/api/nothing-here"))
    assert unknown["statusCode"] == 404
    assert json.loads(unknown["body"]) == {"detail": "No such API endpoint."}
    bad_query = invoke(
        lambda_module,
        http_api_event("GET", "/api/players/p1/events", query="limit=abc"),
    )
    assert bad_query["statusCode"] == 401  # authentication comes before anything else


@pytest.mark.parametrize(
    ("stage", "path", "expected"),
    [
        ("pr-42", "/pr-42/api/health", "/api/health"),
        ("pr-42", "/pr-42", "/"),
        ("pr-42", "/pr-420/api/health", "/pr-420/api/health"),  # another stage's prefix
        ("$default", "/api/health", "/api/health"),
        ("prod", "/api/prod/x", "/api/prod/x"),
    ],
)
def test_strip_stage(stage: str, path: str, expected: str) -> None:
    event = {"rawPath": path, "requestContext": {"stage": stage, "http": {"path": path}}}
    stripped = strip_stage(event)
    assert stripped["rawPath"] == expected
    assert stripped["requestContext"]["http"]["path"] == expected
    assert event["rawPath"] == path  # the caller's event is not mutated


IMPORT_PROBE = textwrap.dedent(
    """
    import socket, time
    import botocore.session
    created, connects = [], []
    original_create = botocore.session.Session.create_client
    def counting_create(self, *args, **kwargs):
        created.append(args[0] if args else kwargs.get("service_name"))
        return original_create(self, *args, **kwargs)
    botocore.session.Session.create_client = counting_create
    original_connect = socket.socket.connect
    def counting_connect(self, address):
        connects.append(address)
        return original_connect(self, address)
    socket.socket.connect = counting_connect
    started = time.perf_counter()
    import yoto_smart_stream.api.lambda_handler
    elapsed = time.perf_counter() - started
    print(created, connects, round(elapsed, 3))
    """
)


def test_import_creates_no_aws_client_and_opens_no_connection() -> None:
    env = {
        **os.environ,
        "AWS_ENDPOINT_URL": "http://127.0.0.1:9",
        "DYNAMODB_TABLE": "t",
        "S3_AUDIO_BUCKET": "b",
        "AWS_DEFAULT_REGION": "eu-west-2",
    }
    result = subprocess.run(
        [sys.executable, "-c", IMPORT_PROBE], env=env, capture_output=True, text=True, check=True
    )
    # Prints: <clients created> <connections opened> <import seconds>
    assert result.stdout.startswith("[] [] "), result.stdout + result.stderr


def test_cold_import_and_health_do_not_load_boto3() -> None:
    """boto3 is ~40% of the cold import (bench/app_bench.py --importtime); /api/health needs
    no AWS, so a cold Lambda answering it must not pay for boto3."""
    probe = textwrap.dedent(
        """
        import json, sys
        from types import SimpleNamespace
        from yoto_smart_stream.api.lambda_handler import handler
        event, context = json.loads(sys.argv[1]), SimpleNamespace(**json.loads(sys.argv[2]))
        response = handler(event, context)
        print(response["statusCode"], "boto3" in sys.modules)
        """
    )
    env = {**os.environ, "DYNAMODB_TABLE": "t", "S3_AUDIO_BUCKET": "b", "ENVIRONMENT": "pr-42"}
    event = http_api_event("GET", "/api/health")
    result = subprocess.run(
        [sys.executable, "-c", probe, json.dumps(event), json.dumps(asdict(LambdaContext()))],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.stdout.split() == ["200", "False"], result.stdout + result.stderr


def login_event(source_ip: str, password: str, **headers: str) -> dict[str, Any]:
    event = http_api_event(
        "POST", "/api/user/login", body={"username": "admin", "password": password}
    )
    event["requestContext"]["http"]["sourceIp"] = source_ip
    event["headers"].update(headers)
    return event


def test_throttle_keys_on_api_gateways_source_ip_not_x_forwarded_for(
    lambda_module: ModuleType,
) -> None:
    """In Lambda the source address is requestContext.http.sourceIp; X-Forwarded-For is the
    client's to write, so rotating it buys a guesser nothing."""
    assert invoke(lambda_module, login_event("198.51.100.1", ADMIN_PASSWORD))["statusCode"] == 200
    for i in range(5):
        forged = login_event("203.0.113.7", "x", **{"x-forwarded-for": f"192.0.2.{i}"})
        assert invoke(lambda_module, forged)["statusCode"] == 401
    throttled = invoke(lambda_module, login_event("203.0.113.7", ADMIN_PASSWORD))
    assert throttled["statusCode"] == 429
    assert int(throttled["headers"]["retry-after"]) > 0
    assert invoke(lambda_module, login_event("198.51.100.1", ADMIN_PASSWORD))["statusCode"] == 200


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"origin": f"https://{DOMAIN}"}, 200),
        # Another preview's page: same site (execute-api), different origin.
        ({"origin": "https://f6g7h8i9j0.execute-api.eu-west-2.amazonaws.com"}, 403),
        ({"sec-fetch-site": "same-site"}, 403),
        ({"sec-fetch-site": "same-origin", "origin": f"https://{DOMAIN}"}, 200),
    ],
)
def test_cross_site_check_behind_api_gateway(
    lambda_module: ModuleType, headers: dict[str, str], expected: int
) -> None:
    assert (
        invoke(lambda_module, login_event("198.51.100.1", ADMIN_PASSWORD, **headers))["statusCode"]
        == expected
    )


DEFERRED_ROUTERS = [module for module, _ in ROUTERS]


def test_a_cold_lambda_imports_only_the_router_its_first_request_needs() -> None:
    """Building every router was most of what the app added to a hello-world's cold start
    (bench/app_bench.py --importtime); /api/health needs the health router alone, and no
    Yoto client (httpx) or session signing (PyJWT, argon2). Powertools is gone: the runtime's
    JSON log format writes the logs."""
    probe = textwrap.dedent(
        """
        import json, sys
        from types import SimpleNamespace
        from yoto_smart_stream.api.lambda_handler import handler
        event, context = json.loads(sys.argv[1]), SimpleNamespace(**json.loads(sys.argv[2]))
        routers = json.loads(sys.argv[3])
        heavy = ["aws_lambda_powertools", "httpx", "jwt", "argon2"]
        loaded = lambda: [name for name in routers + heavy if name in sys.modules]
        health = handler(event, context)["statusCode"]
        after_health = loaded()
        event["rawPath"] = event["requestContext"]["http"]["path"] = "/api/user/session"
        session = handler(event, context)["statusCode"]
        print(json.dumps([health, after_health, session, loaded()]))
        """
    )
    env = {
        **os.environ,
        "DYNAMODB_TABLE": "t",
        "S3_AUDIO_BUCKET": "b",
        "ENVIRONMENT": "pr-42",
        # /api/user/session without a cookie is a 401 before any AWS call; nothing listens here.
        "AWS_DEFAULT_REGION": "eu-west-2",
        "AWS_ENDPOINT_URL": "http://127.0.0.1:9",
    }
    event = http_api_event("GET", "/api/health", stage="$default")
    result = subprocess.run(
        [sys.executable, "-c", probe, json.dumps(event), json.dumps(asdict(LambdaContext())),
         json.dumps(DEFERRED_ROUTERS)],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    health, after_health, session, after_session = json.loads(result.stdout.splitlines()[-1])
    assert (health, after_health) == (200, ["yoto_smart_stream.api.routers.health"])
    # The next request under another router's prefix includes that router, and only it (with
    # no cookie to check, PyJWT is not needed yet either).
    assert session == 401
    assert after_session == [
        "yoto_smart_stream.api.routers.health",
        "yoto_smart_stream.api.routers.users",
    ]


def test_the_first_request_of_a_router_with_the_wrong_method_is_a_405(
    lambda_module: ModuleType,
) -> None:
    response = invoke(lambda_module, http_api_event("GET", "/api/user/login"))
    assert response["statusCode"] == 405, response
    assert response["headers"]["allow"] == "POST"
    assert invoke(lambda_module, http_api_event("GET", "/api/nowhere"))["statusCode"] == 404


def test_health_through_the_handler_starts_no_thread() -> None:
    """Mangum runs each invocation on a new event loop, so anything FastAPI runs in its thread
    pool starts a new thread per request; the health path (settings included) runs none."""
    probe = textwrap.dedent(
        """
        import json, sys, threading
        from types import SimpleNamespace
        from yoto_smart_stream.api.lambda_handler import handler
        event, context = json.loads(sys.argv[1]), SimpleNamespace(**json.loads(sys.argv[2]))
        started = []
        original_start = threading.Thread.start
        def counting_start(self):
            started.append(self.name)
            return original_start(self)
        threading.Thread.start = counting_start
        codes = [handler(event, context)["statusCode"] for _ in range(5)]
        print(json.dumps([codes, len(started)]))
        """
    )
    env = {**os.environ, "DYNAMODB_TABLE": "t", "S3_AUDIO_BUCKET": "b", "ENVIRONMENT": "pr-42"}
    event = http_api_event("GET", "/api/health", stage="$default")
    result = subprocess.run(
        [sys.executable, "-c", probe, json.dumps(event), json.dumps(asdict(LambdaContext()))],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.splitlines()[-1]) == [[200] * 5, 0]
