"""`mlp preview -s STACK`: plan a stack offline, write the plan, judge it with the policy pack."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import yaml

from mlplatform.cli.output import Style, fit, shorten, terminal_width
from mlplatform.cost.pricing import BASIS_OUTPUT
from mlplatform.offline.stackfiles import UsageError


def add_parser(commands, common) -> None:
    from mlplatform.cli import add_json_option, add_stack_option

    parser = commands.add_parser(
        "preview", parents=[common], help="plan a stack offline, as `pulumi preview` would", description=__doc__
    )
    add_stack_option(parser)
    parser.add_argument("--out", type=Path, default=Path("build"), help="where stack.json and manifests go")
    parser.add_argument("--no-policy", action="store_true", help="skip the policy pack")
    parser.add_argument(
        "--policy-pack", type=Path, default=Path("policies"), help="the policy pack's folder (default: policies)"
    )
    parser.add_argument(
        "--policy-pack-config",
        type=Path,
        metavar="FILE",
        help="JSON file of policy config, as `pulumi preview --policy-pack-config` takes it",
    )
    add_json_option(parser, "the result (outputs, files written, policy verdicts)")
    parser.set_defaults(handler=run)


def read_policy_config(path: Path | None, project_dir: Path) -> dict | None:
    if path is None:
        return None
    path = path if path.is_absolute() else project_dir / path
    try:
        document = json.loads(path.read_text())
    except OSError as error:
        raise UsageError(f"--policy-pack-config {path}: {error.strerror}") from None
    except json.JSONDecodeError as error:
        raise UsageError(f"{path.name}:{error.lineno}:{error.colno}: not JSON: {error.msg}") from None
    if not isinstance(document, dict):
        raise UsageError(f"{path.name}: expected a JSON object of policy names to settings")
    return document


def shown_path(path: Path, project_dir: Path) -> Path:
    """A path as the user wrote it: relative to the project folder when inside it."""
    try:
        return path.resolve().relative_to(project_dir.resolve())
    except ValueError:
        return path


def _start_pack(args, project: str):
    """The policy pack's process, started for the stack."""
    from mlplatform.offline.packrun import PolicyPackRun

    pack = args.policy_pack if args.policy_pack.is_absolute() else args.project_dir / args.policy_pack
    return PolicyPackRun(pack, args.stack, project)


def _start_pack_early(args):
    """The pack started before the plan, for the project Pulumi.yaml names; None when that cannot be done
    now (no project name, no pack): then the error, if any, comes after the plan is written, as before."""
    from mlplatform.offline.analyzer import PolicyPackError
    from mlplatform.offline.stackfiles import read_yaml

    try:
        project = read_yaml(args.project_dir / "Pulumi.yaml").get("name")
        return _start_pack(args, str(project)) if project else None
    except (UsageError, PolicyPackError, OSError):
        return None


def run(args) -> int:
    from mlplatform.offline.analysis import PlanAnalysis
    from mlplatform.offline.preview import conceal, run_preview, write

    style = args.style
    policy_config = read_policy_config(args.policy_pack_config, args.project_dir)
    # The pack process starts now and judges each resource as the program registers it, as the engine does;
    # AnalyzeStack runs while the files are written. Files first, then the verdicts: a pack that fails
    # leaves the plan written.
    pack_run = None if args.no_policy else _start_pack_early(args)
    report = None
    try:
        if pack_run is not None:
            pack_run.start(policy_config)
        result = run_preview(args.stack, args.project_dir, PlanAnalysis(pack_run) if pack_run else None)
        if not args.no_policy and (pack_run is None or pack_run.project != result.project):
            if pack_run is not None:
                pack_run.stop()
            pack_run = _start_pack(args, result.project)  # a pack that cannot start fails here, as it always did
            pack_run.start(policy_config)
            pack_run.analyze_later(result.resources)
        folder = write(result, args.out if args.out.is_absolute() else args.project_dir / args.out)
        # The tree is made while the pack still judges the stack (printed after, as before).
        tree = (
            None
            if args.json
            else format_tree(result, terminal_width(), shown_path(folder, args.project_dir) / "stack.json", style)
        )
        if pack_run is not None:
            report = pack_run.report()
            (folder / "policy.json").write_text(json.dumps(report.to_json(), indent=2) + "\n")
    finally:
        if pack_run is not None:
            pack_run.stop()
    code = 1 if report is not None and report.has_mandatory else 0
    if args.json:
        document = {
            "stack": result.stack,
            "project": result.project,
            "resources": len(result.resources),
            "outputs": conceal(result.outputs),
            "written": {
                "folder": str(folder),
                "stackJson": str(folder / "stack.json"),
                "manifests": len(result.manifests),
                "releases": len(result.packages),
            },
            "validation": result.validation.summary() if result.validation else None,
            "policy": report.to_json() if report is not None else None,
            "exitCode": code,
        }
        print(json.dumps(document, indent=2, ensure_ascii=False))
        return code
    width = terminal_width()
    written = shown_path(folder, args.project_dir)
    print(tree)
    if result.validation:
        print("\n" + fit(f"{result.validation.summary()}.", width))
    print(
        "\n"
        + fit(
            f"Wrote {written}/stack.json, {len(result.manifests)} manifests and "
            f"{len(result.packages)} releases in {result.seconds:.1f}s.",
            width,
        )
    )
    if report is not None:
        print("\n" + style.plan(fit(report.format(), width)))
    return code


# Outputs written for programs rather than people: kept in stack.json and `--json`, left out of the printed summary.
MACHINE_OUTPUTS = {
    BASIS_OUTPUT: "what `mlp cost` and the budget policy price",
    "modelVersions": "the versions a promoting stack's StackReference reads",
}


def format_tree(result, width: int, stack_json: Path, style: Style | None = None) -> str:
    """The resource tree as `pulumi preview` prints it (plan marker, type, name, nesting), the outputs people
    read and the counts, all within `width` columns (types and names cut in the middle when they do not fit).
    The tree and the counts are coloured as a plan; the outputs are not (a YAML `- item` is no deletion)."""
    style = style or Style()
    children: dict[str, list[dict]] = {}
    roots = []
    for record in result.resources:
        if record["type"].startswith("pulumi:providers:") and record["urn"].split("::")[-1].startswith("default"):
            continue
        if "parent" in record:
            children.setdefault(record["parent"], []).append(record)
        else:
            roots.append(record)
    rows: list[tuple[str, str, str, str, int]] = []  # marker, branch + type, name, plan, length of the branch

    def walk(record: dict, prefix: str, last: bool, depth: int) -> None:
        external = record.get("external", False)
        branch = "" if depth == 0 else prefix + ("└─ " if last else "├─ ")
        rows.append(
            (
                ">-" if external else "+ ",
                branch + record["type"],
                record["urn"].split("::")[-1],
                "read" if external else "create",
                len(branch),
            )
        )
        kids = children.get(record["urn"], [])
        for index, kid in enumerate(kids):
            walk(kid, "" if depth == 0 else prefix + ("   " if last else "│  "), index == len(kids) - 1, depth + 1)

    for root in roots:
        walk(root, "", True, 0)
    type_width, name_width = (max(len(r[i]) for r in rows) for i in (1, 2))
    room = width - len(" +   ") - 2 * 2 - len("create")
    if type_width + name_width > room:  # shared in proportion to what each needs
        name_width = max(room * name_width // (type_width + name_width), 12)
        type_width = room - name_width
    lines = [
        f"Previewing update ({result.stack}) offline:",
        "",
        f"     {'Type':<{type_width}}  {'Name':<{name_width}}  Plan",
    ]
    lines += [
        f" {marker}  {shorten(kind, type_width, keep):<{type_width}}  {shorten(name, name_width):<{name_width}}  {plan}"
        for marker, kind, name, plan, keep in rows
    ]
    outputs = [style.paint("Outputs:", "bold"), *format_outputs(result.outputs, width, stack_json)]
    counts = Counter("read" if r[0] == ">-" else "create" for r in rows)
    totals = ["Resources:", f"    + {counts['create']} to create"]
    if counts["read"]:
        totals.append(f"    >-{counts['read']} to read")
    return "\n\n".join([style.plan("\n".join(lines)), "\n".join(outputs), style.plan("\n".join(totals))])


def format_outputs(outputs: dict, width: int, stack_json: Path) -> list[str]:
    """The stack outputs people read, as indented YAML; a line too wide is cut in the middle, and the last
    line says where every output is whole."""
    from mlplatform.offline.preview import YAML_DUMPER, conceal

    shown = {key: value for key, value in conceal(outputs).items() if key not in MACHINE_OUTPUTS}
    # libyaml's emitter (what yaml.safe_dump writes, several times faster: a 1,000-serving stack prints 700 KB)
    text = yaml.dump(
        shown, Dumper=YAML_DUMPER, sort_keys=True, allow_unicode=True, default_flow_style=False, width=1 << 20
    )
    lines, cut = [], False
    for line in text.splitlines() if shown else []:
        line = "    " + line
        if len(line) > width:  # the key stays whole, the value loses its middle
            line, cut = shorten(line, width, line.find(": ") + 2 if ": " in line else 4), True
        lines.append(line)
    hidden = sorted(key for key in outputs if key in MACHINE_OUTPUTS)
    notes = [f"(Not shown, for tools: {', '.join(hidden)}.)"] if hidden else []
    if cut:
        notes.append(f"(Values cut to fit at …: whole in {stack_json} and with --json.)")
    return lines + [line for note in notes for line in fit("    " + note, width).split("\n")]
