"""What a planned stack costs a month, from its resources and the shipped price catalog (`prices.json`).

The plan (deployment-v3 resource records, or the policy pack's view of them) already names every billable
thing: node pools with their instance types and min/max sizes, the cluster and its tier, NAT gateways,
load balancers, buckets and log stores. Each becomes a `Line` with a monthly range (low, high): node pools
at their minimum size and cheapest price (spot at its deepest documented discount) up to their maximum size
at the dearest on-demand price; fixed fees are the same at both ends. What the catalog has no price for
is named in the line's `unpriced`, never counted as zero.

The stack's own config reaches the estimate through the stack output `costBasis` (cloud, region, budget,
expected bucket sizes and log volume, the prices `ml-platform:costAssumptions.prices` supplies, and the live
prices cached by `mlp cost --live`), which `stacks/` exports.

Budgets fail closed: a plan is within its budget only when its priced maximum is, and nothing it could
run is unpriced (`Estimate.budget_verdict`). An item without a price could cost more than what the budget
leaves, so it fails the check, named with the key to supply its price under.

What each kind of resource bills is in `billing.py`; this module reads the catalog and sums the lines.

Standard library only, on purpose: the policy pack prices the same plan with `policies/mlpolicies/vendor/pricing.py`
and `billing.py`, byte-identical copies of these files (with `prices.json` beside them);
`tests/test_vendored.py` fails when the copies differ. Change a file here, then copy it there.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

from .billing import Line, Prices, line_of
from .plan import cloud_of, number, props_of, region_from_zones

CATALOG_PATH = Path(__file__).with_name("prices.json")
STACK_TYPE = "pulumi:pulumi:Stack"
BASIS_OUTPUT = "costBasis"  # the stack output that carries what the estimate needs from config


def today_date() -> date:
    """The real date, unless `MLP_TODAY` (YYYY-MM-DD) says otherwise: how tests move the clock."""
    forced = os.environ.get("MLP_TODAY")
    return date.fromisoformat(forced) if forced else date.today()


def load_catalog(path: Path | None = None) -> dict:
    return json.loads((path or CATALOG_PATH).read_text())


def stale_prices(catalog: dict, today: date) -> list[str]:
    """What is older than the catalog's refresh period on `today`: the catalog itself and each price."""
    period = timedelta(days=int(catalog["refreshDays"]))
    found = []
    read = date.fromisoformat(catalog["readOn"])
    if today > read + period:
        found.append(f"the catalog was read on {read} and is due every {period.days} days (due {read + period})")
    for cloud, kinds in catalog["prices"].items():
        for kind, entries in kinds.items():
            for key, entry in entries.items():
                read = date.fromisoformat(entry["readOn"])
                if today > read + period:
                    found.append(f"{cloud} {kind} {key}: read on {read} from {entry['source']}, due {read + period}")
    calendar = catalog.get("eksStandardSupportEnds")
    if calendar and today > date.fromisoformat(calendar["readOn"]) + period:
        found.append(f"the EKS release calendar: read on {calendar['readOn']} from {calendar['source']}")
    return found


@dataclass
class Estimate:
    stack: str
    cloud: str
    region: str
    currency: str
    hours_per_month: int
    catalog_read_on: str
    lines: list[Line]
    basis: dict  # the `costBasis` output the estimate read (budget, assumptions)
    notes: list[str] = field(default_factory=list)

    @property
    def low(self) -> float:
        return round(sum(line.low for line in self.lines), 2)

    @property
    def high(self) -> float:
        return round(sum(line.high for line in self.lines), 2)

    @property
    def budget(self) -> dict | None:
        budget = self.basis.get("budget")
        return budget if isinstance(budget, dict) and number(budget.get("monthlyMax")) is not None else None

    def groups(self) -> dict[str, dict]:
        """Sums per team (a line's namespace mapped through the basis's `teams`), else per group.

        `unpricedLines` of `lines` billable lines have a part without a price: the share the range leaves out.
        """
        teams = self.basis.get("teams") if isinstance(self.basis.get("teams"), dict) else {}
        sums: dict[str, dict] = {}
        for line in self.lines:
            name = teams.get(line.group.partition("/")[0], line.group)
            group = sums.setdefault(name, {"min": 0.0, "max": 0.0, "lines": 0, "unpricedLines": 0})
            group["min"] = round(group["min"] + line.low, 2)
            group["max"] = round(group["max"] + line.high, 2)
            group["lines"] += 1
            group["unpricedLines"] += bool(line.unpriced)
        return sums

    def unpriced_items(self) -> list[dict]:
        """Each price (or quantity) the plan lacks, once, with the lines it leaves short."""
        found: dict[str, dict] = {}
        for line in self.lines:
            for missing in line.unpriced:
                item = found.setdefault(
                    missing.key or f"{line.name}:{missing.item}", {**missing.as_json(), "lines": []}
                )
                if line.name not in item["lines"]:
                    item["lines"].append(line.name)
        return list(found.values())

    def usage(self) -> list[str]:
        """Fees that follow traffic or usage, not estimated: each kind once."""
        return sorted({f"{line.kind}: {fee}" for line in self.lines for fee in line.usage})

    def drivers(self, count: int = 3) -> list[Line]:
        """The lines that drive the maximum, dearest first."""
        return sorted((line for line in self.lines if line.high > 0), key=lambda line: -line.high)[:count]

    def over_budget(self) -> bool:
        budget = self.budget
        return budget is not None and self.high > float(budget["monthlyMax"])

    def budget_verdict(self) -> str:
        """ "within", "over" (the priced maximum exceeds it) or "unknown" (unpriced items: fails closed); "" without."""
        if self.budget is None:
            return ""
        if self.over_budget():
            return "over"
        return "unknown" if self.unpriced_items() else "within"

    def budget_message(self) -> str:
        """Why the plan fails its budget, with what drives it and what to supply (empty when it is within)."""
        verdict = self.budget_verdict()
        if verdict in ("", "within"):
            return ""
        budget = self.budget
        limit = float(budget["monthlyMax"])
        currency = budget.get("currency", self.currency)
        drivers = ", ".join(f"{line.name} ({line.kind}) up to {line.high:,.2f}" for line in self.drivers())
        items = self.unpriced_items()
        if verdict == "over":
            text = (
                f"stack {self.stack}: the plan costs {self.low:,.2f} to {self.high:,.2f} {self.currency} a month, "
                f"over its budget of {limit:,.2f} {currency} (ml-platform:budget.monthlyMax) by "
                f"{self.high - limit:,.2f}. Driven by: {drivers}."
            )
            if items:
                text += f" {len(items)} item(s) have no price and are not counted, so the real cost is higher."
            return text
        return (
            f"stack {self.stack}: cannot show the plan within its budget of {limit:,.2f} {currency} "
            f"(ml-platform:budget.monthlyMax): the priced lines cost up to {self.high:,.2f}, leaving "
            f"{limit - self.high:,.2f}, and {len(items)} item(s) have no price, so each could cost more than that: "
            + "; ".join(f"{item['item']} ({', '.join(item['lines'])}): {item['why']}" for item in items)
            + ". "
            + supply_hint(items)
        )

    def as_json(self) -> dict:
        budget = self.budget
        items = self.unpriced_items()
        return {
            "stack": self.stack,
            "cloud": self.cloud,
            "region": self.region,
            "currency": self.currency,
            "hoursPerMonth": self.hours_per_month,
            "catalogReadOn": self.catalog_read_on,
            "monthly": {"min": self.low, "max": self.high},
            "lines": [line.as_json() for line in self.lines],
            "groups": self.groups(),
            "unpriced": items,
            "unpricedLines": sum(bool(line.unpriced) for line in self.lines),
            "usageNotEstimated": self.usage(),
            "budget": None
            if budget is None
            else {
                "monthlyMax": float(budget["monthlyMax"]),
                "currency": budget.get("currency", self.currency),
                "exceeded": self.over_budget(),
                "verdict": self.budget_verdict(),
            },
            "assumptions": {
                k: v for k, v in self.basis.items() if k not in ("budget", "cloud", "region", "livePrices")
            },
            "livePrices": sorted(self.basis.get("livePrices") or {}),
            "notes": self.notes,
        }


def supply_hint(items: list[dict]) -> str:
    """How to price what is missing: the config keys of the prices (with a source) or live prices; quantities."""
    keys = [item["key"] for item in items if item["key"]]
    text = (
        "Supply each price with its source as ml-platform:costAssumptions.prices: "
        + ", ".join(f"'{key}'" for key in keys)
        + " (each {usd: <USD per unit>, source: https://..., readOn: YYYY-MM-DD}), or run `mlp cost --live` "
        "with cloud credentials to read them from the cloud's price API."
        if keys
        else ""
    )
    if len(keys) < len(items):
        text += (" " if text else "") + "A quantity the plan does not give is priced once it is known or set."
    return text


# ---------------------------------------------------------------- the estimate


def estimate(
    resources: list[dict],
    outputs: dict | None = None,
    *,
    stack: str = "",
    catalog: dict | None = None,
    today: date | None = None,
    live: dict | None = None,
) -> Estimate:
    """Price a plan: `resources` are records with `urn`, `type` and `inputs` (or `outputs`); `outputs` the stack's.

    The stack outputs come from the Stack resource among `resources` when `outputs` is not given. `live` adds
    prices read now from the clouds' price APIs (key -> entry), over those the basis carries.
    """
    catalog = catalog or load_catalog()
    today = today or today_date()
    if outputs is None:
        stack_record = next((r for r in resources if r.get("type") == STACK_TYPE), {})
        outputs = stack_record.get("outputs") or {}
    basis = outputs.get(BASIS_OUTPUT) if isinstance(outputs.get(BASIS_OUTPUT), dict) else {}
    cloud = str(basis.get("cloud") or cloud_of(resources))
    region = str(basis.get("region") or region_from_zones(resources))
    if not stack and resources:
        stack = str(resources[0].get("urn", "urn:pulumi:")).split("::")[0].removeprefix("urn:pulumi:")
    if live:
        basis = {**basis, "livePrices": {**(basis.get("livePrices") or {}), **live}}
    prices = Prices(catalog, cloud, region, supplied=basis.get("prices"), live=basis.get("livePrices"))
    notes = [
        "Per team: a team's serverless pods are its own; on node-pool clusters workloads share the pools, "
        "priced under platform.",
    ]
    if not basis:
        notes.append(f"no `{BASIS_OUTPUT}` stack output: region from the subnets, no budget, no expected sizes")
    storage = basis.get("storageGb") if isinstance(basis.get("storageGb"), dict) else {}
    serverless_namespaces: set[str] | None = None  # None: workloads run on node pools
    for record in resources:
        if record.get("type") == "alicloud:cs/serverlessKubernetes:ServerlessKubernetes":
            serverless_namespaces = {"*"}
        if record.get("type") == "aws:eks/fargateProfile:FargateProfile":
            selectors = props_of(record).get("selectors") or []
            serverless_namespaces = (serverless_namespaces or set()) | {
                s.get("namespace") for s in selectors if isinstance(s, dict)
            }
    lines: list[Line] = []
    for record in resources:
        if record.get("external") or record.get("custom") is False:
            continue
        line = line_of(record, prices, basis, storage, serverless_namespaces, today)
        if line is not None:
            line.urn = str(record.get("urn", ""))
            lines.append(line)
    return Estimate(
        stack=stack,
        cloud=cloud,
        region=region,
        currency=catalog["currency"],
        hours_per_month=prices.hours,
        catalog_read_on=catalog["readOn"],
        lines=lines,
        basis=basis,
        notes=notes,
    )
