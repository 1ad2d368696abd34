"""`mlp endpoints -s STACK`: where a stack's servings, web services, notebooks and dashboards answer.

Read from the stack outputs of an offline preview (like `vela status --endpoint`): in-cluster URLs are
exact; addresses only the cloud assigns (a load balancer's) read `(known after apply)`.
"""

from __future__ import annotations

import json


def add_parser(commands, common) -> None:
    from mlplatform.cli import add_json_option, add_stack_option

    parser = commands.add_parser(
        "endpoints",
        parents=[common],
        help="list the URLs of a stack's servings, notebooks and dashboards",
        description=__doc__,
    )
    add_stack_option(parser)
    add_json_option(parser, "the endpoints")
    parser.set_defaults(handler=run)


def endpoints(outputs: dict) -> dict:
    """The endpoint outputs of a stack, by kind."""
    access = outputs.get("notebookAccess") or {}
    return {
        "servings": outputs.get("servings") or {},
        "webServices": outputs.get("webServices") or {},
        "notebooks": {
            name: {"url": url, **({"access": access[name]} if name in access else {})}
            for name, url in (outputs.get("notebooks") or {}).items()
        },
        "dashboards": outputs.get("dashboards") or {},
    }


def rows(found: dict) -> list[tuple[str, str, str, str]]:
    """(kind, name, endpoint, note) rows, servings first."""
    table = []
    for name, serving in sorted(found["servings"].items()):
        header = serving.get("header")
        if header:
            selected = f"requests with header '{header['name']}: {header['value']}' (shares {serving.get('sharesUrlWith')}'s URL)"
        else:
            split = serving.get("traffic") or {}
            selected = "traffic " + ", ".join(f"{p}={t}%" for p, t in split.items()) if split else ""
        table.append(("serving", name, serving["url"], f"in cluster; {selected}".rstrip("; ")))
        table.append(("serving", name, serving["externalUrl"], "ingress load balancer"))
        for kind in ("metrics", "logs"):
            if serving.get(kind):
                table.append((kind, name, serving[kind], "console"))
    for name, url in sorted(found["webServices"].items()):
        table.append(("web service", name, url, ""))
    for name, notebook in sorted(found["notebooks"].items()):
        table.append(
            ("notebook", name, notebook["url"], f"after `{notebook['access']}`" if "access" in notebook else "")
        )
    for kind, url in sorted(found["dashboards"].items()):
        table.append((kind, "cluster", url, "console"))
    return table


def render(stack: str, found: dict) -> str:
    table = rows(found)
    if not table:
        return f"Stack {stack} has no endpoints."
    head = ("KIND", "NAME", "ENDPOINT", "NOTE")
    widths = [max(len(row[i]) for row in [head, *table]) for i in range(3)]
    lines = [f"Endpoints of stack {stack} (offline preview):", ""]
    for row in [head, *table]:
        lines.append("  ".join(cell.ljust(widths[i]) if i < 3 else cell for i, cell in enumerate(row)).rstrip())
    return "\n".join(lines)


def run(args) -> int:
    from mlplatform.offline.preview import conceal, run_preview

    result = run_preview(args.stack, args.project_dir)
    found = endpoints(conceal(result.outputs))
    if args.json:
        print(json.dumps({"stack": args.stack, **found}, indent=2, ensure_ascii=False))
    else:
        print(args.style.plain(render(args.stack, found)))
    return 0
