"""`mlp cost -s STACK`: what the stack's plan costs a month, as a range, line by line, with every price's source.

The stack is planned offline (as `mlp preview` does, without writing anything) and each billable resource
is priced from the shipped catalog (`mlplatform/cost/prices.json`). With cloud credentials in the environment
(or `--live`), the instance types' on-demand prices are read from the cloud's price API first and cached
with their date (`mlplatform/cost/live.py`); `--no-live` never calls it. `--against` compares with an earlier
preview folder (or another stack), as the pull-request workflow does.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def add_parser(commands, common) -> None:
    from mlplatform.cli import add_json_option, add_stack_option

    parser = commands.add_parser(
        "cost", parents=[common], help="the monthly cost of a stack's plan, from the price catalog", description=__doc__
    )
    add_stack_option(parser)
    parser.add_argument(
        "--against",
        metavar="BASE",
        help="an earlier preview folder (holding stack.json) or a stack: print the cost change from it",
    )
    live = parser.add_mutually_exclusive_group()
    live.add_argument(
        "--live",
        action="store_true",
        default=None,
        help="read instance prices from the cloud's price API (default: when its credentials are set)",
    )
    live.add_argument("--no-live", dest="live", action="store_false", help="price from the catalog and cache only")
    add_json_option(parser, "the estimate")
    parser.set_defaults(handler=run)


def _estimate_of(argument: str, project_dir: Path):
    """A stack planned now, or a preview folder's stack.json (what `mlp diff` accepts)."""
    from mlplatform.cost.report import of_snapshot
    from mlplatform.offline.diff import load_side

    side = load_side(argument, project_dir)
    return of_snapshot(list(side.resources.values()), side.outputs, stack=_stack_of(side))


def _stack_of(side) -> str:
    urn = next(iter(side.resources.values()), {}).get("urn", "")
    return urn.split("::")[0].removeprefix("urn:pulumi:")


def run(args) -> int:
    from mlplatform.cost.pricing import estimate
    from mlplatform.cost.report import change, format_change, format_text
    from mlplatform.offline.preview import run_preview

    result = run_preview(args.stack, args.project_dir)
    head = estimate(result.resources, result.outputs, stack=result.stack)
    fetched = live_prices(head, result.resources, args.live)
    if fetched:
        head = estimate(result.resources, result.outputs, stack=result.stack, live=fetched)
    if args.against:
        cost = change(_estimate_of(args.against, args.project_dir), head)
        print(json.dumps(cost, indent=2) if args.json else format_change(cost))
        return 0
    print(json.dumps(head.as_json(), indent=2, ensure_ascii=False) if args.json else format_text(head))
    return 0


def live_prices(head, resources: list[dict], wanted: bool | None) -> dict:
    """Prices read now from the cloud's price API and cached, when asked or when credentials are set; else none."""
    from mlplatform.cost import live
    from mlplatform.cost.plan import instance_types
    from mlplatform.cost.pricing import today_date

    if wanted is False or (wanted is None and not live.has_credentials(head.cloud)):
        return {}
    today = today_date()
    try:
        fetched = live.fetch(head.cloud, head.region, instance_types(resources), today)
    except Exception as error:  # no network, no permission, an SDK error: the catalog still prices the plan
        print(f"live prices not read ({type(error).__name__}: {error}); priced from the catalog", file=sys.stderr)
        return {}
    if fetched:
        path = live.store(head.cloud, head.region, fetched, today)
        print(f"{len(fetched)} live price(s) read and cached in {path}", file=sys.stderr)
    return fetched
