"""How a cost estimate reads: `mlp cost` (text and JSON) and the cost section of `mlp diff`."""

from __future__ import annotations

from mlplatform.cost.pricing import Estimate, estimate, supply_hint


def money(value: float) -> str:
    return f"{value:,.2f}"


def span(low: float, high: float) -> str:
    return money(low) if round(low, 2) == round(high, 2) else f"{money(low)} .. {money(high)}"


def format_text(result: Estimate) -> str:
    """Lines per group, the total range, what is unpriced and how to price it, the budget, assumptions, sources."""
    where = f"{result.cloud} {result.region}".strip() or "cloud unknown"
    lines = [
        f"Monthly cost of {result.stack or 'the plan'} ({where}), {result.currency}, "
        f"{result.hours_per_month} hours a month, prices read {result.catalog_read_on}:",
    ]
    sources: dict[str, int] = {}
    groups = result.groups()
    width_kind = max((len(line.kind) for line in result.lines), default=10) + 2
    width_name = max((len(line.name) for line in result.lines), default=10) + 2
    for group, total in groups.items():
        share = f" ({total['unpricedLines']} of {total['lines']} lines unpriced)" if total["unpricedLines"] else ""
        lines += ["", f"  {group}: {span(total['min'], total['max'])}{share}"]
        for line in (each for each in result.lines if each.group == group):
            refs = []
            for price in line.prices:
                number = sources.setdefault(price["source"], len(sources) + 1)
                if number not in refs:
                    refs.append(number)
            amount = span(line.low, line.high) if line.priced else "-"
            note = " ".join(f"[{number}]" for number in refs)
            if line.unpriced:
                note = (note + " " if note else "") + f"(+ {len(line.unpriced)} unpriced)"
            lines.append(f"    {line.kind:<{width_kind}}{line.name:<{width_name}}{amount:>22}  {line.detail} {note}")
    lines += ["", f"Total: {span(result.low, result.high)} {result.currency} a month (priced lines only)"]
    unpriced_lines = sum(bool(line.unpriced) for line in result.lines)
    if unpriced_lines:
        lines.append(
            f"Unpriced: {unpriced_lines} of {len(result.lines)} billable lines have a part the total leaves out"
        )
    budget = result.budget
    if budget is not None:
        limit = float(budget["monthlyMax"])
        verdict = {
            "over": f"EXCEEDED by {money(result.high - limit)}: the `budget` policy fails this plan",
            "unknown": "NOT SHOWN: unpriced items could cost more than the rest, so the `budget` policy fails this plan",
            "within": f"within it (maximum {money(result.high)})",
        }[result.budget_verdict()]
        lines.append(f"Budget: {money(limit)} {budget.get('currency', result.currency)} a month, {verdict}")
    items = result.unpriced_items()
    if items:
        lines += ["", f"Unpriced, not in the total ({len(items)}):"]
        for item in items:
            key = f" [{item['key']}]" if item["key"] else ""
            lines.append(f"  - {item['item']}{key}, for {', '.join(item['lines'])}: {item['why']}")
        lines.append(f"  {supply_hint(items)}")
    usage = result.usage()
    if usage:
        lines += ["", "Not estimated, they follow traffic or usage:"] + [f"  - {fee}" for fee in usage]
    lines += ["", "Assumptions:"] + [f"  {text}" for text in assumptions(result)]
    if sources:
        lines += ["", "Sources:"]
        read = {price["source"]: price for line in result.lines for price in line.prices}
        for url, number in sources.items():
            origin = read[url].get("origin", "catalog")
            kind = (
                "" if origin == "catalog" else f", {'live price API' if origin == 'live' else 'your costAssumptions'}"
            )
            lines.append(f"  [{number}] {url} (read {read[url]['readOn']}{kind})")
    if result.notes:
        lines += [""] + [f"Note: {note}" for note in result.notes]
    return "\n".join(lines)


def assumptions(result: Estimate) -> list[str]:
    """What the estimate assumes where the plan cannot say (ml-platform:costAssumptions and the catalog's rules)."""
    basis = result.basis
    found = [
        f"{result.hours_per_month} hours a month; node pools from their fewest nodes at the cheapest type "
        "(spot at its deepest documented discount) to their most nodes at the dearest type on demand",
    ]
    if isinstance(basis.get("storageGb"), dict) and basis["storageGb"]:
        sizes = ", ".join(f"{bucket} {size:g} GB" for bucket, size in basis["storageGb"].items())
        found.append(f"bucket sizes (ml-platform:costAssumptions.storageGb): {sizes}")
    if basis.get("logGbPerMonth") is not None:
        found.append(f"logs written a month (logGbPerMonth): {basis['logGbPerMonth']} GB per log store")
    if basis.get("trainingHoursPerMonth") is not None:
        found.append(f"training hours a month (trainingHoursPerMonth): {basis['trainingHoursPerMonth']}")
    for key, price in (basis.get("prices") or {}).items():
        found.append(
            f"supplied price {key}: {price.get('usd')} USD per {price.get('per', 'hour')} ({price.get('source')})"
        )
    live = basis.get("livePrices") or {}
    if live:
        read = sorted({entry.get("readOn", "") for entry in live.values()})
        found.append(f"{len(live)} live price(s) from the cloud's price API, read {', '.join(read)}")
    return found


def of_snapshot(resources: list[dict], outputs: dict, stack: str = "") -> Estimate:
    return estimate(resources, outputs, stack=stack)


def change(base: Estimate, head: Estimate) -> dict:
    """The cost change between two estimates, line by line (lines matched by name with the stack prefix dropped)."""

    def key(result: Estimate, name: str) -> str:
        return name.removeprefix(f"{result.stack}-") if result.stack else name

    old = {key(base, line.name): line for line in base.lines}
    new = {key(head, line.name): line for line in head.lines}
    lines = []
    for name in list(old) + [n for n in new if n not in old]:
        before, after = old.get(name), new.get(name)
        was = (before.low, before.high) if before else (0.0, 0.0)
        now = (after.low, after.high) if after else (0.0, 0.0)
        unpriced_was = len(before.unpriced) if before else 0
        unpriced_now = len(after.unpriced) if after else 0
        if (round(was[0], 2), round(was[1], 2)) != (round(now[0], 2), round(now[1], 2)) or (
            (before.detail if before else None) != (after.detail if after else None)
        ):
            lines.append(
                {
                    "name": name,
                    "kind": (after or before).kind,
                    "change": "+" if before is None else "-" if after is None else "~",
                    "before": {"min": round(was[0], 2), "max": round(was[1], 2), "detail": before.detail}
                    if before
                    else None,
                    "after": {"min": round(now[0], 2), "max": round(now[1], 2), "detail": after.detail}
                    if after
                    else None,
                    "unpricedBefore": unpriced_was,
                    "unpricedAfter": unpriced_now,
                    "priced": bool((before and before.priced) or (after and after.priced)),
                }
            )
    return {
        "currency": head.currency,
        "before": {"min": base.low, "max": base.high},
        "after": {"min": head.low, "max": head.high},
        "delta": {"min": round(head.low - base.low, 2), "max": round(head.high - base.high, 2)},
        "lines": lines,
        "unpricedAfter": [f"{line.name}: {missing}" for line in head.lines for missing in line.unpriced],
        "budget": head.as_json()["budget"],
    }


def format_change(cost: dict) -> str:
    def signed(value: float) -> str:
        return ("+" if value > 0 else "") + money(value)

    before, after, delta = cost["before"], cost["after"], cost["delta"]
    lines = [
        f"Monthly cost ({cost['currency']}): {span(before['min'], before['max'])} -> "
        f"{span(after['min'], after['max'])} ({signed(delta['min'])} .. {signed(delta['max'])})"
    ]
    for line in cost["lines"]:
        was, now = line["before"], line["after"]
        text = f"  {line['change']} {line['kind']} {line['name']}: "
        if was and now:
            amounts = (
                f"{span(was['min'], was['max'])} -> {span(now['min'], now['max'])}" if line["priced"] else "unpriced"
            )
            text += amounts + (f" ({was['detail']} -> {now['detail']})" if was["detail"] != now["detail"] else "")
        else:
            side = now or was
            text += f"{span(side['min'], side['max']) if line['priced'] else 'unpriced'} ({side['detail']})"
        if line["unpricedAfter"]:
            text += f" [+ {line['unpricedAfter']} unpriced]"
        lines.append(text)
    if cost["unpricedAfter"]:
        lines.append(
            f"  {len(cost['unpricedAfter'])} item(s) have no price and are not counted: "
            + "; ".join(cost["unpricedAfter"])
            + " (`mlp cost` says how to price them)"
        )
    budget = cost.get("budget")
    if budget:
        state = {"over": "EXCEEDED", "unknown": "NOT SHOWN (unpriced items)", "within": "within"}[budget["verdict"]]
        lines.append(f"  budget {money(budget['monthlyMax'])} {budget['currency']} a month: {state}")
    return "\n".join(lines)
