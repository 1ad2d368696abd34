"""Reading a plan for its cost: numbers, properties, the region and cloud, pods' requests, instance types.

Standard library only, like `billing.py` and `pricing.py`: the policy pack carries a byte-identical copy
(`policies/mlpolicies/vendor/plan.py`, checked by `tests/test_vendored.py`).
"""

from __future__ import annotations

import re
from typing import Any


def number(value: Any) -> float | None:
    """A number from the plan; None for anything else (an unknown during preview, a missing value)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return None
    return None


def props_of(record: dict) -> dict:
    props = record.get("inputs") or record.get("outputs") or {}
    return props if isinstance(props, dict) else {}


def name_of(record: dict) -> str:
    return str(record.get("urn", "")).split("::")[-1]


def dig(node: Any, *path: Any) -> Any:
    for key in path:
        if isinstance(node, dict):
            node = node.get(key)
        elif isinstance(node, list) and isinstance(key, int) and -len(node) <= key < len(node):
            node = node[key]
        else:
            return None
    return node


def region_from_zones(resources: list[dict]) -> str:
    """The region of the plan's own subnets (`cn-hangzhou-i` -> cn-hangzhou, `us-west-2a` -> us-west-2)."""
    for record in resources:
        props = props_of(record)
        zone = props.get("zoneId") or props.get("availabilityZone")
        if isinstance(zone, str) and zone:
            return zone.rsplit("-", 1)[0] if record.get("type", "").startswith("alicloud:") else zone[:-1]
    return ""


def cloud_of(resources: list[dict]) -> str:
    for record in resources:
        package = str(record.get("type", "")).split(":")[0]
        if package in ("alicloud", "aws"):
            return package
    return ""


_CPU = re.compile(r"^([0-9.]+)(m?)$")
_SIZE = re.compile(r"^([0-9.]+)([KMGTPE]i?|k)?$")
_SIZE_FACTOR = {"": 1, "k": 1e3, "K": 1e3, "M": 1e6, "G": 1e9, "T": 1e12, "P": 1e15, "E": 1e18}


def cpu_cores(value: Any) -> float:
    match = _CPU.match(str(value)) if value is not None else None
    if not match:
        return 0.0
    return float(match[1]) / (1000 if match[2] else 1)


def gib(value: Any) -> float:
    match = _SIZE.match(str(value)) if value is not None else None
    if not match:
        return 0.0
    unit = match[2] or ""
    factor = 2 ** (10 * ("KMGTPE".index(unit[0]) + 1)) if unit.endswith("i") else _SIZE_FACTOR[unit]
    return float(match[1]) * factor / 2**30


def has_load_balancer(value: Any) -> bool:
    """A Helm release's values that ask for a LoadBalancer Service anywhere (the ingress charts do)."""
    if isinstance(value, dict):
        return value.get("type") == "LoadBalancer" or any(has_load_balancer(v) for v in value.values())
    if isinstance(value, list):
        return any(has_load_balancer(v) for v in value)
    return False


# Pod templates of the workload kinds the platform renders: (replicas low, replicas high, pod spec) per template.
def pod_templates(kind: str, props: dict) -> list[tuple[float, float, dict]]:
    spec = props.get("spec") if isinstance(props.get("spec"), dict) else {}
    found = []
    if kind == "Deployment":
        replicas = number(spec.get("replicas", 1)) or 0.0
        found.append((replicas, replicas, dig(spec, "template", "spec") or {}))
    elif kind == "SeldonDeployment":
        for predictor in spec.get("predictors") or []:
            if not isinstance(predictor, dict):
                continue
            replicas = number(predictor.get("replicas", 1)) or 0.0
            for component in predictor.get("componentSpecs") or [{}]:
                hpa = component.get("hpaSpec") if isinstance(component, dict) else None
                low = number(dig(hpa, "minReplicas")) if hpa else None
                high = number(dig(hpa, "maxReplicas")) if hpa else None
                pod = dig(component, "spec") or {}
                found.append((low if low is not None else replicas, high if high is not None else replicas, pod))
    elif kind == "Notebook":
        found.append((1.0, 1.0, dig(spec, "template", "spec") or {}))
    elif kind.endswith("Job"):
        for key, roles in spec.items():
            if key.endswith("ReplicaSpecs") and isinstance(roles, dict):
                for role in roles.values():
                    replicas = number(dig(role, "replicas")) or 1.0
                    found.append((replicas, replicas, dig(role, "template", "spec") or {}))
    return found


def span_of(pair: list[float]) -> str:
    low, high = (f"{value:g}" for value in (round(pair[0], 2), round(pair[1], 2)))
    return low if low == high else f"{low}..{high}"


def instance_types(resources: list[dict]) -> list[str]:
    """Every instance type a node pool of the plan may launch (what live prices are read for)."""
    found: set[str] = set()
    for record in resources:
        kind, props = str(record.get("type", "")), props_of(record)
        if kind in ("alicloud:cs/nodePool:NodePool", "aws:eks/nodeGroup:NodeGroup"):
            found.update(str(t) for t in props.get("instanceTypes") or [])
        elif kind == "alicloud:cs/edgeKubernetes:EdgeKubernetes":
            found.update(str(t) for t in props.get("workerInstanceTypes") or [])
        elif kind == "kubernetes:karpenter.sh/v1:NodePool":
            for requirement in dig(props, "spec", "template", "spec", "requirements") or []:
                if isinstance(requirement, dict) and requirement.get("key") == "node.kubernetes.io/instance-type":
                    found.update(str(v) for v in requirement.get("values") or [])
    return sorted(found)
