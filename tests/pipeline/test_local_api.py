"""The local HTTP API the emulator serves a Lambda artifact through, over real sockets."""

from __future__ import annotations

import os
from contextlib import AbstractContextManager
from pathlib import Path

import httpx
import pytest

from yoto_smart_stream_ci.deploy import DeployError, local_api

ECHO_HANDLER = """
import base64, json, sys

def handler(event, context):
    if event["rawPath"].endswith("/binary"):
        return {"statusCode": 200, "headers": {"content-type": "audio/mpeg"},
                "body": base64.b64encode(b"\\xff\\x00").decode(), "isBase64Encoded": True}
    try:
        import boto3  # the artifact does not ship it: -S keeps the host's copy out of reach
        boto = "importable"
    except ImportError:
        boto = "absent"
    return {
        "statusCode": 201,
        "headers": {"content-type": "application/json", "x-stage": event["requestContext"]["stage"]},
        "cookies": ["session=abc; HttpOnly; Secure; SameSite=Lax"],
        "body": json.dumps({"path": event["rawPath"], "method": event["requestContext"]["http"]["method"],
                            "cookies": event.get("cookies", []), "body": event.get("body"),
                            "function": context.function_name, "boto3": boto,
                            "site": [p for p in sys.path if "site-packages" in p]}),
    }
"""


def write_artifact(root: Path, source: str) -> Path:
    root.mkdir()
    (root / "app.py").write_text(source)
    return root


def serve(artifact: Path, handler: str = "app.handler") -> AbstractContextManager[str]:
    return local_api(
        artifact,
        handler,
        stage="pr-9",
        function_name="fn-pr-9",
        region="eu-west-2",
        environment={"PATH": os.environ["PATH"]},
    )


def test_requests_become_v2_events_and_responses_come_back(tmp_path: Path) -> None:
    artifact = write_artifact(tmp_path / "artifact", ECHO_HANDLER)
    with serve(artifact) as url:
        assert url.endswith("/pr-9")
        response = httpx.post(
            f"{url}/api/things?x=1", json={"a": 1}, headers={"cookie": "k=v; m=n"}, timeout=10
        )
        binary = httpx.get(f"{url}/binary", timeout=10)
    assert response.status_code == 201
    assert response.headers["x-stage"] == "pr-9"
    assert response.headers["set-cookie"].startswith("session=abc")
    body = response.json()
    assert body["path"] == "/pr-9/api/things"
    assert body["method"] == "POST"
    assert body["cookies"] == ["k=v", "m=n"]
    assert body["body"] == '{"a":1}'
    assert body["function"] == "fn-pr-9"
    # Only the artifact is importable: no site-packages, so the host's boto3 is out of reach.
    assert body["site"] == []
    assert body["boto3"] == "absent"
    assert binary.content == b"\xff\x00"


def test_an_artifact_that_cannot_import_is_a_sentence(tmp_path: Path) -> None:
    artifact = write_artifact(tmp_path / "broken", "import not_shipped_dependency\n")
    with pytest.raises(DeployError, match="did not start"), serve(artifact):
        pass


def test_a_raising_handler_answers_500(tmp_path: Path) -> None:
    artifact = write_artifact(tmp_path / "raising", "def handler(e, c):\n    raise KeyError('x')\n")
    with serve(artifact) as url:
        response = httpx.get(f"{url}/api/health", timeout=10)
    assert response.status_code == 500
    assert response.json() == {"message": "Internal Server Error"}


def test_the_preview_relay_passes_storage_calls_through_with_their_lengths(
    moto_endpoint: str, aws_environ: dict[str, str]
) -> None:
    # The preview points the app's S3 at /_aws on itself; a HEAD must keep S3's length (the
    # app's `complete` compares it with the declared size) and a PUT its body.
    import threading
    from http.server import ThreadingHTTPServer

    import boto3

    from yoto_smart_stream_ci.local_lambda import make_handler_class

    boto3.client("s3").create_bucket(
        Bucket="relay-test-bucket",
        CreateBucketConfiguration={"LocationConstraint": aws_environ["AWS_REGION"]},
    )
    server = ThreadingHTTPServer(
        ("127.0.0.1", 0), make_handler_class(None, "pr-1", "f", "eu-west-2", moto_endpoint)
    )
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        relayed = boto3.client(
            "s3", endpoint_url=f"http://127.0.0.1:{server.server_address[1]}/_aws"
        )
        url = relayed.generate_presigned_url(
            "put_object",
            Params={"Bucket": "relay-test-bucket", "Key": "k", "ContentType": "audio/mpeg"},
        )
        assert "/_aws/relay-test-bucket/k?" in url
        put = httpx.put(url, content=b"x" * 1000, headers={"content-type": "audio/mpeg"})
        assert put.status_code == 200
        head = relayed.head_object(Bucket="relay-test-bucket", Key="k")
        assert head["ContentLength"] == 1000
        assert head["ContentType"] == "audio/mpeg"
        assert relayed.get_object(Bucket="relay-test-bucket", Key="k")["Body"].read() == b"x" * 1000
    finally:
        server.shutdown()
        server.server_close()
