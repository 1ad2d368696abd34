"""`mlp preview -s STACK`: plan a stack offline, write the plan, judge it with the policy pack."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

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
    print(style.plan(format_tree(result)))
    if result.validation:
        print(f"\n{result.validation.summary()}.")
    print(
        f"\nWrote {shown_path(folder, args.project_dir)}/stack.json, {len(result.manifests)} manifests and "
        f"{len(result.packages)} releases in {result.seconds:.1f}s."
    )
    if report is not None:
        print("\n" + style.plan(report.format()))
    return code


def format_tree(result) -> str:
    """The resource tree as `pulumi preview` prints it: plan marker, type, name, nesting."""
    from mlplatform.offline.preview import conceal

    children: dict[str, list[dict]] = {}
    roots = []
    for record in result.resources:
        if record["type"].startswith("pulumi:providers:") and record["urn"].split("::")[-1].startswith("default"):
            continue
        if "parent" in record:
            children.setdefault(record["parent"], []).append(record)
        else:
            roots.append(record)
    rows: list[tuple[str, str, str, str]] = []

    def walk(record: dict, prefix: str, last: bool, depth: int) -> None:
        external = record.get("external", False)
        branch = "" if depth == 0 else prefix + ("└─ " if last else "├─ ")
        rows.append(
            (
                ">-" if external else "+ ",
                branch + record["type"],
                record["urn"].split("::")[-1],
                "read" if external else "create",
            )
        )
        kids = children.get(record["urn"], [])
        for index, kid in enumerate(kids):
            walk(kid, "" if depth == 0 else prefix + ("   " if last else "│  "), index == len(kids) - 1, depth + 1)

    for root in roots:
        walk(root, "", True, 0)
    type_width = max(len(r[1]) for r in rows) + 2
    name_width = max(len(r[2]) for r in rows) + 2
    lines = [
        f"Previewing update ({result.stack}) offline:",
        "",
        f"     {'Type':<{type_width}}{'Name':<{name_width}}Plan",
    ]
    lines += [f" {marker}  {kind:<{type_width}}{name:<{name_width}}{plan}" for marker, kind, name, plan in rows]
    lines += ["", "Outputs:"]
    for key, value in sorted(result.outputs.items()):
        lines.append(f"    {key}: {json.dumps(conceal(value), sort_keys=True)}")
    counts = Counter("read" if r[0] == ">-" else "create" for r in rows)
    lines += ["", "Resources:", f"    + {counts['create']} to create"]
    if counts["read"]:
        lines.append(f"    >-{counts['read']} to read")
    return "\n".join(lines)
