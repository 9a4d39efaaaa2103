"""An HTTP proxy in front of the moto server that records when each AWS call was in flight.

boto3 talks to it as to any endpoint; it forwards each request to moto unchanged and notes the
call's target (``DynamoDB_20120810.BatchWriteItem``...), when the request arrived and when the
answer left. It can also hold calls of one operation for a while (a network round trip) or
answer chosen ones with a DynamoDB error instead of forwarding it, as DynamoDB would answer.
"""

from __future__ import annotations

import http.client
import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

# Headers that describe one hop, not the request (RFC 9110, section 7.6.1).
HOP_HEADERS = frozenset({"connection", "keep-alive", "transfer-encoding", "host"})


@dataclass(frozen=True)
class Call:
    operation: str  # e.g. "BatchWriteItem"
    started: float  # time.monotonic() when the request arrived
    ended: float  # just before the answer was sent
    refused: bool  # answered with the error below instead of reaching moto


@dataclass
class RecordingProxy:
    url: str
    calls: list[Call] = field(default_factory=list)
    # Calls of this operation wait this long before they are forwarded.
    delay_operation: str = ""
    delay_seconds: float = 0.0
    # Calls for which this is true (given operation and request body) get this error instead
    # of reaching moto.
    refuse: Callable[[str, bytes], bool] | None = None
    refuse_code: str = "AccessDeniedException"
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def calls_of(self, operation: str) -> list[Call]:
        with self._lock:
            return [c for c in self.calls if c.operation == operation]

    def _record(self, call: Call) -> None:
        with self._lock:
            self.calls.append(call)


def overlapping(calls: list[Call]) -> list[tuple[Call, Call]]:
    """Pairs of calls that were in flight at the same time."""
    ordered = sorted(calls, key=lambda c: c.started)
    return [(a, b) for i, a in enumerate(ordered) for b in ordered[i + 1 :] if b.started < a.ended]


@contextmanager
def running_recording_proxy(upstream: str) -> Iterator[RecordingProxy]:
    target = urlsplit(upstream)
    proxy = RecordingProxy(url="")

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as boto3 expects

        def do_POST(self) -> None:
            started = time.monotonic()
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            operation = self.headers.get("X-Amz-Target", "").rpartition(".")[2]
            if operation and operation == proxy.delay_operation:
                time.sleep(proxy.delay_seconds)
            refused = proxy.refuse is not None and proxy.refuse(operation, body)
            if refused:
                status = 400
                headers = [("Content-Type", "application/x-amz-json-1.0")]
                error = {
                    "__type": f"com.amazonaws.dynamodb.v20120810#{proxy.refuse_code}",
                    "message": "refused by the test proxy",
                }
                payload = json.dumps(error).encode()
            else:
                upstream_connection = http.client.HTTPConnection(
                    target.hostname, target.port, timeout=30
                )
                try:
                    forwarded = {
                        k: v for k, v in self.headers.items() if k.lower() not in HOP_HEADERS
                    }
                    upstream_connection.request("POST", self.path, body=body, headers=forwarded)
                    answer = upstream_connection.getresponse()
                    status, payload = answer.status, answer.read()
                    headers = [
                        (k, v)
                        for k, v in answer.getheaders()
                        if k.lower() not in HOP_HEADERS | {"content-length"}
                    ]
                finally:
                    upstream_connection.close()
            # Noted before the answer leaves, so a client's next call always starts after it.
            proxy._record(Call(operation, started, time.monotonic(), refused))
            self.send_response(status)
            for name, value in headers:
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)
            self.wfile.flush()

        def log_message(self, format: str, *args: object) -> None:
            return  # one line per call would drown the test output

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, name="recording-proxy", daemon=True)
    thread.start()
    proxy.url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        yield proxy
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
