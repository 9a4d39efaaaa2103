"""Serve a built Lambda artifact over HTTP, as an API Gateway HTTP API (payload 2.0) would.

Run as a script with ``python -I -S local_lambda.py --artifact DIR --handler mod.func``: ``-I -S``
keep the interpreter's own site-packages and the pipeline's code off ``sys.path``, so the only
importable third-party code is the artifact itself (plus, with ``--runtime-dir``, the packages
the real Lambda runtime provides, e.g. boto3). Standard library only, on purpose.

Prints ``LISTENING <port>`` once the socket is bound and the handler imported, so the parent
never races the server.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import http.client
import importlib
import sys
import threading
import time
import urllib.parse
import uuid
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

TEXT_TYPES = ("text/", "application/json", "application/javascript", "application/xml")


class LambdaContext:
    """The attributes of the Lambda context object handlers and Powertools read."""

    def __init__(self, function_name: str, region: str, timeout_s: int) -> None:
        self.function_name = function_name
        self.function_version = "$LATEST"
        self.invoked_function_arn = f"arn:aws:lambda:{region}:000000000000:function:{function_name}"
        self.memory_limit_in_mb = 512
        self.aws_request_id = str(uuid.uuid4())
        self.log_group_name = f"/aws/lambda/{function_name}"
        self.log_stream_name = "local"
        self._deadline = time.monotonic() + timeout_s

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


def build_event(
    method: str, raw_target: str, headers: list[tuple[str, str]], body: bytes, stage: str
) -> dict[str, Any]:
    """An API Gateway v2 (HTTP API, payload format 2.0) event for one request."""
    parts = urlsplit(raw_target)
    merged: dict[str, str] = {}
    cookies: list[str] = []
    for name, value in headers:
        key = name.lower()
        if key == "cookie":
            cookies += [c.strip() for c in value.split(";") if c.strip()]
            continue
        merged[key] = f"{merged[key]},{value}" if key in merged else value
    is_text = not body or merged.get("content-type", "").startswith(TEXT_TYPES)
    now = time.time()
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": parts.path,
        "rawQueryString": parts.query,
        "headers": merged,
        "requestContext": {
            "accountId": "000000000000",
            "apiId": "local",
            "domainName": merged.get("host", "127.0.0.1"),
            "domainPrefix": "local",
            "http": {
                "method": method,
                "path": parts.path,
                "protocol": "HTTP/1.1",
                "sourceIp": "127.0.0.1",
                "userAgent": merged.get("user-agent", ""),
            },
            "requestId": str(uuid.uuid4()),
            "routeKey": "$default",
            "stage": stage,
            "time": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(now)),
            "timeEpoch": int(now * 1000),
        },
        "isBase64Encoded": not is_text,
    }
    if cookies:
        event["cookies"] = cookies
    if parts.query:
        event["queryStringParameters"] = dict(parse_qsl(parts.query, keep_blank_values=True))
    if body:
        event["body"] = body.decode() if is_text else base64.b64encode(body).decode()
    return event


RELAY_PREFIX = "/_aws"
RELAYED_HEADERS = ("content-type", "content-length", "etag", "last-modified", "location")


def make_handler_class(
    handler: Any, stage: str, function_name: str, region: str, aws_relay: str = ""
) -> type[BaseHTTPRequestHandler]:
    # One function instance handles one event at a time, as on Lambda; the relay to the
    # emulated account runs beside it, since the app's own S3 calls come back through it.
    instance = threading.Lock()

    class Gateway(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            sys.stderr.write(f"local-lambda: {format % args}\n")

        def _relay(self) -> None:
            """Pass /_aws/... to the emulated account, so a browser can use presigned URLs."""
            upstream = urllib.parse.urlsplit(aws_relay)
            length = int(self.headers.get("content-length") or 0)
            body = self.rfile.read(length) if length else None
            connection = http.client.HTTPConnection(upstream.netloc, timeout=60)
            headers = {k: v for k, v in self.headers.items() if k.lower() != "host"}
            connection.request(
                self.command, self.path[len(RELAY_PREFIX) :] or "/", body=body, headers=headers
            )
            response = connection.getresponse()
            data = response.read()
            kept = {k: v for k, v in response.getheaders() if k.lower() in RELAYED_HEADERS}
            head = response.getheader("content-length") if self.command == "HEAD" else None
            self._write(response.status, kept, [], data, head_length=head)
            connection.close()

        def _invoke(self) -> None:
            if aws_relay and (
                self.path == RELAY_PREFIX or self.path.startswith(RELAY_PREFIX + "/")
            ):
                self._relay()
                return
            with instance:
                # Lambda calls the handler on its main thread, where asyncio has a loop to
                # give; each connection here has its own thread, so give it one too.
                loop = asyncio.new_event_loop()
                asyncio.set_event_loop(loop)
                try:
                    self._invoke_function()
                finally:
                    asyncio.set_event_loop(None)
                    loop.close()

        def _invoke_function(self) -> None:
            if stage != "$default" and not (
                self.path == f"/{stage}" or self.path.startswith((f"/{stage}/", f"/{stage}?"))
            ):
                # A named stage answers only under its prefix, as API Gateway does; the bare
                # root sends a person (the preview's first page) to the stage's dashboard.
                if self.path == "/":
                    self._write(HTTPStatus.FOUND, {"Location": f"/{stage}/"}, [], b"")
                else:
                    self._write(HTTPStatus.NOT_FOUND, {}, [], b'{"message":"Not Found"}')
                return
            length = int(self.headers.get("content-length") or 0)
            body = self.rfile.read(length) if length else b""
            event = build_event(self.command, self.path, list(self.headers.items()), body, stage)
            try:
                result = handler(event, LambdaContext(function_name, region, 30))
            except Exception as error:  # noqa: BLE001 - API Gateway answers 500 the same way
                sys.stderr.write(f"local-lambda: handler raised {type(error).__name__}\n")
                self._write(
                    HTTPStatus.INTERNAL_SERVER_ERROR, {}, [], b'{"message":"Internal Server Error"}'
                )
                return
            payload = result.get("body") or ""
            data = (
                base64.b64decode(payload)
                if result.get("isBase64Encoded")
                else str(payload).encode()
            )
            headers = dict(result.get("headers") or {})
            for key, values in (result.get("multiValueHeaders") or {}).items():
                headers[key] = ",".join(values)
            self._write(
                int(result.get("statusCode", 200)), headers, result.get("cookies") or [], data
            )

        def _write(
            self,
            status: int,
            headers: dict[str, str],
            cookies: list[str],
            data: bytes,
            head_length: str | None = None,
        ) -> None:
            self.send_response(status)
            for key, value in headers.items():
                if key.lower() not in ("content-length", "connection", "transfer-encoding"):
                    self.send_header(key, str(value))
            for cookie in cookies:
                self.send_header("Set-Cookie", cookie)
            # A HEAD answer has no body but states the length a GET would have.
            self.send_header("Content-Length", head_length or str(len(data)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(data)

        do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = _invoke

    return Gateway


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--artifact", required=True)
    parser.add_argument("--handler", required=True)
    parser.add_argument("--stage", default="$default")
    parser.add_argument("--function-name", default="local")
    parser.add_argument("--region", default="eu-west-2")
    parser.add_argument("--runtime-dir", default="")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--aws-relay", default="", help="relay /_aws/... to this endpoint")
    args = parser.parse_args(argv)

    sys.path.insert(0, args.artifact)
    if args.runtime_dir:
        sys.path.append(args.runtime_dir)
    module_name, _, attr = args.handler.rpartition(".")
    handler = getattr(importlib.import_module(module_name), attr)
    server = ThreadingHTTPServer(
        (args.host, args.port),
        make_handler_class(handler, args.stage, args.function_name, args.region, args.aws_relay),
    )
    print(f"LISTENING {server.server_address[1]}", flush=True)
    try:
        server.serve_forever()
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
