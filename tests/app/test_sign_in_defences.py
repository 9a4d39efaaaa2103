"""Issue 12, items 1-3 over real HTTP: the sign-in throttle no stranger can turn into a
lockout, sessions that never outlive their user, and the cross-site request check.

Different source addresses are real: the client binds its socket to another loopback address
(127.0.0.2, 127.0.0.3, ...), so the app sees a different peer exactly as API Gateway's
``sourceIp`` would differ.
"""

from __future__ import annotations

from contextlib import closing

import boto3
import httpx
import pytest

from tests.app.conftest import ADMIN_PASSWORD, Stack, client_from, login, stack_with
from tests.support.app_server import app_env, running_app_server
from tests.support.yoto_fake import FakeYoto
from yoto_smart_stream.api.security import SESSION_COOKIE
from yoto_smart_stream.core.storage import schema

ATTACKER = "127.0.0.2"
OWNER = "127.0.0.3"
KID_PASSWORD = "twelve chars!"


def test_a_strangers_guesses_never_lock_the_owner_out(stack: Stack) -> None:
    """The issue's reproducer: five wrong passwords used to lock the account for everyone."""
    stack.login().close()  # the admin exists
    with client_from(stack, ATTACKER) as attacker:
        codes = [login(attacker, "admin", "x").status_code for _ in range(5)]
        assert codes == [401] * 5
        throttled = login(attacker, "admin", ADMIN_PASSWORD)
        assert throttled.status_code == 429  # the guesser is slowed down, even when right
        assert 0 < int(throttled.headers["retry-after"]) <= 15 * 60
    with client_from(stack, OWNER) as owner:
        assert login(owner, "admin", ADMIN_PASSWORD).status_code == 200


def test_unknown_and_known_names_are_throttled_alike(stack: Stack) -> None:
    stack.login().close()
    with client_from(stack, ATTACKER) as attacker:
        known = [login(attacker, "admin", "x") for _ in range(6)]
        unknown = [login(attacker, "ghost", "x") for _ in range(6)]
    assert [r.status_code for r in known] == [r.status_code for r in unknown] == [401] * 5 + [429]
    assert [r.json() for r in known] == [r.json() for r in unknown]


def test_bootstrap_password_is_throttled_the_same_way(stack: Stack) -> None:
    """Before the first admin exists, guesses at the bootstrap password used to be free."""
    with client_from(stack, ATTACKER) as attacker:
        codes = [login(attacker, "admin", f"guess {i}").status_code for i in range(12)]
        assert codes == [401] * 5 + [429] * 7
        assert login(attacker, "admin", ADMIN_PASSWORD).status_code == 429
    with client_from(stack, OWNER) as owner:
        bootstrapped = login(owner, "admin", ADMIN_PASSWORD)
        assert bootstrapped.status_code == 200
        assert owner.get("/api/user/session").json() == {"username": "admin", "role": "admin"}


def test_one_address_spraying_many_names_is_throttled(
    aws_environ: dict[str, str], yoto: FakeYoto
) -> None:
    with stack_with(yoto, login_failures_per_source="8") as stack:
        stack.login().close()
        with client_from(stack, ATTACKER) as attacker:
            codes = [login(attacker, f"user{i}", "x").status_code for i in range(10)]
            assert codes == [401] * 8 + [429] * 2
            assert login(attacker, "admin", ADMIN_PASSWORD).status_code == 429
        with client_from(stack, OWNER) as owner:
            assert login(owner, "admin", ADMIN_PASSWORD).status_code == 200


def test_throttle_state_lives_in_dynamodb_for_every_process(
    aws_environ: dict[str, str], yoto: FakeYoto
) -> None:
    """Two app servers (two Lambdas) on one table share the counts; each item has a TTL."""
    with stack_with(yoto) as first:
        first.login().close()
        env = app_env(
            table_name=first.table_name,
            bucket_name=first.bucket_name,
            admin_password=ADMIN_PASSWORD,
        )
        with running_app_server(env) as second_server:
            second = Stack(second_server, yoto, first.table_name, first.bucket_name)
            for index in range(5):
                with client_from(first if index % 2 else second, ATTACKER) as attacker:
                    assert login(attacker, "admin", "x").status_code == 401
            for stack in (first, second):
                with client_from(stack, ATTACKER) as attacker:
                    assert login(attacker, "admin", ADMIN_PASSWORD).status_code == 429
        table = boto3.resource("dynamodb").Table(first.table_name)
        items = [
            item
            for item in table.scan()["Items"]
            if str(item["PK"]).startswith(schema.THROTTLE_PK_PREFIX)
        ]
        assert len(items) == 2  # (admin, 127.0.0.2) and (127.0.0.2)
        assert all(int(item[schema.TTL_ATTRIBUTE]) > 0 for item in items)
        assert all("admin" not in str(item) and ATTACKER not in str(item) for item in items)


def test_a_success_clears_only_that_names_count_from_that_address(stack: Stack) -> None:
    stack.login().close()
    with client_from(stack, ATTACKER) as client:
        for _ in range(4):
            assert login(client, "admin", "x").status_code == 401
        assert login(client, "admin", ADMIN_PASSWORD).status_code == 200
        for _ in range(5):
            assert login(client, "admin", "x").status_code == 401
        assert login(client, "admin", "x").status_code == 429


def test_viewer_address_is_trusted_only_with_our_distributions_secret(
    aws_environ: dict[str, str], yoto: FakeYoto
) -> None:
    """Behind CloudFront every viewer shares a few edge addresses; the distribution forwards
    CloudFront-Viewer-Address and adds the origin secret. Without the secret the header is
    anyone's to write, so it is ignored and the peer counts."""
    secret = "origin secret for tests"
    with stack_with(yoto, cloudfront_origin_secret=secret) as stack:
        stack.login().close()

        def via_edge(viewer: str, sent_secret: str) -> int:
            headers = {
                "CloudFront-Viewer-Address": f"{viewer}:51234",
                "X-Origin-Verify": sent_secret,
            }
            with client_from(stack, ATTACKER) as edge:
                response = edge.post(
                    "/api/user/login",
                    json={"username": "admin", "password": "x"},
                    headers=headers,
                )
            return response.status_code

        # Five viewers behind one edge address: each counts on its own.
        assert [via_edge(f"198.51.100.{i}", secret) for i in range(1, 6)] == [401] * 5
        assert [via_edge("198.51.100.1", secret) for _ in range(4)] == [401] * 4
        assert via_edge("198.51.100.1", secret) == 429
        # A forged header without the secret: the peer (127.0.0.2) counts, however it varies.
        assert [via_edge(f"203.0.113.{i}", "guess") for i in range(1, 6)] == [401] * 5
        assert via_edge("203.0.113.99", "guess") == 429


def test_a_deleted_users_cookie_never_comes_back(stack: Stack, admin: httpx.Client) -> None:
    """The issue's reproducer: carl signs in; an admin deletes carl and re-creates him as an
    admin; carl's old cookie used to reach /api/admin/users."""
    new_carl = {"username": "carl", "password": KID_PASSWORD, "role": "user"}
    assert admin.post("/api/admin/users", json=new_carl).status_code == 201
    with closing(stack.login("carl", KID_PASSWORD)) as carl:
        old_cookie = carl.cookies[SESSION_COOKIE]
    assert admin.delete("/api/admin/users/carl").status_code == 200
    recreated = admin.post("/api/admin/users", json={**new_carl, "role": "admin"})
    assert recreated.status_code == 201
    for path in ("/api/admin/users", "/api/user/session"):
        replay = httpx.get(f"{stack.base_url}{path}", cookies={SESSION_COOKIE: old_cookie})
        assert replay.status_code == 401, path


def test_session_epochs_are_random_per_user(stack: Stack, admin: httpx.Client) -> None:
    for name in ("dora", "eric"):
        body = {"username": name, "password": KID_PASSWORD}
        assert admin.post("/api/admin/users", json=body).status_code == 201
    table = boto3.resource("dynamodb").Table(stack.table_name)
    epochs = {
        name: table.get_item(Key=schema.user_key(name))["Item"]["session_epoch"]
        for name in ("admin", "dora", "eric")
    }
    assert len(set(epochs.values())) == 3
    assert all(len(str(epoch)) >= 20 for epoch in epochs.values())
    assert admin.post("/api/admin/users/dora/disable").status_code == 200
    assert table.get_item(Key=schema.user_key("dora"))["Item"]["session_epoch"] != epochs["dora"]


@pytest.fixture
def dave(admin: httpx.Client) -> str:
    body = {"username": "dave", "password": KID_PASSWORD}
    assert admin.post("/api/admin/users", json=body).status_code == 201
    return "dave"


@pytest.mark.parametrize(
    "headers",
    [
        {"Origin": "https://evil.example"},  # the reproducer
        {"Origin": "null"},
        {"Sec-Fetch-Site": "cross-site"},
        # Every *.execute-api host is one site: same-site is another preview's page.
        {"Sec-Fetch-Site": "same-site"},
        {"Sec-Fetch-Site": "same-origin", "Origin": "https://pr-7.execute-api.example"},
    ],
)
def test_cross_site_state_changes_are_refused(
    stack: Stack, admin: httpx.Client, dave: str, headers: dict[str, str]
) -> None:
    refused = admin.post(f"/api/admin/users/{dave}/disable", headers=headers)
    assert refused.status_code == 403
    assert "refused" in refused.json()["detail"]
    deleted = admin.delete(f"/api/admin/users/{dave}", headers=headers)
    assert deleted.status_code == 403
    assert [u["disabled"] for u in admin.get("/api/admin/users", headers=headers).json()] == [
        False,
        False,
    ]
    forced_login = admin.post(
        "/api/user/login", json={"username": "admin", "password": "x"}, headers=headers
    )
    assert forced_login.status_code == 403


@pytest.mark.parametrize(
    "headers",
    [
        {},  # curl, httpx, the pipeline's smoke test
        {"Sec-Fetch-Site": "same-origin"},
        {"Origin": "ORIGIN"},
        {"Origin": "https://stream.example.test"},  # PUBLIC_URL (CloudFront's address)
        {"Sec-Fetch-Site": "same-origin", "Origin": "ORIGIN"},
    ],
)
def test_own_pages_and_non_browser_clients_may_change_state(
    stack: Stack, admin: httpx.Client, dave: str, headers: dict[str, str]
) -> None:
    headers = {k: v.replace("ORIGIN", stack.base_url) for k, v in headers.items()}
    assert admin.post(f"/api/admin/users/{dave}/disable", headers=headers).status_code == 200


def test_the_pipelines_smoke_test_still_passes(stack: Stack) -> None:
    """ci/'s smoke test signs in as admin with the bootstrap password from another process,
    sends no Origin, and streams a pending upload; none of the new guards may break it."""
    from yoto_smart_stream_ci.smoke import run_smoke

    report = run_smoke(stack.base_url, username="admin", password=ADMIN_PASSWORD)
    assert report.ok, report.render()
