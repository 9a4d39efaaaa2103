"""`.ci/run` runs `uv run python -m tests.containers.standins` outside pytest, so without the
`ci/src` that pytest puts on the path: the stand-in builder must import without it."""

from __future__ import annotations

import os
import subprocess
import sys

from tests.support.pipeline_cli import REPO_ROOT


def test_the_standin_builder_imports_without_the_pipeline_on_the_path() -> None:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    probe = "import sys, tests.containers.standins; print('ci/src' in ' '.join(sys.path))"
    result = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False"
