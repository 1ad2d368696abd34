"""Would the cluster accept these objects? Rendered Kubernetes objects (plain dicts) checked offline.

- Custom resources against their upstream CRD (`crds.py`): the openAPIV3Schema as the API server
  applies it (int-or-string, nullable, embedded resources, integers that must not be floats) and the
  fields it would silently prune.
- The operators' admission webhook rules the schemas do not carry (`webhooks.py`).
- Built-in objects with `kubernetes-validate`'s strict schemas for the cluster's Kubernetes version
  (`builtin.py`).

A kind we hold no schema for (e.g. an Istio VirtualService) is not checked; `strict=True` reports it
as "no schema" instead, and `check_all` counts it as unchecked, so nothing passes silently.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from mlplatform.validation import builtin, crds, webhooks
from mlplatform.validation.builtin import DEFAULT_KUBERNETES_VERSION
from mlplatform.validation.crds import CRDS_DIR_ENV, CrdsMissing

KUBERNETES_VERSION = DEFAULT_KUBERNETES_VERSION

__all__ = [
    "CRDS_DIR_ENV",
    "KUBERNETES_VERSION",
    "CrdsMissing",
    "InvalidObjects",
    "Validation",
    "check_all",
    "validate",
    "validate_all",
]


def _name(obj: dict) -> str:
    metadata = obj.get("metadata") or {}
    return f"{obj.get('kind', '?')}/{metadata.get('name') or metadata.get('generateName') or '?'}"


def _check(obj: dict, kubernetes_version: str) -> tuple[str, list[str]]:
    """('custom' | 'builtin' | 'unchecked', problems without the object's name)."""
    api_version, kind = obj.get("apiVersion"), obj.get("kind")
    if not api_version or not kind:
        return "unchecked", ["apiVersion and kind are required"]
    schema = crds.schema(api_version, kind)
    if schema is not None:
        checked, problems = "custom", [*crds.schema_errors(obj), *crds.prune_errors(obj, schema)]
    else:
        problems = builtin.errors(obj, kubernetes_version)
        if problems is None:
            return "unchecked", []
        checked = "builtin"
    if not problems:  # the API server calls validating webhooks only for objects that pass the schema
        problems = webhooks.problems(obj)
    return checked, problems


def validate(obj: dict, strict: bool = False, kubernetes_version: str = KUBERNETES_VERSION) -> list[str]:
    """Problems the API server or an operator webhook would have with `obj`, each naming kind/name and field."""
    checked, problems = _check(obj, kubernetes_version)
    if checked == "unchecked" and not problems and strict:
        problems = [f"no schema for {obj['apiVersion']} {obj['kind']}"]
    return [f"{_name(obj)}: {problem}" for problem in problems]


def validate_all(objs: Iterable[dict], strict: bool = False) -> dict[str, list[str]]:
    """`validate` for many objects: `kind/name` -> problems, only for objects that have any."""
    found: dict[str, list[str]] = {}
    for obj in objs:
        problems = validate(obj, strict)
        if problems:
            found.setdefault(_name(obj), []).extend(problems)
    return found


class InvalidObjects(Exception):
    """Rendered objects the cluster would refuse: one line per object and field."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        listed = "\n  ".join(problems)
        super().__init__(f"{len(problems)} rendered object(s) the cluster would refuse, nothing written:\n  {listed}")


@dataclass
class Validation:
    """What `check_all` found: counts by how each object was checked, and every problem."""

    kubernetes_version: str
    builtin: int = 0
    custom: int = 0
    unchecked: list[str] = field(default_factory=list)  # "apiVersion Kind" of objects with no schema
    problems: list[str] = field(default_factory=list)

    def summary(self) -> str:
        text = (
            f"validated {self.builtin + self.custom} objects ({self.builtin} built-in against Kubernetes "
            f"{self.kubernetes_version}, {self.custom} custom against upstream CRDs)"
        )
        if self.unchecked:
            kinds = ", ".join(sorted(set(self.unchecked)))
            text += f"; {len(self.unchecked)} not checked, no schema held for: {kinds}"
        return text


def check_all(objs: Iterable[dict], kubernetes_version: str) -> Validation:
    """Validate every object, as the preview does before it writes anything. Raises CrdsMissing."""
    crds.crds_dir()  # no CRDs at all is an error to report, never a silent pass
    result = Validation(kubernetes_version)
    for obj in objs:
        checked, problems = _check(obj, kubernetes_version)
        if checked == "unchecked" and not problems:
            result.unchecked.append(f"{obj.get('apiVersion')} {obj.get('kind')}")
        elif checked != "unchecked":
            setattr(result, checked, getattr(result, checked) + 1)
        metadata = obj.get("metadata") or {}
        where = f"{obj.get('kind')}/{metadata.get('namespace') + '/' if metadata.get('namespace') else ''}"
        result.problems += [f"{where}{metadata.get('name', '?')}: {problem}" for problem in problems]
    return result
