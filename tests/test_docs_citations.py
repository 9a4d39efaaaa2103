"""The Yoto API contract the code cites is the repository's own document."""

from __future__ import annotations

import re
from pathlib import Path

from tests.support.template import REPO_ROOT

PACKAGES = (REPO_ROOT / "yoto_smart_stream", REPO_ROOT / "mqtt" / "yoto_mqtt")


def test_yoto_api_citations_point_at_the_repository_document() -> None:
    document = REPO_ROOT / "docs" / "yoto-api.md"
    assert document.is_file()
    assert "Yoto API" in document.read_text()
    citing = [
        *sorted(p for package in PACKAGES for p in package.rglob("*.py")),
        REPO_ROOT / "README.md",
        *sorted((REPO_ROOT / "tests").rglob("*.py")),
    ]
    wrong = [
        f"{path.relative_to(REPO_ROOT).as_posix()}: {match.group(0)}"
        for path in citing
        if path.resolve() != Path(__file__).resolve()
        for match in re.finditer(r"[\w/.-]*yoto-api\.md", path.read_text())
        if match.group(0) != "docs/yoto-api.md"
    ]
    assert wrong == []
