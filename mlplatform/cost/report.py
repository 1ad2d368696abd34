"""How a cost estimate reads: `mlp cost` (text and JSON) and the cost section of `mlp diff`."""

from __future__ import annotations

from mlplatform.cost.pricing import Estimate, estimate


def money(value: float) -> str:
    return f"{value:,.2f}"


def span(low: float, high: float) -> str:
    return money(low) if round(low, 2) == round(high, 2) else f"{money(low)} .. {money(high)}"


def format_text(result: Estimate) -> str:
    """Lines per group, the total range, what is unpriced, the budget, and every price's source."""
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
        lines += ["", f"  {group}: {span(total['min'], total['max'])}"]
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
    budget = result.budget
    if budget is not None:
        limit = float(budget["monthlyMax"])
        verdict = (
            f"EXCEEDED by {money(result.high - limit)}: the `budget` policy fails this plan"
            if result.over_budget()
            else f"within it (maximum {money(result.high)})"
        )
        unpriced = sum(len(line.unpriced) for line in result.lines)
        caveat = f"; {unpriced} unpriced item(s) are not counted" if unpriced else ""
        lines.append(f"Budget: {money(limit)} {budget.get('currency', result.currency)} a month, {verdict}{caveat}")
    unpriced = [(line, missing) for line in result.lines for missing in line.unpriced]
    if unpriced:
        lines += ["", f"Unpriced, not in the total ({len(unpriced)}):"]
        lines += [f"  - {line.name} ({line.kind}): {missing}" for line, missing in unpriced]
    if sources:
        lines += ["", "Sources:"]
        read = {price["source"]: price["readOn"] for line in result.lines for price in line.prices}
        lines += [f"  [{number}] {url} (read {read[url]})" for url, number in sources.items()]
    if result.notes:
        lines += [""] + [f"Note: {note}" for note in result.notes]
    return "\n".join(lines)


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
        lines.append(f"  {len(cost['unpricedAfter'])} item(s) have no price and are not counted (see `mlp cost`)")
    budget = cost.get("budget")
    if budget:
        state = "EXCEEDED" if budget["exceeded"] else "within"
        lines.append(f"  budget {money(budget['monthlyMax'])} {budget['currency']} a month: {state}")
    return "\n".join(lines)
