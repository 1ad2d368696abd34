"""The operators' admission webhook rules that their CRD schemas do not carry, transcribed from upstream.

Kept apart from the schemas (`crds.py`): on an operator upgrade, re-read its webhook and update this file.
- Kubeflow training-operator v1.9 (`pkg/webhooks/*`): replica types, the main container, single replicas.
- Seldon Core v1 (`operator/apis/machinelearning.seldon.io/v1/seldondeployment_webhook.go`,
  ValidateSeldonDeployment), minus Kafka and explainers.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator

from mlplatform import rules

DNS_1035 = re.compile(r"^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$")


def _replica_rules(specs_key: str, framework: str) -> Callable[[dict], Iterator[str]]:
    """The training operator's replica checks: DNS-1035 name, known roles, a main container with an image,
    roles that run exactly one replica, roles that must exist."""
    roles = rules.FRAMEWORK_ROLES[framework]
    container = framework

    def check(obj: dict) -> Iterator[str]:
        name = (obj.get("metadata") or {}).get("name", "")
        if not DNS_1035.match(name):
            yield f"metadata.name: {name!r} is not a DNS-1035 label (training operator)"
        specs = (obj.get("spec") or {}).get(specs_key) or {}
        for role, spec in specs.items():
            spec = spec or {}
            where = f"spec.{specs_key}.{role}"
            if role not in roles:
                yield f"{where}: unsupported replica type {role!r}; supported: {', '.join(roles)}"
            containers = ((spec.get("template") or {}).get("spec") or {}).get("containers") or []
            if not any(each.get("name") == container for each in containers):
                yield f"{where}.template.spec.containers: needs a container named {container!r}"
            for index, each in enumerate(containers):
                if not each.get("image"):
                    yield f"{where}.template.spec.containers[{index}].image: required"
            # TFJob's webhook counts Chief and Master together below, not per role.
            if framework != "tensorflow" and role in rules.SINGLE_REPLICA_ROLES and spec.get("replicas") != 1:
                yield f"{where}.replicas: must be 1"
        # XGBoostJob and MPIJob cannot start without their coordinator; the PyTorchJob webhook lets Master be absent.
        for role in rules.REQUIRED_ROLES[framework] if framework in ("xgboost", "mpi") else ():
            if role not in specs:
                yield f"spec.{specs_key}.{role}: required"
        if framework == "tensorflow" and sum(role in ("Chief", "Master") for role in specs) > 1:
            yield "spec.tfReplicaSpecs: must not have more than 1 Chief or Master role"

    return check


# Seldon Core v1's prepackaged servers and which can take protocol tensorflow (only TensorFlow Serving).
SELDON_PREPACKAGED = (
    "SKLEARN_SERVER",
    "XGBOOST_SERVER",
    "TENSORFLOW_SERVER",
    "MLFLOW_SERVER",
    "TRITON_SERVER",
    "HUGGINGFACE_SERVER",
    "TEMPO_SERVER",
)
SELDON_NOT_TENSORFLOW = ("SKLEARN_SERVER", "XGBOOST_SERVER", "MLFLOW_SERVER", "HUGGINGFACE_SERVER")


def _seldon_rules(obj: dict) -> Iterator[str]:
    spec = obj.get("spec") or {}
    protocol = spec.get("protocol")
    if protocol not in (None, "", "seldon", "tensorflow", "kfserving", "v2"):
        yield f"spec.protocol: invalid protocol {protocol!r} (seldon, tensorflow, kfserving, v2)"
    if spec.get("transport") not in (None, "", "rest", "grpc"):
        yield f"spec.transport: invalid transport {spec['transport']!r} (rest, grpc)"
    predictors = spec.get("predictors") or []
    if not predictors:
        yield "spec.predictors: no predictors"
    shadows = [p for p in predictors if p.get("shadow")]
    live = [p for p in predictors if not p.get("shadow")]
    if len(shadows) > 1:
        yield "spec.predictors: multiple shadows are not allowed"
    if len(predictors) == 1 and shadows:
        yield "spec.predictors[0]: a shadow cannot be the only predictor"
    problem = rules.traffic_problem([(p.get("name"), p.get("traffic", 0)) for p in live])
    if problem and problem.kind == "sum":
        yield f"spec.predictors: traffic must sum to 100 for multiple predictors, got {problem.total}"
    elif problem and len(predictors) == 1:
        yield f"spec.predictors[0].traffic: a single predictor's traffic must be 100 when set, got {problem.total}"
    seen = set()
    for index, predictor in enumerate(predictors):
        name = predictor.get("name")
        if name in seen:
            yield f"spec.predictors[{index}].name: duplicate predictor name {name!r}"
        seen.add(name)
        if predictor.get("shadow") and not 0 <= predictor.get("traffic", 0) <= 100:
            yield f"spec.predictors[{index}].traffic: shadow traffic must be within 0..100"
        yield from _seldon_graph(predictor, predictor.get("graph") or {}, protocol, f"spec.predictors[{index}].graph")


def _seldon_graph(predictor: dict, unit: dict, protocol, where: str) -> Iterator[str]:
    implementation = unit.get("implementation")
    containers = [
        container.get("name")
        for component in predictor.get("componentSpecs") or []
        for container in ((component or {}).get("spec") or {}).get("containers") or []
    ]
    if implementation in (None, "UNKNOWN_IMPLEMENTATION"):
        if unit.get("name") not in containers:
            yield f"{where}: no componentSpecs container named {unit.get('name')!r} for this graph node"
    elif implementation in SELDON_PREPACKAGED:
        if not unit.get("modelUri") and implementation != "HUGGINGFACE_SERVER":
            yield f"{where}.modelUri: required by the prepackaged server {implementation}"
        if protocol == "tensorflow" and implementation in SELDON_NOT_TENSORFLOW:
            yield f"{where}.implementation: {implementation} does not handle protocol tensorflow"
    for index, child in enumerate(unit.get("children") or []):
        yield from _seldon_graph(predictor, child, protocol, f"{where}.children[{index}]")


RULES: dict[tuple[str, str], Callable[[dict], Iterable[str]]] = {
    ("kubeflow.org/v1", "TFJob"): _replica_rules("tfReplicaSpecs", "tensorflow"),
    ("kubeflow.org/v1", "PyTorchJob"): _replica_rules("pytorchReplicaSpecs", "pytorch"),
    ("kubeflow.org/v1", "XGBoostJob"): _replica_rules("xgbReplicaSpecs", "xgboost"),
    # MPIJob v1 has no webhook; its controller needs exactly one Launcher.
    ("kubeflow.org/v1", "MPIJob"): _replica_rules("mpiReplicaSpecs", "mpi"),
    ("machinelearning.seldon.io/v1", "SeldonDeployment"): _seldon_rules,
}


def problems(obj: dict) -> list[str]:
    return list(RULES.get((obj.get("apiVersion"), obj.get("kind")), lambda _: ())(obj))
