"""A real OCI registry on 127.0.0.1: Debian's ``docker-registry`` (CNCF Distribution) with
htpasswd auth and a password generated per run, standing in for ECR's registry endpoint.

Plain HTTP is enough: Docker treats 127.0.0.0/8 as an insecure-allowed registry. The password
only ever travels through stdin (htpasswd, ``docker login --password-stdin``) and HTTP headers.
"""

from __future__ import annotations

import base64
import json
import secrets
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tests.support.moto_server import free_port

REGISTRY_USER = "AWS"  # ECR's user name for the password get-authorization-token returns
START_TIMEOUT_SECONDS = 30
MANIFEST_TYPES = ", ".join(
    [
        "application/vnd.oci.image.manifest.v1+json",
        "application/vnd.oci.image.index.v1+json",
        "application/vnd.docker.distribution.manifest.v2+json",
        "application/vnd.docker.distribution.manifest.list.v2+json",
    ]
)


@dataclass(frozen=True)
class Registry:
    address: str  # host:port, as a registry appears in an image reference
    user: str
    password: str
    log_file: Path

    def request(
        self, path: str, *, method: str = "GET", auth: bool = True
    ) -> tuple[int, dict[str, str], bytes]:
        """One HTTP API call (``/v2/...``); returns (status, headers, body), errors included."""
        request = urllib.request.Request(
            f"http://{self.address}{path}", method=method, headers={"Accept": MANIFEST_TYPES}
        )
        if auth:
            token = base64.b64encode(f"{self.user}:{self.password}".encode()).decode()
            request.add_header("Authorization", f"Basic {token}")
        try:
            with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
                return response.status, dict(response.headers), response.read()
        except urllib.error.HTTPError as error:
            return error.code, dict(error.headers), error.read()

    def log_tail(self, chars: int = 3000) -> str:
        return self.log_file.read_text(errors="replace")[-chars:] if self.log_file.exists() else ""


def _htpasswd_line(user: str, password: str) -> str:
    htpasswd = shutil.which("htpasswd")
    if htpasswd is None:
        raise RuntimeError("htpasswd is not installed: .ci/run installs it (apache2-utils).")
    # -i: password from stdin (never on a command line); -B: bcrypt, the only scheme the
    # registry accepts.
    result = subprocess.run(
        [htpasswd, "-niB", user], input=password, capture_output=True, text=True, check=True
    )
    return result.stdout.strip() + "\n"


@contextmanager
def running_registry(directory: Path) -> Iterator[Registry]:
    binary = shutil.which("docker-registry")
    if binary is None:
        raise RuntimeError("docker-registry is not installed: .ci/run installs it.")
    directory.mkdir(parents=True, exist_ok=True)
    password = secrets.token_urlsafe(24)
    htpasswd = directory / "htpasswd"
    htpasswd.write_text(_htpasswd_line(REGISTRY_USER, password))
    port = free_port()
    config = {
        "version": 0.1,
        "log": {"level": "info"},
        "storage": {"filesystem": {"rootdirectory": str(directory / "storage")}},
        "http": {"addr": f"127.0.0.1:{port}", "secret": secrets.token_hex(16)},
        "auth": {"htpasswd": {"realm": "yoto-smart-stream-test", "path": str(htpasswd)}},
    }
    config_file = directory / "config.yml"
    config_file.write_text(json.dumps(config))  # JSON is YAML
    log_file = directory / "registry.log"
    with log_file.open("ab") as log:
        process = subprocess.Popen(
            [binary, "serve", str(config_file)], stdout=log, stderr=subprocess.STDOUT
        )
    registry = Registry(f"127.0.0.1:{port}", REGISTRY_USER, password, log_file)
    try:
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"docker-registry exited: {registry.log_tail()}")
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError(
                        f"docker-registry did not listen: {registry.log_tail()}"
                    ) from None
                time.sleep(0.1)
        yield registry
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
