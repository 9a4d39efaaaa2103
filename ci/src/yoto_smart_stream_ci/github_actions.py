"""What a GitHub Actions step reads back from the core: its outputs and its summary.

GitHub gives every step two files, named by ``GITHUB_OUTPUT`` (``name=value`` lines the
workflow reads as ``steps.<id>.outputs.<name>``) and ``GITHUB_STEP_SUMMARY`` (Markdown shown
on the run's page). When the variables are set the core appends to them; otherwise (a laptop)
nothing is written. Inside Dagger the host's files are out of reach, so the Dagger layer points
``GITHUB_STEP_SUMMARY`` at a file in the container and returns its contents, which the workflow
saves into the real step summary with ``dagger call ... --output "$GITHUB_STEP_SUMMARY"``.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from pathlib import Path

OUTPUT_VAR = "GITHUB_OUTPUT"
SUMMARY_VAR = "GITHUB_STEP_SUMMARY"


def _append(path: str, text: str) -> None:
    # GitHub creates the file's directory; inside a container it is the Dagger layer's choice.
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    with target.open("a", encoding="utf-8") as file:
        file.write(text)


def write_outputs(outputs: Mapping[str, str], environ: Mapping[str, str] | None = None) -> bool:
    """Append ``outputs`` to ``$GITHUB_OUTPUT``; ``False`` when it is not set."""
    path = (os.environ if environ is None else environ).get(OUTPUT_VAR)
    if not path:
        return False
    lines = []
    for name, value in outputs.items():
        if "\n" in value:
            # GitHub's multi-line syntax; a random delimiter cannot occur in the value.
            delimiter = f"EOF_{secrets.token_hex(8)}"
            lines += [f"{name}<<{delimiter}", value, delimiter]
        else:
            lines.append(f"{name}={value}")
    _append(path, "\n".join(lines) + "\n")
    return True


def write_summary(markdown: str, environ: Mapping[str, str] | None = None) -> bool:
    """Append ``markdown`` to ``$GITHUB_STEP_SUMMARY``; ``False`` when it is not set."""
    path = (os.environ if environ is None else environ).get(SUMMARY_VAR)
    if not path:
        return False
    _append(path, markdown.rstrip("\n") + "\n")
    return True
