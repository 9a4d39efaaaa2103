"""MQTT image size, side by side with the python:3.13-slim base it is built on.

    uv run python -m bench.container_images

Builds mqtt/Dockerfile with BuildKit (as the tests and the pipeline do, base images from
``tests.containers.standins``: the real ones where a registry answers, else the local stand-ins,
which the output says) and prints, for the base and the image:

- the unpacked size (``docker image inspect`` ``Size``) and the image / base ratio;
- the gzip-compressed size of ``docker save`` (close to what a registry stores and Fargate pulls);
- what the image adds: the virtualenv, and its largest packages.
"""

from __future__ import annotations

import argparse
import gzip
import subprocess
import sys

from tests.containers.standins import PYTHON_IMAGES, ensure_base_images, is_stand_in
from tests.support import docker
from tests.support.template import REPO_ROOT

BASE = PYTHON_IMAGES[0]
IMAGE = "yoto-smart-stream-mqtt:bench"
MB = 1_000_000


def unpacked_bytes(tag: str) -> int:
    return int(docker.inspect("image", tag)["Size"])


def compressed_bytes(tag: str) -> int:
    """Bytes of ``docker save <tag>`` after gzip (level 6, the registries' usual)."""
    counter = _Counter()
    compressor = gzip.GzipFile(fileobj=counter, mode="wb", compresslevel=6)  # type: ignore[arg-type]
    with subprocess.Popen([docker.docker_client(), "save", tag], stdout=subprocess.PIPE) as save:
        assert save.stdout is not None
        while chunk := save.stdout.read(1 << 20):
            compressor.write(chunk)
    compressor.close()
    if save.returncode != 0:
        raise RuntimeError(f"docker save {tag} failed")
    return counter.count


class _Counter:
    """A write-only file that only counts bytes."""

    def __init__(self) -> None:
        self.count = 0

    def write(self, data: bytes) -> int:
        self.count += len(data)
        return len(data)

    def flush(self) -> None:
        pass


def largest_packages(tag: str, top: int) -> list[tuple[int, str]]:
    script = (
        "du -sk --apparent-size /opt/venv; "
        "du -sk --apparent-size /opt/venv/lib/python3*/site-packages/* | sort -rn | head -n "
        + str(top)
    )
    out = docker.run("run", "--rm", "--entrypoint", "sh", tag, "-c", script).stdout
    rows = []
    for line in out.splitlines():
        size, path = line.split(maxsplit=1)
        rows.append(
            (int(size) * 1024, path.rsplit("/", 1)[-1] if "site-packages" in path else path)
        )
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--top", type=int, default=8, help="largest packages to list")
    args = parser.parse_args()
    if not docker.docker_available():
        print("Docker does not answer; start it (see README, container tests).", file=sys.stderr)
        return 1
    ensure_base_images(log=lambda _line: None)
    docker.build_image(REPO_ROOT / "mqtt" / "Dockerfile", IMAGE)
    kind = "LOCAL STAND-IN (Debian trixie + Debian python3)" if is_stand_in(BASE) else "official"
    base_size, image_size = unpacked_bytes(BASE), unpacked_bytes(IMAGE)
    base_gz, image_gz = compressed_bytes(BASE), compressed_bytes(IMAGE)
    print(f"base {BASE}: {kind}")
    print(f"{'':24}{'unpacked':>12}{'gzip (save)':>14}")
    print(f"{BASE:24}{base_size / MB:>10.1f}MB{base_gz / MB:>12.1f}MB")
    print(f"{'mqtt image':24}{image_size / MB:>10.1f}MB{image_gz / MB:>12.1f}MB")
    print(
        f"{'image - base':24}{(image_size - base_size) / MB:>10.1f}MB{(image_gz - base_gz) / MB:>12.1f}MB"
    )
    print(f"{'image / base':24}{image_size / base_size:>12.2f}{image_gz / base_gz:>14.2f}")
    rows = largest_packages(IMAGE, args.top)
    print(f"virtualenv /opt/venv: {rows[0][0] / MB:.1f} MB; largest packages:")
    for size, name in rows[1:]:
        print(f"  {name:40}{size / MB:>8.1f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
