"""An emulated AWS account (moto) that outlives a single command.

``python -m yoto_smart_stream_ci emulator`` runs it in the foreground on the host, and
``dagger call emulator`` runs the same command as a service; every AWS-facing command then
takes ``--emulator URL`` and they all act on that one account, as on a real one.
"""

from __future__ import annotations

import logging
import signal
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

from moto.server import ThreadedMotoServer


@contextmanager
def running(host: str, port: int) -> Iterator[str]:
    """A moto server on ``host:port`` (0: any free port); yields its URL."""
    if port:
        # moto binds in a thread and would wait forever for a port it cannot have; find out
        # here, as an OSError the command turns into one sentence.
        with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
            probe.bind((host, port))
    server = ThreadedMotoServer(ip_address=host, port=port, verbose=False)
    server.start()
    try:
        _, bound = server.get_host_and_port()
        shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host  # noqa: S104 - a comparison
        yield f"http://{shown}:{bound}"
    finally:
        server.stop()


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
