"""The stack output `costBasis`: what the cost estimate needs from config and cannot read from the plan.

`mlplatform.cost.pricing` prices the planned resources; the region, the budget and the expected sizes come
from here. Being a stack output, it reaches the policy pack's `budget` policy too (AnalyzeStack hands the
root Stack resource over with its outputs), under `pulumi preview --policy-pack` as offline.
"""

from __future__ import annotations

import pulumi

from mlplatform import config as cfg
from mlplatform.cost import live
from mlplatform.cost.pricing import BASIS_OUTPUT, load_catalog, today_date
from stacks.base import bucket_name

__all__ = ["BASIS_OUTPUT", "cost_basis"]


def cost_basis(stack: str, settings: cfg.StackConfig) -> dict:
    assumptions = settings.cost_assumptions
    buckets = (("datasets", settings.buckets.datasets), ("models", settings.buckets.models))
    region = settings.region or pulumi.Config(settings.cloud).get("region")  # `aws:region` / `alicloud:region`
    return {
        "cloud": settings.cloud,
        "region": region,
        "budget": settings.budget.model_dump(by_alias=True) if settings.budget else None,
        "storageGb": {bucket_name(stack, kind, spec): assumptions.storage_gb.get(kind, 0) for kind, spec in buckets},
        "logGbPerMonth": assumptions.log_gb_per_month,
        "trainingHoursPerMonth": assumptions.training_hours_per_month,
        # Namespace -> team, so the estimate sums each team's lines.
        "teams": {namespace: team for namespace, (team, _) in settings.team_namespaces().items()},
        # Prices the catalog lacks, with their sources (ml-platform:costAssumptions.prices), and the live prices
        # `mlp cost --live` cached, while fresh: data, so the policy pack prices the plan as `mlp cost` does.
        "prices": {key: price.model_dump(by_alias=True, mode="json") for key, price in assumptions.prices.items()},
        "livePrices": live.cached(settings.cloud, region or "", today_date(), load_catalog()["liveMaxDays"]),
    }
