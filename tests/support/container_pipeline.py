"""The pipeline's core commands run the way the Dagger layer runs them: each in a container.

An emulated account is a moto container from the toolchain's workspace stage on a Docker
network, under the alias the Dagger layer binds (``moto:5000``), published on 127.0.0.1 so the
host can ask it directly. Each core command runs in a fresh container of the same stage with
the variables ``main._aws`` sets, the shared build output mounted where ``package`` writes it.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from tests.support import docker
from yoto_smart_stream_ci import contract
from yoto_smart_stream_ci.main import Account, emulator_request
from yoto_smart_stream_ci.shared import (
    BUILD_DIR,
    DEFAULT_REGION,
    MOTO_HOST,
    MOTO_PORT,
)


def emulator_env() -> dict[str, str]:
    """What the Dagger layer's ``_aws`` sets without credentials; the request names moto."""
    return {"AWS_REGION": DEFAULT_REGION, "AWS_DEFAULT_REGION": DEFAULT_REGION}


# What the Dagger layer puts in each request for a kept account bound as `moto`.
KEPT_ACCOUNT = Account(emulator=f"http://{MOTO_HOST}:{MOTO_PORT}")


@dataclass
class StepResult:
    code: int
    stdout: str
    stderr: str


@dataclass
class ContainerPipeline:
    image: str
    network: str
    endpoint: str
    # What is mounted at BUILD_DIR: a volume `package` fills, or a host directory already built.
    build_volume: str
    names: list[str] = field(default_factory=list)
    build_mode: str = "rw"

    def run(
        self,
        request: contract.Request,
        *,
        secrets: Mapping[str, str] | None = None,
        mounts: tuple[str, ...] = (),
        timeout: float = 1200,
    ) -> StepResult:
        """Run ``request``'s one core command in a fresh container; wait for it to exit."""
        name = docker.unique_name("yss-step")
        self.names.append(name)
        extra = (
            "--network",
            self.network,
            "--volume",
            f"{self.build_volume}:{BUILD_DIR}:{self.build_mode}",
            *mounts,
        )
        env = emulator_env() | dict(secrets or {})
        argv = contract.core_command(request)
        docker.run(*docker.run_args(self.image, name=name, env=env, extra=extra, command=argv))
        code = int(docker.run("wait", name, timeout=timeout).stdout.strip())
        logs = docker.run("logs", name)
        return StepResult(code, logs.stdout, logs.stderr)


def _published_port(container: str, port: int) -> str:
    mapping = docker.run("port", container, f"{port}/tcp").stdout.split()[0]
    return mapping.rsplit(":", 1)[1]


def _wait_for_http(url: str, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while True:
        try:
            httpx.get(url, timeout=2)
            return
        except httpx.HTTPError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.3)


@contextmanager
def emulated_account(image: str, build_dir: Path | None = None) -> Iterator[ContainerPipeline]:
    """A moto container (the account) plus a runner for core commands; all removed on exit.

    ``build_dir``: a `sam build` output on the host, mounted where `package` writes it (as the
    Dagger layer mounts the `package` function's directory), instead of a volume to fill.
    """
    volume = str(build_dir) if build_dir else docker.unique_name("yss-build")
    with docker.network("yss-emulator") as net, docker.containers() as names:
        moto = docker.unique_name("yss-moto")
        names.append(moto)
        publish = f"127.0.0.1::{MOTO_PORT}"
        extra = ("--network", net, "--network-alias", MOTO_HOST, "--publish", publish)
        docker.run(
            *docker.run_args(
                image, name=moto, extra=extra, command=contract.core_command(emulator_request())
            )
        )
        endpoint = f"http://127.0.0.1:{_published_port(moto, MOTO_PORT)}"
        _wait_for_http(endpoint)
        pipeline = ContainerPipeline(
            image, net, endpoint, volume, names, build_mode="ro" if build_dir else "rw"
        )
        try:
            yield pipeline
        finally:
            if build_dir is None:
                docker.run("volume", "rm", "--force", volume, check=False)
