"""Health, readiness, login, sessions, throttling and admin user management over real HTTP."""

from __future__ import annotations

import boto3
import httpx
import jwt

from tests.app.conftest import ADMIN_PASSWORD, Stack
from tests.support.app_server import app_env, create_app_resources, running_app_server
from yoto_smart_stream.api.security import SESSION_COOKIE


def test_health_reports_version_environment_and_commit(stack: Stack) -> None:
    body = stack.client().get("/api/health").json()
    assert body["status"] == "ok"
    assert body["environment"] == "test"
    assert body["commit"] == "test-commit"
    assert body["version"] == "0.1.0"


def test_ready_checks_table_and_bucket(stack: Stack) -> None:
    response = stack.client().get("/api/ready")
    assert response.status_code == 200
    assert response.json() == {"status": "ready", "checks": {"dynamodb": "ok", "s3": "ok"}}


def test_ready_is_503_and_names_the_missing_bucket(aws_environ: dict[str, str]) -> None:
    table, _ = create_app_resources()
    env = app_env(table_name=table, bucket_name="no-such-bucket-here")
    with running_app_server(env) as server:
        response = httpx.get(f"{server.base_url}/api/ready")
    assert response.status_code == 503
    assert response.json()["checks"]["dynamodb"] == "ok"
    assert response.json()["checks"]["s3"].startswith("failed")


def test_first_login_bootstraps_the_admin_and_sets_a_strict_cookie(stack: Stack) -> None:
    client = stack.client()
    response = client.post(
        "/api/user/login", json={"username": "admin", "password": ADMIN_PASSWORD}
    )
    assert response.status_code == 200
    assert response.json() == {"username": "admin", "role": "admin"}
    cookie = response.headers["set-cookie"].lower()
    assert "httponly" in cookie
    assert "samesite=lax" in cookie
    assert client.get("/api/user/session").json() == {"username": "admin", "role": "admin"}
    # The stored password is an argon2 hash, never the password.
    item = (
        boto3.resource("dynamodb")
        .Table(stack.table_name)
        .get_item(Key={"PK": "USER", "SK": "USER#admin"})["Item"]
    )
    assert str(item["password_hash"]).startswith("$argon2")
    assert ADMIN_PASSWORD not in str(item)


def test_session_cookie_is_secure_by_default(aws_environ: dict[str, str]) -> None:
    table, bucket = create_app_resources()
    env = app_env(table_name=table, bucket_name=bucket, admin_password=ADMIN_PASSWORD)
    del env["SESSION_COOKIE_SECURE"]
    with running_app_server(env) as server:
        response = httpx.post(
            f"{server.base_url}/api/user/login",
            json={"username": "admin", "password": ADMIN_PASSWORD},
        )
    assert response.status_code == 200
    assert "secure" in response.headers["set-cookie"].lower()


def test_wrong_password_is_401_and_bootstrap_needs_the_secret(stack: Stack) -> None:
    client = stack.client()
    response = client.post("/api/user/login", json={"username": "admin", "password": "admin"})
    assert response.status_code == 401
    assert response.json()["detail"] == "Wrong username or password."
    response = client.post("/api/user/login", json={"username": "nobody", "password": "x"})
    assert response.status_code == 401


def test_without_a_bootstrap_secret_login_says_so(aws_environ: dict[str, str]) -> None:
    table, bucket = create_app_resources()
    with running_app_server(app_env(table_name=table, bucket_name=bucket)) as server:
        response = httpx.post(
            f"{server.base_url}/api/user/login", json={"username": "admin", "password": "admin"}
        )
    assert response.status_code == 503
    assert "admin bootstrap password is not configured" in response.json()["detail"]


def test_without_a_signing_key_protected_routes_say_so(aws_environ: dict[str, str]) -> None:
    table, bucket = create_app_resources()
    env = app_env(table_name=table, bucket_name=bucket, admin_password=ADMIN_PASSWORD)
    del env["SESSION_SIGNING_KEY"]
    with running_app_server(env) as server:
        response = httpx.post(
            f"{server.base_url}/api/user/login",
            json={"username": "admin", "password": ADMIN_PASSWORD},
        )
    assert response.status_code == 503
    assert "session signing key" in response.json()["detail"]


def test_signing_key_and_bootstrap_password_come_from_ssm(aws_environ: dict[str, str]) -> None:
    ssm = boto3.client("ssm")
    ssm.put_parameter(Name="/yss-test/key", Value="k" * 40, Type="SecureString", Overwrite=True)
    ssm.put_parameter(
        Name="/yss-test/admin", Value=ADMIN_PASSWORD, Type="SecureString", Overwrite=True
    )
    table, bucket = create_app_resources()
    env = app_env(
        table_name=table,
        bucket_name=bucket,
        session_signing_key_parameter="/yss-test/key",
        admin_bootstrap_password_parameter="/yss-test/admin",
    )
    del env["SESSION_SIGNING_KEY"]
    with running_app_server(env) as server, httpx.Client(base_url=server.base_url) as client:
        response = client.post(
            "/api/user/login", json={"username": "admin", "password": ADMIN_PASSWORD}
        )
        assert response.status_code == 200
        assert client.get("/api/user/session").status_code == 200


def test_repeated_failures_throttle_that_name_from_that_address(stack: Stack) -> None:
    stack.login().close()  # bootstrap the admin
    client = stack.client()
    for _ in range(5):
        bad = client.post("/api/user/login", json={"username": "admin", "password": "wrong"})
        assert bad.status_code == 401
    locked = client.post("/api/user/login", json={"username": "admin", "password": ADMIN_PASSWORD})
    assert locked.status_code == 429
    assert "Too many failed logins" in locked.json()["detail"]
    assert int(locked.headers["retry-after"]) > 0


def test_logout_ends_the_session_even_for_a_copied_cookie(stack: Stack) -> None:
    client = stack.login()
    stolen = client.cookies[SESSION_COOKIE]
    assert client.post("/api/user/logout").status_code == 200
    replay = httpx.get(f"{stack.base_url}/api/user/session", cookies={SESSION_COOKIE: stolen})
    assert replay.status_code == 401


def test_forged_session_is_rejected(stack: Stack) -> None:
    forged = jwt.encode(
        {"sub": "admin", "sv": 0, "aud": "test"}, "a guessed signing key of 32 bytes!", "HS256"
    )
    response = httpx.get(f"{stack.base_url}/api/user/session", cookies={SESSION_COOKIE: forged})
    assert response.status_code == 401


def test_admin_manages_users(stack: Stack, admin: httpx.Client) -> None:
    created = admin.post(
        "/api/admin/users", json={"username": "kid", "password": "twelve chars!", "role": "user"}
    )
    assert created.status_code == 201
    assert created.json()["role"] == "user"
    duplicate = admin.post("/api/admin/users", json={"username": "kid", "password": "x" * 12})
    assert duplicate.status_code == 409
    names = [u["username"] for u in admin.get("/api/admin/users").json()]
    assert names == ["admin", "kid"]

    kid = stack.login("kid", "twelve chars!")
    assert kid.get("/api/user/session").json()["role"] == "user"
    assert kid.get("/api/admin/users").status_code == 403

    disabled = admin.post("/api/admin/users/kid/disable")
    assert disabled.json()["disabled"] is True
    assert kid.get("/api/user/session").status_code == 401  # existing session ends at once
    relogin = kid.post("/api/user/login", json={"username": "kid", "password": "twelve chars!"})
    assert relogin.status_code == 401

    assert admin.delete("/api/admin/users/kid").status_code == 200
    assert admin.delete("/api/admin/users/kid").status_code == 404
    assert admin.post("/api/admin/users/admin/disable").status_code == 409


def test_user_input_is_validated(admin: httpx.Client) -> None:
    weak = admin.post("/api/admin/users", json={"username": "kid", "password": "short"})
    assert weak.status_code == 422
    assert "password" in weak.text
    bad_name = admin.post("/api/admin/users", json={"username": "../etc", "password": "x" * 12})
    assert bad_name.status_code == 422
    traversal = admin.delete("/api/admin/users/..%2F..%2Fadmin")
    assert traversal.status_code in (404, 422)
    assert admin.delete("/api/admin/users/..").status_code in (404, 422)
    malformed = admin.post(
        "/api/user/login", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert malformed.status_code == 422
    assert "JSON" in malformed.text
    wrong_type = admin.post("/api/user/login", json={"username": ["admin"], "password": 1})
    assert wrong_type.status_code == 422
