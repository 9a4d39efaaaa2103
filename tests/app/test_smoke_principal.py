"""Issue 11: the deploy pipeline's smoke principal, over real HTTP against the served app.

It signs in through the real login endpoint and gets a real session cookie; no stranger's
failures (from the pipeline's own address, past every throttle limit) lock it; a person can
neither create, change nor delete it; it can read but change nothing; the credential the
pipeline rotates on each deploy is picked up from SSM, and the old one (and its sessions) stop
working.
"""

from __future__ import annotations

import secrets
import time

import boto3

from tests.app.conftest import ADMIN_PASSWORD, Stack, client_from, login, stack_with
from tests.support.yoto_fake import FakeYoto
from yoto_smart_stream.core.settings import Settings
from yoto_smart_stream_ci import environments

PRINCIPAL = "pipeline:smoke"
PIPELINE = "127.0.0.4"  # the pipeline's address; the outsider shares it (one CI runner egress)


def test_the_app_and_the_pipeline_name_the_same_principal() -> None:
    assert Settings().smoke_username == environments.SMOKE_PRINCIPAL == PRINCIPAL


def test_an_outsider_at_the_pipelines_address_cannot_lock_the_smoke_principal(
    aws_environ: dict[str, str], yoto: FakeYoto
) -> None:
    credential = secrets.token_urlsafe(32)
    with (
        stack_with(yoto, smoke_credential=credential) as stack,
        client_from(stack, PIPELINE) as outsider,
    ):
        stack.login().close()  # the admin exists
        for index in range(60):  # past 5 per (name, address) and 50 per address
            for name in ("admin", PRINCIPAL):
                assert login(outsider, name, f"guess {index}").status_code in (401, 429)
        assert login(outsider, "admin", ADMIN_PASSWORD).status_code == 429  # admin: locked here
        assert login(outsider, "someone", "x").status_code == 429  # the whole address is

        signed_in = login(outsider, PRINCIPAL, credential)
        assert signed_in.status_code == 200, signed_in.text
        assert signed_in.json() == {"username": PRINCIPAL, "role": "smoke"}
        assert outsider.get("/api/user/session").json() == {"username": PRINCIPAL, "role": "smoke"}
        assert login(outsider, PRINCIPAL, credential + "x").status_code == 401


def test_the_smoke_principal_reads_but_changes_nothing(
    aws_environ: dict[str, str], yoto: FakeYoto
) -> None:
    credential = secrets.token_urlsafe(32)
    with stack_with(yoto, smoke_credential=credential) as stack:
        stack.link_yoto()
        with stack.client() as smoke:
            assert login(smoke, PRINCIPAL, credential).status_code == 200
            assert smoke.get("/api/players").status_code == 200
            assert smoke.get("/api/audio").status_code == 200
            upload = {
                "filename": "x.mp3",
                "content_type": "audio/mpeg",
                "size_bytes": 10,
                "title": "x",
            }
            refused = [
                smoke.post("/api/audio/uploads", json=upload),
                smoke.post("/api/cards/streaming", json={"title": "x", "audio_ids": ["a"]}),
                smoke.post("/api/user/logout"),
            ]
            assert [r.status_code for r in refused] == [403, 403, 403]
            assert refused[0].json() == {"detail": "The smoke principal can change nothing."}
            assert smoke.get("/api/admin/users").status_code == 403
        admin = stack.login()
        try:
            # No person can create, disable or delete it: its name is no user name.
            created = admin.post(
                "/api/admin/users", json={"username": PRINCIPAL, "password": "a" * 16}
            )
            assert created.status_code == 422
            assert admin.delete(f"/api/admin/users/{PRINCIPAL}").status_code in (404, 422)
            assert PRINCIPAL not in {u["username"] for u in admin.get("/api/admin/users").json()}
        finally:
            admin.close()


def test_a_rotated_credential_is_read_from_ssm_and_ends_the_old_one(
    aws_environ: dict[str, str], yoto: FakeYoto
) -> None:
    ssm = boto3.client("ssm")
    name = f"/yoto-smart-stream/test-{secrets.token_hex(4)}/smoke-credential"
    old, new = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    ssm.put_parameter(Name=name, Value=old, Type="SecureString")
    with stack_with(
        yoto, smoke_credential_parameter=name, smoke_credential_refresh_seconds="1"
    ) as stack:
        with stack.client() as before:
            assert login(before, PRINCIPAL, old).status_code == 200
            assert before.get("/api/user/session").status_code == 200
            ssm.put_parameter(Name=name, Value=new, Type="SecureString", Overwrite=True)
            time.sleep(1.2)
            assert before.get("/api/user/session").status_code == 401  # its session ended
        with stack.client() as after:
            assert login(after, PRINCIPAL, old).status_code == 401
            assert login(after, PRINCIPAL, new).status_code == 200


def test_without_a_configured_credential_nobody_signs_in_as_it(stack: Stack) -> None:
    with stack.client() as client:
        assert login(client, PRINCIPAL, "anything").status_code == 401
