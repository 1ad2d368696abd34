"""`python -m mlplatform diff BASE HEAD`: two previews compared the way a PR reviewer reads them.

Each side is a stack name (planned now with the offline preview) or a folder holding an earlier
preview's `stack.json` (a `pulumi stack export`, deployment version 3). Resources are matched by URN
with the stack segment dropped, so dev can be compared with prod and prod with an earlier prod.

Every difference is classified the way `pulumi preview` would: create, update, replace (create-before-delete,
Pulumi's default, or delete-before-replace) or delete, from the properties each provider marks as forcing a
replacement (mlplatform/offline/replacements.py, sourced per type). Replacements and deletions of stateful or
protected resources, and creates that collide with an object another resource still owns, are flagged with
their reason; in the text a flagged line starts with `-!!`, so the pull request's ```diff block shows it red.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlplatform.conventions import SECRET_TEXT, is_secret, property_path
from mlplatform.offline.changeplan import (
    CREATE,
    DELETE,
    FLAGS,
    REPLACE,
    UPDATE,
    ResourceDiff,
    classify_change,
    classify_delete,
    flag_collisions,
    ignored,
)
from mlplatform.offline.stackfiles import UsageError, stack_names

STACK_TYPE = "pulumi:pulumi:Stack"
# Text output shortens longer strings (certificates, scripts) and lists longer objects leaf by leaf;
# --json keeps every value whole.
LONG_VALUE = 120


@dataclass(frozen=True)
class Snapshot:
    """One side of the comparison: resources by stack-less URN, and the stack outputs."""

    label: str
    resources: dict[str, dict]
    outputs: dict


@dataclass
class Change:
    """One changed value: marker '+' (added), '-' (removed) or '~' (changed), secrets already masked."""

    marker: str
    parts: tuple
    old: Any = None
    new: Any = None

    @property
    def path(self) -> str:
        return property_path(self.parts)

    def as_json(self) -> dict:
        return {"change": self.marker, "path": self.path, "old": self.old, "new": self.new}


ACTIONS = (CREATE, UPDATE, REPLACE, DELETE)


@dataclass
class Comparison:
    base: str
    head: str
    resources: list[ResourceDiff]
    unchanged: int
    outputs: list[Change]
    cost: dict | None = None  # the monthly cost change (mlplatform.cost.report.change), issue 17

    def of(self, action: str) -> list[ResourceDiff]:
        return [item for item in self.resources if item.action == action]

    def summary(self) -> dict[str, int]:
        return {
            **{action: len(self.of(action)) for action in ACTIONS},
            "unchanged": self.unchanged,
            "flagged": sum(item.flagged for item in self.resources),
            "outputsChanged": len(self.outputs),
        }

    def as_json(self) -> dict:
        return {
            "base": self.base,
            "head": self.head,
            "resources": [item.as_json() for item in self.resources],
            "outputs": [change.as_json() for change in self.outputs],
            "summary": self.summary(),
            "cost": self.cost,
        }


# ---------------------------------------------------------------- reading the two sides


def resource_key(urn: str) -> str:
    """urn:pulumi:<stack>::<project>::<type chain>::<name> -> <project>::<type chain>::<name>

    A name that starts with the stack's own name (`prod-cluster`, as components name their children
    after the environment) is matched as `<stack>-cluster`, so that dev's and prod's resources pair up.
    """
    parts = urn.split("::", 3)
    if len(parts) != 4 or not parts[0].startswith("urn:pulumi:"):
        raise UsageError(f"not a Pulumi URN: {urn!r}")
    stack = parts[0].removeprefix("urn:pulumi:")
    name = parts[3]
    if name.startswith(f"{stack}-"):
        name = "<stack>-" + name.removeprefix(f"{stack}-")
    return "::".join([parts[1], parts[2], name])


def snapshot(label: str, resources: list[dict], outputs: dict) -> Snapshot:
    by_key = {resource_key(r["urn"]): r for r in resources if r.get("type") != STACK_TYPE}
    return Snapshot(label=label, resources=by_key, outputs=outputs)


def read_stack_json(location: Path, label: str) -> Snapshot:
    """A preview folder (or its stack.json) as written by `preview` or `pulumi stack export`."""
    path = location if location.is_file() else location / "stack.json"
    try:
        document = json.loads(path.read_text())
    except FileNotFoundError:
        raise UsageError(
            f"{path}: no such file (write it with `python -m mlplatform preview --stack <stack>`)"
        ) from None
    except json.JSONDecodeError as error:
        raise UsageError(f"{path}:{error.lineno}:{error.colno}: not JSON: {error.msg}") from None
    if not isinstance(document, dict) or document.get("version") != 3 or "deployment" not in document:
        raise UsageError(f"{path}: not a deployment of version 3 (the format of `pulumi stack export`)")
    resources = document["deployment"].get("resources") or []
    stack = next((r for r in resources if r.get("type") == STACK_TYPE), {})
    return snapshot(label, resources, stack.get("outputs") or {})


def load_side(argument: str, project_dir: Path) -> Snapshot:
    """A stack name is planned now (written nowhere, so no earlier preview is overwritten); else a preview folder."""
    if argument in stack_names(project_dir):
        from mlplatform.offline.preview import export_secrets, run_preview

        result = run_preview(argument, project_dir)
        # Outputs as stack.json holds them, so that a stack and its earlier preview compare equal.
        return snapshot(f"{argument} (preview)", result.resources, export_secrets(result.outputs))
    location = project_dir / argument  # relative to the project, like `preview --out`
    if not location.exists():
        stacks = ", ".join(stack_names(project_dir)) or "none"
        raise UsageError(f"{argument!r} is neither a stack ({stacks}) nor a folder holding stack.json")
    return read_stack_json(location, argument)


# ---------------------------------------------------------------- comparing


_ABSENT = object()  # a key or list item one side lacks (None is a value)


def masked(value: Any) -> Any:
    """The value with every secret replaced by [secret], so no secret reaches the output."""
    if is_secret(value):
        return SECRET_TEXT
    if isinstance(value, dict):
        return {key: masked(item) for key, item in value.items()}
    if isinstance(value, list):
        return [masked(item) for item in value]
    return value


def _json_container(text: str) -> dict | list | None:
    try:
        value = json.loads(text)
    except json.JSONDecodeError:
        return None
    return value if isinstance(value, dict | list) else None


def value_changes(old: Any, new: Any, parts: tuple = ()) -> list[Change]:
    """Walk two values in step and list what differs, down to the leaves.

    Strings that both hold JSON objects or arrays (policy documents, addon configs) are walked too.
    """
    if old == new:
        return []
    if isinstance(old, str) and isinstance(new, str):
        old_json, new_json = _json_container(old), _json_container(new)
        if old_json is not None and new_json is not None:
            return value_changes(old_json, new_json, parts)
    if isinstance(old, dict) and isinstance(new, dict) and not is_secret(old) and not is_secret(new):
        keys = list(old) + [key for key in new if key not in old]
        pairs = [(key, old.get(key, _ABSENT), new.get(key, _ABSENT)) for key in keys]
    elif isinstance(old, list) and isinstance(new, list):
        length = max(len(old), len(new))
        pairs = [
            (index, old[index] if index < len(old) else _ABSENT, new[index] if index < len(new) else _ABSENT)
            for index in range(length)
        ]
    else:
        return [Change("~", parts, masked(old), masked(new))]
    changes = []
    for key, old_item, new_item in pairs:
        if old_item is _ABSENT:
            changes.append(Change("+", (*parts, key), new=masked(new_item)))
        elif new_item is _ABSENT:
            changes.append(Change("-", (*parts, key), old=masked(old_item)))
        else:
            changes.extend(value_changes(old_item, new_item, (*parts, key)))
    return changes


def resource_changes(old: dict, new: dict) -> list[Change]:
    """Inputs (what the program asked for) and the data-protection flags."""
    changes = value_changes(old.get("inputs") or {}, new.get("inputs") or {})
    for flag in FLAGS:
        if bool(old.get(flag)) != bool(new.get(flag)):
            changes.append(Change("~", (flag,), bool(old.get(flag)), bool(new.get(flag))))
    return changes


def compare(base: Snapshot, head: Snapshot) -> Comparison:
    """Resources pair by URN, or by an `aliases` entry of the head record (a move, as the engine reads it)."""
    providers = {
        record["urn"]: record for record in head.resources.values() if record["type"].startswith("pulumi:providers:")
    }
    moved = {resource_key(alias): key for key, r in head.resources.items() for alias in r.get("aliases") or []}
    pairs = {key: key for key in base.resources if key in head.resources}
    pairs.update({old: moved[old] for old in base.resources if old not in pairs and moved.get(old) in head.resources})
    created = [ResourceDiff(key, r, CREATE) for key, r in head.resources.items() if key not in pairs.values()]
    deleted = [ResourceDiff(key, r, DELETE) for key, r in base.resources.items() if key not in pairs]
    for item in deleted:
        classify_delete(item)
    flag_collisions(created, deleted)
    changed, unchanged = [], 0
    for old_key, key in pairs.items():
        old, new = base.resources[old_key], head.resources[key]
        changes = [c for c in resource_changes(old, new) if not ignored(c, new.get("ignoreChanges") or [])]
        if not changes:
            unchanged += 1
            continue
        item = ResourceDiff(key, new, UPDATE, changes)
        classify_change(item, old, providers)
        changed.append(item)
    return Comparison(
        base=base.label,
        head=head.label,
        resources=[*created, *changed, *deleted],
        unchanged=unchanged,
        outputs=value_changes(base.outputs, head.outputs),
        cost=cost_change(base, head),
    )


def cost_change(base: Snapshot, head: Snapshot) -> dict:
    """What the change does to the monthly cost: both sides priced from the catalog (`mlp cost`)."""
    from mlplatform.cost.report import change, of_snapshot

    return change(*(of_snapshot(list(side.resources.values()), side.outputs) for side in (base, head)))


# ---------------------------------------------------------------- rendering


def shown(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False)
    if isinstance(value, str) and len(value) > LONG_VALUE:
        return f'{text[:LONG_VALUE]}…" ({len(value)} characters)'
    return text


def _leaves(parts: tuple, value: Any) -> list[tuple[tuple, Any]]:
    if isinstance(value, dict) and value:
        return [leaf for key, item in value.items() for leaf in _leaves((*parts, key), item)]
    if isinstance(value, list) and value:
        return [leaf for index, item in enumerate(value) for leaf in _leaves((*parts, index), item)]
    return [(parts, value)]


def change_lines(change: Change) -> list[str]:
    """One line per change; an added or removed object too long for a line is listed leaf by leaf."""
    if change.marker == "~":
        return [f"~ {change.path}: {shown(change.old)} -> {shown(change.new)}"]
    value = change.new if change.marker == "+" else change.old
    if len(json.dumps(value, ensure_ascii=False)) <= LONG_VALUE:
        return [f"{change.marker} {change.path}: {shown(value)}"]
    return [f"{change.marker} {property_path(parts)}: {shown(leaf)}" for parts, leaf in _leaves(change.parts, value)]


SECTIONS = (
    (CREATE, "Resources to create", "+"),
    (UPDATE, "Resources to update", "~"),
    (REPLACE, "Resources to replace", "+-"),
    (DELETE, "Resources to delete", "-"),
)
RED = "-!!"  # starts a flagged line: red in a ```diff block (a deleted line), plain `!!` in a terminal


def resource_lines(item: ResourceDiff, marker: str) -> list[str]:
    mode = f"  [{item.mode}: {item.mode_reason}]" if item.mode else ""
    lines = [f"  {marker} {item.type}  {item.name}{mode}"]
    lines += [f"{RED}    {flag.kind.upper()}: {flag.reason}" for flag in item.flags if flag.red]
    lines += [f"      {flag.kind}: {flag.reason}" for flag in item.flags if not flag.red]
    forced = set(item.forced_by)
    for change in item.changes:
        note = "  (forces replacement)" if change.path in forced else ""
        lines += [f"      {line}{note}" for line in change_lines(change)]
    return lines


def render_text(comparison: Comparison) -> str:
    lines = [f"Comparing {comparison.base} -> {comparison.head} (stack names in URNs ignored)"]
    for action, title, marker in SECTIONS:
        items = comparison.of(action)
        if items:
            lines += ["", f"{title} ({len(items)}):"]
            for item in items:
                lines += resource_lines(item, marker)
    if comparison.outputs:
        lines += ["", f"Stack outputs ({len(comparison.outputs)} changed):"]
        lines += [f"  {line}" for change in comparison.outputs for line in change_lines(change)]
    if comparison.cost is not None and comparison.cost["lines"]:  # only when something billable changes
        from mlplatform.cost.report import format_change

        lines += ["", format_change(comparison.cost)]
    counts = comparison.summary()
    flagged = (
        f"{RED} {counts['flagged']} flagged: stateful or protected resources replaced or deleted, or names that collide"
        if counts["flagged"]
        else ""
    )
    lines += [
        "",
        f"Summary: {counts[CREATE]} to create, {counts[UPDATE]} to update, {counts[REPLACE]} to replace, "
        f"{counts[DELETE]} to delete, {counts['unchanged']} unchanged; {counts['outputsChanged']} stack output changes",
        *([flagged] if flagged else []),
    ]
    return "\n".join(lines)


def diff_command(args) -> int:
    """Exit 0 whether or not the sides differ, like `pulumi preview`; errors raise UsageError (exit 2)."""
    comparison = compare(load_side(args.base, args.project_dir), load_side(args.head, args.project_dir))
    if args.json:
        print(json.dumps(comparison.as_json(), indent=2, ensure_ascii=False))
    else:
        print(render_text(comparison))
    return 0
