"""The step outputs and summary the core leaves for a GitHub Actions step (github_actions.py)."""

from __future__ import annotations

from pathlib import Path

from yoto_smart_stream_ci import github_actions


def test_nothing_is_written_outside_actions(tmp_path: Path) -> None:
    assert github_actions.write_outputs({"url": "https://x"}, environ={}) is False
    assert github_actions.write_summary("# hi", environ={}) is False
    assert list(tmp_path.iterdir()) == []


def test_outputs_are_appended_in_githubs_format(tmp_path: Path) -> None:
    path = tmp_path / "output"
    path.write_text("earlier=1\n")
    environ = {github_actions.OUTPUT_VAR: str(path)}
    assert github_actions.write_outputs({"url": "https://a.example/dev/", "empty": ""}, environ)
    assert github_actions.write_outputs({"notes": "two\nlines"}, environ)
    lines = path.read_text().splitlines()
    assert lines[:3] == ["earlier=1", "url=https://a.example/dev/", "empty="]
    name, delimiter = lines[3].split("<<")
    assert name == "notes"
    assert lines[4:] == ["two", "lines", delimiter]


def test_the_summary_file_may_live_in_a_directory_that_does_not_exist_yet(tmp_path: Path) -> None:
    # Inside the Dagger container GITHUB_STEP_SUMMARY points at /run/github/..., which no image
    # creates; GitHub's own runner always has the directory.
    path = tmp_path / "run" / "github" / "step-summary.md"
    environ = {github_actions.SUMMARY_VAR: str(path)}
    assert github_actions.write_summary("### `dev` deployed\n\n", environ)
    assert github_actions.write_summary("more", environ)
    assert path.read_text() == "### `dev` deployed\nmore\n"
