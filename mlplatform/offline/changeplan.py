"""The change plan of one resource: what `pulumi up` does with a difference between two plans (create, update,
replace in one order or the other, delete), and what deserves a flag (a stateful or protected resource
replaced or deleted, a name two resources would hold at once). The rules per type: replacements.py."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from mlplatform.conventions import COMPUTED
from mlplatform.offline.replacements import HELM_RELEASE, K8S_MUTABLE_DATA, Rule, kubernetes_kind, rule_for

if TYPE_CHECKING:
    from mlplatform.offline.diff import Change

FLAGS = ("protect", "retainOnDelete")  # state options a diff reports beside the inputs


CREATE, UPDATE, REPLACE, DELETE = "create", "update", "replace", "delete"
CREATE_FIRST, DELETE_FIRST = "create-before-delete", "delete-before-replace"


@dataclass(frozen=True)
class Flag:
    """Why a change needs a second look: stateful, protected, collision (flagged red) or retained (a note)."""

    kind: str
    reason: str

    @property
    def red(self) -> bool:
        return self.kind != "retained"

    def as_json(self) -> dict:
        return {"kind": self.kind, "reason": self.reason}


@dataclass
class ResourceDiff:
    """One resource's change: the head record (the base record for a delete) and what `pulumi up` does."""

    key: str
    resource: dict
    action: str
    changes: list[Change] = field(default_factory=list)
    forced_by: list[str] = field(default_factory=list)  # the changed paths that force a replacement
    mode: str = ""  # a replacement's order, CREATE_FIRST or DELETE_FIRST
    mode_reason: str = ""
    flags: list[Flag] = field(default_factory=list)

    @property
    def type(self) -> str:
        return self.resource["type"]

    @property
    def name(self) -> str:
        return self.resource["urn"].split("::", 3)[3]

    @property
    def flagged(self) -> bool:
        return any(flag.red for flag in self.flags)

    def as_json(self) -> dict:
        return {
            "key": self.key,
            "type": self.type,
            "name": self.name,
            "action": self.action,
            "replaceMode": self.mode or None,
            "replaceModeReason": self.mode_reason or None,
            "forcedBy": self.forced_by,
            "protect": bool(self.resource.get("protect")),
            "retainOnDelete": bool(self.resource.get("retainOnDelete")),
            "flagged": self.flagged,
            "flags": [flag.as_json() for flag in self.flags],
            "changes": [change.as_json() for change in self.changes],
        }


def _keys(parts: tuple) -> tuple:
    """A change's path without list positions, as the replacement rules write paths."""
    return tuple(part for part in parts if not isinstance(part, int))


def _lookup(value: Any, keys: tuple) -> Any:
    for key in keys:
        if isinstance(value, list):
            return [_lookup(item, keys) for item in value]
        value = value.get(key) if isinstance(value, dict) else None
    return value


def _forces(change: Change, paths: tuple[str, ...]) -> bool:
    """Whether a changed value lies under (or holds a changed value of) one of the paths."""
    keys = _keys(change.parts)
    for path in paths:
        if path == "*":
            return True
        rule = tuple(path.split("."))
        if keys[: len(rule)] == rule:
            return True
        if rule[: len(keys)] == keys and _lookup(change.old, rule[len(keys) :]) != _lookup(
            change.new, rule[len(keys) :]
        ):
            return True  # an object added, removed or retyped whole, with a forcing property inside
    return False


def ignored(change: Change, ignore_changes: list[str]) -> bool:
    """A change under one of the resource's `ignoreChanges` paths, which the engine leaves out of the diff."""
    return _forces(change, tuple(path.replace("[*]", "") for path in ignore_changes)) if ignore_changes else False


def _truthy(value: Any) -> bool:
    return value is True or str(value).lower() == "true"


def _force_new(record: dict, rule: Rule, providers: dict[str, dict]) -> tuple[str, ...]:
    """The rule's paths, the record's own `replaceOnChanges`, and the Kubernetes data a provider keeps immutable."""
    paths = (*rule.force_new, *(path.replace("[*]", "") for path in record.get("replaceOnChanges") or []))
    mutable = (
        K8S_MUTABLE_DATA.get(kubernetes_kind(record["type"])) if record["type"].startswith("kubernetes:") else None
    )
    if mutable:
        option, data = mutable
        provider = providers.get(record.get("provider", "").rsplit("::", 1)[0], {})
        if not _truthy((provider.get("inputs") or {}).get(option)) or (record.get("inputs") or {}).get("immutable"):
            paths = (*paths, *data)
    return paths


def _named(record: dict, path: str) -> Any:
    value = _lookup(record.get("inputs") or {}, tuple(path.split(".")))
    return value if isinstance(value, str) and value and value != COMPUTED else None


def identity(record: dict) -> tuple | None:
    """The name a cloud or cluster knows a resource by, in its scope, when the program sets both."""
    rule = rule_for(record["type"]) if record.get("custom") else None
    if rule is None or not rule.name or _named(record, rule.name) is None:
        return None
    scope = _named(record, rule.scope) if rule.scope else ""
    if scope is None and rule.scope != "metadata.namespace":  # cluster-scoped objects have no namespace
        return None  # the scope is known only after apply: whether two copies collide cannot be told
    return (record["type"], scope, _named(record, rule.name))


def _shown_identity(ident: tuple) -> str:
    return "/".join(part for part in ident[1:] if part)


def replacement_order(old: dict, new: dict, rule: Rule) -> tuple[str, str]:
    """Which copy goes first, as the engine and the provider decide it."""
    if new.get("deleteBeforeReplace"):
        return DELETE_FIRST, "the resource's `deleteBeforeReplace` option"
    name = _named(new, rule.name) if rule.name else None
    if new["type"].startswith("kubernetes:") and new["type"] != HELM_RELEASE:
        # pulumi-kubernetes provider.go Diff: a named object replaced under its own name in its own namespace
        # is deleted first (the API allows one object per name); an autonamed or renamed one is created first.
        if name and identity(old) == identity(new):
            return (
                DELETE_FIRST,
                f"pulumi-kubernetes deletes first: the replacement keeps the name {_shown_identity(identity(new))}",
            )
        return CREATE_FIRST, "Pulumi's default"
    if rule.autonamed and name:
        return DELETE_FIRST, f"the program names it {name!r}: pulumi-terraform-bridge deletes first"
    return CREATE_FIRST, "Pulumi's default"


def _protection_flags(record: dict, verb: str) -> list[Flag]:
    flags = []
    if record.get("protect"):
        flags.append(Flag("protected", f"`pulumi up` refuses to {verb} it until `protect` is removed"))
    if record.get("retainOnDelete"):
        flags.append(Flag("retained", "Pulumi stops managing it and leaves it in place (retainOnDelete)"))
    return flags


def classify_replace(item: ResourceDiff, old: dict, rule: Rule) -> None:
    new = item.resource
    item.action = REPLACE
    item.mode, item.mode_reason = replacement_order(old, new, rule)
    forced = item.forced_by[0]
    if rule.stateful:
        effect = "the old one is retained" if old.get("retainOnDelete") else rule.stateful.on_replace
        item.flags.append(
            Flag("stateful", f"replaces {rule.stateful.noun}: `{forced}` forces a new resource; {effect}")
        )
    item.flags += _protection_flags(old, "replace (delete)")
    if item.mode == CREATE_FIRST and identity(new) is not None and identity(old) == identity(new):
        item.flags.append(
            Flag(
                "collision",
                f"the replacement is created as {_shown_identity(identity(new))} while the old one still holds "
                "that name: the create fails (AlreadyExists); set `deleteBeforeReplace` or change the name",
            )
        )
    if new["type"] == HELM_RELEASE and item.mode == CREATE_FIRST:
        item.flags.append(
            Flag(
                "collision",
                "the new release installs the chart's cluster-scoped objects while the old release still owns "
                "them: Helm refuses (invalid ownership metadata) until the old one is uninstalled",
            )
        )


def classify_change(item: ResourceDiff, old: dict, providers: dict[str, dict]) -> None:
    """An update, or a replacement when a changed input forces one."""
    new = item.resource
    rule = rule_for(new["type"]) if new.get("custom") else None
    if rule is None:
        return
    paths = _force_new(new, rule, providers)
    item.forced_by = [c.path for c in item.changes if c.parts[0] not in FLAGS and _forces(c, paths)]
    if item.forced_by:
        classify_replace(item, old, rule)


def classify_delete(item: ResourceDiff) -> None:
    record = item.resource
    rule = rule_for(record["type"]) if record.get("custom") else None
    item.flags += _protection_flags(record, "delete")
    if rule and rule.stateful and not record.get("retainOnDelete"):
        item.flags.append(Flag("stateful", f"deletes {rule.stateful.noun}: {rule.stateful.on_delete}"))


def flag_collisions(created: list[ResourceDiff], deleted: list[ResourceDiff]) -> None:
    """A create whose name another (deleted) resource still holds: Pulumi creates before it deletes."""
    holders = {identity(item.resource): item for item in deleted if identity(item.resource) is not None}
    for item in created:
        holder = holders.get(identity(item.resource))
        if holder is not None:
            item.flags.append(
                Flag(
                    "collision",
                    f"{_shown_identity(identity(item.resource))} is still held by {holder.name}, which is deleted "
                    "only after this create: the create fails (AlreadyExists); move it with `aliases`",
                )
            )
