"""The lint gate: every linter, defined once, run by ``dagger call lint`` and the tests alike."""

from __future__ import annotations

import subprocess
import time

TEMPLATES = (
    "infrastructure/template.yaml",
    "infrastructure/network/template.yaml",
    "infrastructure/bootstrap/template.yaml",
)
# (name, argv) in the order they run; each sees the repository root as its working directory.
LINTERS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("ruff check", ("ruff", "check", ".")),
    ("ruff format", ("ruff", "format", "--check", ".")),
    ("cfn-lint", ("cfn-lint", *TEMPLATES)),
    ("zizmor", ("zizmor", "--offline", ".github")),  # the workflows and dependabot.yml
    (
        "workflow schema",
        (
            "sh",
            "-c",
            "check-jsonschema --builtin-schema vendor.github-workflows .github/workflows/*.yml",
        ),
    ),
    (
        "dependabot schema",
        ("check-jsonschema", "--builtin-schema", "vendor.dependabot", ".github/dependabot.yml"),
    ),
    ("mypy --strict", ("mypy", "--config-file", "ci/pyproject.toml", "ci/src")),
)


def run_all() -> bool:
    """Run every linter even after one fails, so one run shows every finding; print a summary."""
    results: list[tuple[str, int, float]] = []
    for name, argv in LINTERS:
        print(f"== {name}: {' '.join(argv)}", flush=True)
        started = time.monotonic()
        code = subprocess.run(argv, check=False).returncode  # noqa: S603 - fixed argv above
        results.append((name, code, time.monotonic() - started))
    print("Lint summary:", flush=True)
    for name, code, seconds in results:
        print(f"  {'PASS' if code == 0 else 'FAIL'} {name} ({seconds:.1f}s)", flush=True)
    return all(code == 0 for _, code, _ in results)
