"""Dependabot keeps the SHA-pinned actions and uv.lock current (.github/dependabot.yml)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

from tests.github.conftest import REPO_ROOT

CONFIG = REPO_ROOT / ".github" / "dependabot.yml"


def _config() -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load(CONFIG.read_text())
    return document


def _tool(name: str) -> str:
    return str(Path(sys.executable).with_name(name))


def test_config_matches_dependabots_schema() -> None:
    result = subprocess.run(
        [_tool("check-jsonschema"), "--builtin-schema", "vendor.dependabot", str(CONFIG)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_actions_and_the_uv_lock_are_both_covered() -> None:
    config = _config()
    assert config["version"] == 2
    updates = {u["package-ecosystem"]: u for u in config["updates"]}
    assert set(updates) == {"github-actions", "uv"}
    # uv.lock and the workspace's pyproject.toml live at the root; the workflows under .github.
    assert all(u["directory"] == "/" for u in updates.values())
    assert (REPO_ROOT / "uv.lock").is_file()
    for update in updates.values():
        assert update["schedule"]["interval"] in {"daily", "weekly", "monthly"}
        assert update["cooldown"]["default-days"] >= 7


def test_zizmor_audits_the_config_with_no_findings() -> None:
    result = subprocess.run(
        [_tool("zizmor"), "--offline", "--persona", "pedantic", "--format", "plain", str(CONFIG)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "No findings to report" in result.stdout
