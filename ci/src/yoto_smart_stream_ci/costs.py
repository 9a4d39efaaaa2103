"""The estimated monthly cost of each environment: one table, shown in two places.

``infrastructure/README.md`` carries :func:`markdown_table` verbatim (a test compares them),
and the PR comment quotes :func:`monthly_total` for its environment, so a price changes here
and nowhere else. eu-west-2 list prices in USD, 730 hours a month, small family traffic
(~100k API requests, ~200k MQTT event writes, a few GB of audio); the account-wide free tiers
of Lambda, DynamoDB storage, CloudFront and CloudWatch are assumed not to be exhausted.
"""

from __future__ import annotations

from dataclasses import dataclass

from yoto_smart_stream_ci import environments

DAYS_PER_MONTH = 730 / 24


@dataclass(frozen=True)
class CostItem:
    item: str
    prod: float | None  # None: the environment does not have it
    dev: float | None
    pr: float | None
    plan: str  # what the deployment plan said for it

    def cost(self, kind: environments.EnvKind) -> float | None:
        return {
            environments.EnvKind.PROD: self.prod,
            environments.EnvKind.DEV: self.dev,
            environments.EnvKind.PR: self.pr,
        }[kind]


ITEMS: tuple[CostItem, ...] = (
    CostItem(
        "Fargate Spot, 0.25 vCPU + 0.5 GB (on-demand $0.0142/h, Spot ~70 % less)",
        3.10,
        3.10,
        3.10,
        '"Fargate $3" (Spot price, but the plan\'s `LaunchType: FARGATE` ran on-demand: $10.36)',
    ),
    CostItem(
        "Public IPv4 for the task ($0.005/h)",
        3.65,
        3.65,
        3.65,
        "missing (the plan had no working egress at all)",
    ),
    CostItem("Lambda 512 MB (within the free tier)", 0, 0, 0, "$0"),
    CostItem("HTTP API (~$1.1 per million)", 0.11, 0.05, 0.02, "(in Lambda $0)"),
    CostItem("DynamoDB on-demand + PITR", 0.20, 0.10, 0.05, "$1 / $0.50 / $0.50"),
    CostItem("S3 audio + dashboard", 0.25, 0.05, 0.02, '(in "S3 + CloudFront")'),
    CostItem("CloudFront (always-free tier: 1 TB, 10 M requests)", 0, None, 0, ""),
    CostItem("CloudWatch Logs (30 / 7 / 3 days retention)", 0.30, 0.10, 0.05, ""),
    CostItem("Alarms (7 alarm metrics x $0.10)", 0.70, None, None, ""),
    CostItem(
        "CloudWatch dashboard (3 per account free, then $3 each; prod and dev use two)",
        0,
        0,
        3.00,
        "not priced",
    ),
    CostItem(
        "S3 request metrics for the prod dashboard (~12 metrics x $0.30)",
        3.60,
        None,
        None,
        "not priced",
    ),
    CostItem("SNS e-mail, Budgets, SSM standard SecureString", 0, 0, 0, ""),
)
PLAN_TOTALS = "**$5.50 / $4 / $4.50**"


def monthly_total(env: str) -> float:
    """The estimated monthly cost of ``env`` in USD."""
    kind = environments.env_kind(env)
    return round(sum(item.cost(kind) or 0 for item in ITEMS), 2)


def daily_total(env: str) -> float:
    return round(monthly_total(env) / DAYS_PER_MONTH, 2)


def _price(value: float | None) -> str:
    if value is None:
        return "-"
    return "$0" if value == 0 else f"${value:.2f}"


def markdown_table() -> str:
    """The README's cost table, rendered from :data:`ITEMS`."""
    lines = [
        "| Item (unit price) | prod | dev | pr-N | plan's item |",
        "|---|---|---|---|---|",
    ]
    for item in ITEMS:
        cells = [item.item, _price(item.prod), _price(item.dev), _price(item.pr), item.plan]
        lines.append("| " + " | ".join(cells) + " |")
    prod, dev, pr = (monthly_total(env) for env in ("prod", "dev", "pr-1"))
    lines.append(
        f"| **Total per month** | **~${prod:.2f}** | **~${dev:.2f}** | "
        f"**~${pr:.2f}** (~${daily_total('pr-1'):.2f} a day) | {PLAN_TOTALS} |"
    )
    return "\n".join(lines)


def describe(env: str) -> str:
    """One line for a summary or comment: the env's estimated monthly (and daily) cost."""
    text = f"~${monthly_total(env):.2f} a month"
    if environments.env_kind(env) is environments.EnvKind.PR:
        text += f" (~${daily_total(env):.2f} a day while the PR is open)"
    return text + " (estimate: infrastructure/README.md)"
