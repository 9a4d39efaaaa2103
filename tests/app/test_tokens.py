"""Yoto token storage and the cross-process refresh lock, against moto and the fake Yoto."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import threading
import time
from decimal import Decimal
from typing import Any

import boto3
import pytest
from moto.dynamodb.parsing.validators import UpdateExpressionValidator

from tests.support.yoto_fake import FakeYoto
from yoto_smart_stream.core.storage import schema
from yoto_smart_stream.core.storage.tokens import TokenStore
from yoto_smart_stream.core.yoto.client import (
    TokenSet,
    YotoApiClient,
    YotoAuthClient,
    YotoNotLinkedError,
    YotoRefreshRejectedError,
    YotoUnavailableError,
)
from yoto_smart_stream.core.yoto.tokens import YotoTokenManager

AUDIENCE = "https://api.yotoplay.com"


def make_manager(yoto: FakeYoto, table_name: str, **kwargs: Any) -> YotoTokenManager:
    # Each manager gets its own boto3 session and HTTP client, like a separate process.
    table = boto3.session.Session().resource("dynamodb").Table(table_name)
    auth = YotoAuthClient(base_url=yoto.base_url, client_id=yoto.client_id, audience=AUDIENCE)
    return YotoTokenManager(TokenStore(table), auth, **kwargs)


def seed(yoto: FakeYoto, table_name: str, expires_in: int) -> TokenSet:
    issued = yoto.issue_tokens(expires_in=expires_in)
    tokens = TokenSet(issued.access_token, issued.refresh_token, time.time() + expires_in)
    TokenStore(boto3.resource("dynamodb").Table(table_name)).store(tokens)
    return tokens


def stored_item(table_name: str) -> dict:
    table = boto3.resource("dynamodb").Table(table_name)
    return table.get_item(Key=schema.tokens_key(), ConsistentRead=True).get("Item", {})


def test_valid_token_is_used_without_refresh(yoto: FakeYoto, table_name: str) -> None:
    tokens = seed(yoto, table_name, expires_in=3600)
    assert make_manager(yoto, table_name).get_access_token() == tokens.access_token
    assert yoto.refresh_uses == 0


def test_token_near_expiry_is_refreshed_and_new_refresh_token_stored(
    yoto: FakeYoto, table_name: str
) -> None:
    old = seed(yoto, table_name, expires_in=60)  # inside the 300 s margin
    new_access = make_manager(yoto, table_name).get_access_token()
    assert new_access != old.access_token
    assert yoto.is_valid_access_token(new_access)
    item = stored_item(table_name)
    assert item["access_token"] == new_access
    assert item["refresh_token"] != old.refresh_token
    assert "refresh_lock_owner" not in item  # the lock is gone with the new tokens
    assert yoto.refresh_uses == 1
    # The stored refresh token is the live one: the next refresh works, the old one would not.
    auth = YotoAuthClient(base_url=yoto.base_url, client_id=yoto.client_id, audience=AUDIENCE)
    with pytest.raises(YotoRefreshRejectedError):
        auth.refresh(old.refresh_token)
    auth.refresh(item["refresh_token"])
    assert yoto.refresh_uses == 2


@pytest.fixture
def slow_updates(monkeypatch: pytest.MonkeyPatch) -> None:
    """The emulator pauses between checking an update's condition and applying the update, as
    a loaded machine may: a concurrent conditional update then sees the item as it was,
    unless the emulator applies each write atomically as DynamoDB does."""
    validate = UpdateExpressionValidator.validate

    def slow_validate(self: UpdateExpressionValidator) -> Any:
        time.sleep(0.2)
        return validate(self)

    monkeypatch.setattr(UpdateExpressionValidator, "validate", slow_validate)


@pytest.mark.usefixtures("slow_updates")
def test_one_of_many_concurrent_lock_takers_wins_however_slow_the_table(
    yoto: FakeYoto, table_name: str
) -> None:
    tokens = seed(yoto, table_name, expires_in=10)
    # One boto3 session each, so the writes travel on separate connections, as from processes.
    stores = [
        TokenStore(boto3.session.Session().resource("dynamodb").Table(table_name)) for _ in range(3)
    ]
    barrier = threading.Barrier(len(stores))
    winners: list[str] = []

    def take(store: TokenStore, owner: str) -> None:
        barrier.wait()
        now = time.time()
        if store.take_refresh_lock(tokens.refresh_token, owner, now, now + 30):
            winners.append(owner)

    threads = [threading.Thread(target=take, args=(s, f"owner-{i}")) for i, s in enumerate(stores)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert len(winners) == 1
    assert stored_item(table_name)["refresh_lock_owner"] == winners[0]


@pytest.mark.parametrize("table_speed", ["fast", "slow"])
def test_concurrent_threads_spend_the_refresh_token_once(
    yoto: FakeYoto, table_name: str, table_speed: str, request: pytest.FixtureRequest
) -> None:
    if table_speed == "slow":
        request.getfixturevalue("slow_updates")
    old = seed(yoto, table_name, expires_in=10)
    yoto.set_refresh_delay(0.5)  # the winner is still refreshing when the others arrive
    managers = [make_manager(yoto, table_name, poll_interval_seconds=0.05) for _ in range(4)]
    barrier = threading.Barrier(len(managers))
    results: list[str] = []
    errors: list[Exception] = []

    def run(manager: YotoTokenManager) -> None:
        barrier.wait()
        try:
            results.append(manager.get_access_token())
        except Exception as exc:  # noqa: BLE001 - a thread must hand any error to the test
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(m,)) for m in managers]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert errors == []
    assert len(results) == 4
    assert len(set(results)) == 1
    assert results[0] != old.access_token
    assert yoto.refresh_uses == 1
    assert yoto.refresh_rejections == 0


RACER = textwrap.dedent(
    """
    import sys, time, boto3
    from yoto_smart_stream.core.yoto.client import YotoAuthClient
    from yoto_smart_stream.core.storage.tokens import TokenStore
    from yoto_smart_stream.core.yoto.tokens import YotoTokenManager
    base_url, client_id, table_name = sys.argv[1:4]
    table = boto3.resource("dynamodb").Table(table_name)
    table.load()  # connect before the race starts
    auth = YotoAuthClient(base_url=base_url, client_id=client_id, audience="x")
    manager = YotoTokenManager(TokenStore(table), auth, poll_interval_seconds=0.05)
    print("ready", flush=True)
    sys.stdin.readline()  # the starting gun
    print(manager.get_access_token(), flush=True)
    """
)


def test_concurrent_processes_spend_the_refresh_token_once(
    yoto: FakeYoto, table_name: str, aws_environ: dict[str, str]
) -> None:
    seed(yoto, table_name, expires_in=10)
    yoto.set_refresh_delay(0.5)
    env = {**os.environ, **aws_environ}
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", RACER, yoto.base_url, yoto.client_id, table_name],
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    for proc in procs:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "ready"
    outputs = [p.communicate(input="go\n", timeout=60) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outputs
    tokens = {out.strip() for out, _ in outputs}
    assert len(tokens) == 1
    assert yoto.refresh_uses == 1
    assert yoto.refresh_rejections == 0


def test_api_401_forces_one_refresh_and_retries(yoto: FakeYoto, table_name: str) -> None:
    seed(yoto, table_name, expires_in=3600)
    yoto.set_players([{"deviceId": "p1", "name": "Kitchen"}])
    yoto.revoke_access_tokens()  # the stored token still looks valid, but Yoto says 401
    api = YotoApiClient(base_url=yoto.base_url, tokens=make_manager(yoto, table_name))
    assert [p["deviceId"] for p in api.list_players()] == ["p1"]
    assert yoto.refresh_uses == 1
    assert stored_item(table_name)["access_token"] in yoto.valid_access_tokens()


def test_force_refresh_reuses_a_token_another_process_already_refreshed(
    yoto: FakeYoto, table_name: str
) -> None:
    old = seed(yoto, table_name, expires_in=3600)
    first, second = make_manager(yoto, table_name), make_manager(yoto, table_name)
    fresh = first.force_refresh(old.access_token)
    assert second.force_refresh(old.access_token) == fresh
    assert yoto.refresh_uses == 1


def test_rejected_refresh_token_unlinks_the_account(yoto: FakeYoto, table_name: str) -> None:
    seed(yoto, table_name, expires_in=10)
    yoto.revoke_refresh_tokens()
    manager = make_manager(yoto, table_name)
    with pytest.raises(YotoRefreshRejectedError, match="link the Yoto account again"):
        manager.get_access_token()
    with pytest.raises(YotoNotLinkedError, match="No Yoto account is linked"):
        manager.get_access_token()


def test_a_refusal_after_the_lease_passed_leaves_the_new_holders_account_linked(
    yoto: FakeYoto, table_name: str
) -> None:
    """A refresh that outlives its lease: another process takes the lock over the same refresh
    token and spends it, so the Yoto cloud refuses the first one. The first must not unlink
    the account under the process that now holds the lock."""
    seed(yoto, table_name, expires_in=10)
    table = boto3.resource("dynamodb").Table(table_name)

    class TakenOverMidRefresh(YotoAuthClient):
        def refresh(self, refresh_token: str) -> TokenSet:
            table.update_item(
                Key=schema.tokens_key(),
                UpdateExpression="SET refresh_lock_owner = :o, refresh_lock_until = :u",
                ExpressionAttributeValues={":o": "successor", ":u": Decimal(str(time.time() + 30))},
            )
            yoto.revoke_refresh_tokens()  # the successor's refresh spent it first
            return super().refresh(refresh_token)

    auth = TakenOverMidRefresh(base_url=yoto.base_url, client_id=yoto.client_id, audience=AUDIENCE)
    manager = YotoTokenManager(TokenStore(table), auth)
    with pytest.raises(YotoRefreshRejectedError):
        manager.get_access_token()
    assert stored_item(table_name)["refresh_lock_owner"] == "successor"


def test_outage_during_refresh_releases_the_lock(yoto: FakeYoto, table_name: str) -> None:
    seed(yoto, table_name, expires_in=10)
    manager = make_manager(yoto, table_name, lock_seconds=300)
    yoto.set_outage("down")
    with pytest.raises(YotoUnavailableError):
        manager.get_access_token()
    assert "refresh_lock_owner" not in stored_item(table_name)
    yoto.set_outage(None)
    # A different process can refresh at once: it does not wait out the 300 s lock.
    assert yoto.is_valid_access_token(make_manager(yoto, table_name).get_access_token())
    assert yoto.refresh_uses == 1


def test_loser_gives_up_with_503_while_a_stale_lock_is_held(
    yoto: FakeYoto, table_name: str
) -> None:
    seed(yoto, table_name, expires_in=10)
    table = boto3.resource("dynamodb").Table(table_name)
    table.update_item(
        Key=schema.tokens_key(),
        UpdateExpression="SET refresh_lock_owner = :o, refresh_lock_until = :u",
        ExpressionAttributeValues={":o": "crashed", ":u": Decimal(str(time.time() + 30))},
    )
    waiting = make_manager(yoto, table_name, wait_seconds=0.5, poll_interval_seconds=0.1)
    with pytest.raises(YotoUnavailableError, match="Another process is refreshing"):
        waiting.get_access_token()
    assert yoto.refresh_uses == 0
    # A minute later the crashed holder's lock has expired and the next process proceeds.
    later = make_manager(yoto, table_name, clock=lambda: time.time() + 60)
    assert yoto.is_valid_access_token(later.get_access_token())
    assert yoto.refresh_uses == 1


def test_not_linked_without_tokens(yoto: FakeYoto, table_name: str) -> None:
    with pytest.raises(YotoNotLinkedError):
        make_manager(yoto, table_name).get_access_token()
