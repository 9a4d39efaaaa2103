"""An emulated AWS account (moto) that outlives a single command.

``python -m yoto_smart_stream_ci emulator`` runs it in the foreground on the host, and
``dagger call emulator`` runs the same command as a service; every AWS-facing command then
takes ``--emulator URL`` and they all act on that one account, as on a real one. The tests'
moto server (tests/support/moto_server.py) is this one too.
"""

from __future__ import annotations

import logging
import signal
import socket
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from types import FrameType
from wsgiref.types import StartResponse, WSGIApplication, WSGIEnvironment

from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)
from werkzeug.serving import make_server


class AtomicDynamoDB:
    """WSGI middleware that lets one DynamoDB call run at a time.

    moto checks a write's condition and applies the write as two steps with nothing between
    them to hold off a concurrent request, so two conditional writes to one item can both pass
    (under load, two token refreshers both took the refresh lock and spent one refresh token
    twice). DynamoDB applies each write to an item atomically; serialising the DynamoDB calls
    gives the emulator that guarantee. No DynamoDB call waits on anything, so this costs little.
    """

    def __init__(self, app: WSGIApplication) -> None:
        self._app = app
        self._lock = threading.Lock()

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        # Every DynamoDB (and DynamoDB Streams) call names its operation in this header.
        if not str(environ.get("HTTP_X_AMZ_TARGET", "")).startswith("DynamoDB"):
            return self._app(environ, start_response)
        with self._lock:
            response = self._app(environ, start_response)
            try:
                return [b"".join(response)]
            finally:
                close = getattr(response, "close", None)
                if close is not None:
                    close()


@contextmanager
def running(host: str, port: int) -> Iterator[str]:
    """A moto server on ``host:port`` (0: any free port); yields its URL."""
    if port:
        # moto binds in a thread and would wait forever for a port it cannot have; find out
        # here, as an OSError the command turns into one sentence.
        with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
            probe.bind((host, port))
    app = AtomicDynamoDB(DomainDispatcherApplication(create_backend_app))
    server = make_server(host, port, app, threaded=True, request_handler=MotoRequestHandler)
    thread = threading.Thread(target=server.serve_forever, name="moto", daemon=True)
    thread.start()
    try:
        bound = server.server_address[1]
        shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host  # noqa: S104 - a comparison
        yield f"http://{shown}:{bound}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def wait_for_stop() -> None:
    """Block until SIGINT or SIGTERM (Ctrl-C, `docker stop`, the engine stopping a service)."""
    stop = threading.Event()

    def handle(signum: int, frame: FrameType | None) -> None:
        stop.set()

    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, handle)
    stop.wait()


def serve(host: str, port: int) -> None:
    # One log line per AWS call drowns what matters; errors still show.
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    with running(host, port) as url:
        print(f"Emulated AWS account (moto) listening on {url}", flush=True)
        print(
            f"Use it from every command: --emulator {url} (host), or run `dagger call emulator "
            "up --ports 5000:5000` and pass --emulator tcp://localhost:5000 to dagger call.",
            flush=True,
        )
        print("Stop it with Ctrl-C; the account and everything in it go with it.", flush=True)
        wait_for_stop()
    print("Emulated account stopped.", flush=True)
