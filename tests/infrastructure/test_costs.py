"""The cost table has one source (costs.py); the README and the PR comment show it."""

from __future__ import annotations

import pytest

from tests.support.template import REPO_ROOT
from yoto_smart_stream_ci import costs, github_comments

README = REPO_ROOT / "infrastructure" / "README.md"


def test_readme_cost_table_is_the_cost_module_table() -> None:
    assert costs.markdown_table() in README.read_text(), (
        "infrastructure/README.md's cost table differs from costs.markdown_table(); "
        "paste the generated table into the README"
    )


def test_totals_are_the_sum_of_the_items() -> None:
    assert costs.monthly_total("prod") == pytest.approx(
        sum(i.prod or 0 for i in costs.ITEMS), abs=0.005
    )
    assert costs.monthly_total("pr-7") == costs.monthly_total("pr-8")
    # What the plan's three environments cost is no longer the plan's $5.50 / $4 / $4.50.
    assert costs.monthly_total("dev") > 4


def test_pr_comment_carries_the_environments_estimated_cost() -> None:
    body = github_comments.render_deployed_comment(
        env="pr-42",
        api_url="https://api.example/pr-42",
        dashboard_url="https://api.example/pr-42/",
        commit="abc",
        smoke_passed=True,
        monitoring_url="https://console.example/dashboards/yoto-smart-stream-pr-42",
    )
    assert f"~${costs.monthly_total('pr-42'):.2f} a month" in body
    assert "https://console.example/dashboards/yoto-smart-stream-pr-42" in body
