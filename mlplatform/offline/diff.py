"""`python -m mlplatform diff BASE HEAD`: two previews compared the way a PR reviewer reads them.

Each side is a stack name (planned now with the offline preview) or a folder holding an earlier
preview's `stack.json` (a `pulumi stack export`, deployment version 3). Resources are matched by URN
with the stack segment dropped, so dev can be compared with prod and prod with an earlier prod.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlplatform.conventions import SECRET_TEXT, is_secret, property_path
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


@dataclass
class ResourceDiff:
    key: str
    resource: dict
    changes: list[Change] = field(default_factory=list)

    @property
    def type(self) -> str:
        return self.resource["type"]

    @property
    def name(self) -> str:
        return self.resource["urn"].split("::", 3)[3]

    def as_json(self) -> dict:
        return {
            "key": self.key,
            "type": self.type,
            "name": self.name,
            "protect": bool(self.resource.get("protect")),
            "changes": [change.as_json() for change in self.changes],
        }


@dataclass
class Comparison:
    base: str
    head: str
    added: list[ResourceDiff]
    removed: list[ResourceDiff]
    changed: list[ResourceDiff]
    unchanged: int
    outputs: list[Change]
    cost: dict | None = None  # the monthly cost change (mlplatform.cost.report.change), issue 17

    def summary(self) -> dict[str, int]:
        return {
            "added": len(self.added),
            "removed": len(self.removed),
            "changed": len(self.changed),
            "unchanged": self.unchanged,
            "outputsChanged": len(self.outputs),
        }

    def as_json(self) -> dict:
        return {
            "base": self.base,
            "head": self.head,
            "added": [item.as_json() for item in self.added],
            "removed": [item.as_json() for item in self.removed],
            "changed": [item.as_json() for item in self.changed],
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
    for flag in ("protect", "retainOnDelete"):
        if bool(old.get(flag)) != bool(new.get(flag)):
            changes.append(Change("~", (flag,), bool(old.get(flag)), bool(new.get(flag))))
    return changes


def compare(base: Snapshot, head: Snapshot) -> Comparison:
    added = [ResourceDiff(key, r) for key, r in head.resources.items() if key not in base.resources]
    removed = [ResourceDiff(key, r) for key, r in base.resources.items() if key not in head.resources]
    changed, unchanged = [], 0
    for key, old in base.resources.items():
        if key in head.resources:
            changes = resource_changes(old, head.resources[key])
            if changes:
                changed.append(ResourceDiff(key, head.resources[key], changes))
            else:
                unchanged += 1
    return Comparison(
        base=base.label,
        head=head.label,
        added=added,
        removed=removed,
        changed=changed,
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


def render_text(comparison: Comparison) -> str:
    lines = [f"Comparing {comparison.base} -> {comparison.head} (stack names in URNs ignored)"]
    sections = (("Resources to add", "+", comparison.added), ("Resources to remove", "-", comparison.removed))
    for title, marker, items in sections:
        if items:
            lines += ["", f"{title} ({len(items)}):"]
            for item in items:
                note = (
                    "  [protected: `pulumi up` will refuse to delete it]"
                    if marker == "-" and item.resource.get("protect")
                    else ""
                )
                lines.append(f"  {marker} {item.type}  {item.name}{note}")
    if comparison.changed:
        lines += ["", f"Resources to change ({len(comparison.changed)}):"]
        for item in comparison.changed:
            lines.append(f"  ~ {item.type}  {item.name}")
            lines += [f"      {line}" for change in item.changes for line in change_lines(change)]
    if comparison.outputs:
        lines += ["", f"Stack outputs ({len(comparison.outputs)} changed):"]
        lines += [f"  {line}" for change in comparison.outputs for line in change_lines(change)]
    if comparison.cost is not None and comparison.cost["lines"]:  # only when something billable changes
        from mlplatform.cost.report import format_change

        lines += ["", format_change(comparison.cost)]
    counts = comparison.summary()
    lines += [
        "",
        f"Summary: {counts['added']} to add, {counts['removed']} to remove, {counts['changed']} to change, "
        f"{counts['unchanged']} unchanged; {counts['outputsChanged']} stack output changes",
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
