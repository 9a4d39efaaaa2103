"""Run the pipeline core exactly as the Dagger containers do: ``python -m yoto_smart_stream_ci``."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from tests.support.moto_server import aws_env

REPO_ROOT = Path(__file__).resolve().parents[2]
CI_SRC = REPO_ROOT / "ci" / "src"


@dataclass
class PipelineRunner:
    """Runs CLI commands against one emulator endpoint and keeps every captured output."""

    endpoint: str
    secrets: dict[str, str] = field(default_factory=dict)
    outputs: list[str] = field(default_factory=list)

    def environ(self) -> dict[str, str]:
        keep = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "YOTO_"))}
        return {
            **keep,
            **aws_env(self.endpoint),
            "YOTO_PIPELINE_EMULATOR": "1",
            "PYTHONPATH": str(CI_SRC),
            **self.secrets,
        }

    def run(self, *args: str, timeout: float = 240) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [sys.executable, "-m", "yoto_smart_stream_ci", *args],
            cwd=REPO_ROOT,
            env=self.environ(),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        self.outputs += [result.stdout, result.stderr]
        return result
