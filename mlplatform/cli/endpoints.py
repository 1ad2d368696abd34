"""`mlp endpoints -s STACK`: where a stack's servings, web services, notebooks and dashboards answer.

Read from the stack outputs of an offline preview (like `vela status --endpoint`): in-cluster URLs are
exact; addresses only the cloud assigns (a load balancer's) read `(known after apply)`.
"""

from __future__ import annotations

import json

from mlplatform.cli.output import fit, table, terminal_width


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
    # Behind SSO a private notebook is reached through its proxy (`notebookSignOn`), not Jupyter's own port.
    access = {**(outputs.get("notebookAccess") or {}), **(outputs.get("notebookSignOn") or {})}
    return {
        "servings": outputs.get("servings") or {},
        "webServices": outputs.get("webServices") or {},
        "notebooks": {
            name: {"url": url, **({"access": access[name]} if name in access else {})}
            for name, url in (outputs.get("notebooks") or {}).items()
        },
        "dashboards": outputs.get("dashboards") or {},
    }


def serving_note(serving: dict) -> str:
    """What selects a serving's traffic: its split, or the header of an A/B test at another serving's URL."""
    header = serving.get("header")
    if header:
        return (
            f"requests with header '{header['name']}: {header['value']}' (shares {serving.get('sharesUrlWith')}'s URL)"
        )
    split = serving.get("traffic") or {}
    return "traffic " + ", ".join(f"{p}={t}%" for p, t in split.items()) if split else ""


def sections(found: dict) -> list[tuple[str, list[tuple[str, str]]]]:
    """(heading, (label, text) rows) per section: servings, web services, notebooks, consoles. A console link
    that the cluster's dashboards already give is listed once, under Consoles, not again per serving."""
    shared = set(found["dashboards"].values())
    servings: list[tuple[str, str]] = []
    for name, serving in sorted(found["servings"].items()):
        servings.append((name, serving_note(serving)))
        servings.append(("  in cluster", serving["url"]))
        servings.append(("  load balancer", serving["externalUrl"]))
        for kind in ("metrics", "logs"):
            if serving.get(kind) and serving[kind] not in shared:
                servings.append((f"  {kind}", serving[kind]))
    notebooks: list[tuple[str, str]] = []
    for name, notebook in sorted(found["notebooks"].items()):
        notebooks.append((name, notebook["url"]))
        if "access" in notebook:
            notebooks.append(("", f"after `{notebook['access']}`"))
    consoles = sorted(found["dashboards"].items())
    heading = "Consoles (the cluster's metrics and logs" + (", every serving's too)" if servings else ")")
    return [
        (title, rows)
        for title, rows in (
            ("Servings", servings),
            ("Web services", sorted(found["webServices"].items())),
            ("Notebooks", notebooks),
            (heading, consoles),
        )
        if rows
    ]


def render(stack: str, found: dict, width: int) -> str:
    """The endpoints by kind, each section an aligned table within `width` columns (long URLs wrap at `/`); a
    serving's addresses are indented under its name and what selects it."""
    parts = sections(found)
    if not parts:
        return f"Stack {stack} has no endpoints."
    lines = [f"Endpoints of stack {stack} (offline preview):"]
    wrapped = False
    for title, rows in parts:
        section = table(rows, width, indent=2)
        wrapped = wrapped or len(section) > len(rows)
        lines += ["", title, *section]
    if wrapped:
        lines += ["", fit("(Long addresses wrap at `/`; `--json` prints each on one line.)", width)]
    return "\n".join(lines)


def run(args) -> int:
    from mlplatform.offline.preview import conceal, run_preview

    result = run_preview(args.stack, args.project_dir)
    found = endpoints(conceal(result.outputs))
    if args.json:
        print(json.dumps({"stack": args.stack, **found}, indent=2, ensure_ascii=False))
    else:
        print(args.style.plain(render(args.stack, found, terminal_width())))
    return 0
