"""``python -m tests.containers.standins``: make the public base images present (see __init__)."""

from __future__ import annotations

import subprocess
import sys

from tests.containers.standins import ensure_base_images


def main() -> int:
    try:
        how = ensure_base_images(log=lambda line: print(f"   {line}", flush=True))
    except (RuntimeError, OSError, subprocess.SubprocessError) as exc:
        print(f"Could not provide the base images: {exc}", file=sys.stderr)
        return 1
    for tag, origin in how.items():
        print(f"   {tag}: {origin}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
