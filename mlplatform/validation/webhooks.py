"""The operators' admission webhook rules that their CRD schemas do not carry, transcribed from upstream.

Kept apart from the schemas (`crds.py`): on an operator upgrade, re-read its webhook and update this file.
- Kubeflow training-operator v1.9 (`pkg/webhooks/*`): replica types, the main container, single replicas.
- Seldon Core v1 (`operator/apis/machinelearning.seldon.io/v1/seldondeployment_webhook.go`,
  ValidateSeldonDeployment), minus Kafka and explainers.
- KServe 0.20 InferenceService canaries (`validateCanarySpecs`) and Kubeflow Trainer v2.3.0 TrainJob runtime references.
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


def _kserve_canary_rules(obj: dict) -> Iterator[str]:
    """KServe 0.20 InferenceService webhook, canaries (`pkg/apis/serving/v1beta1/inference_service_validation.go`,
    validateCanarySpecs): Standard mode only, a stable predictor with a model, canary names present, unique and
    not the stable's, each trafficPercent in 0..100 and their sum at most 100, no autoscaling fields or
    workerSpec on a canary, a canary's minReplicas at most the stable's."""
    spec = obj.get("spec") or {}
    canaries = spec.get("canary") or []
    if not canaries:
        return
    mode = ((obj.get("metadata") or {}).get("annotations") or {}).get("serving.kserve.io/deploymentMode")
    if mode != "Standard":
        yield "metadata.annotations: canary is only supported in Standard deployment mode"
    stable = spec.get("predictor") or {}
    # A model, a framework field's storageUri, or a custom kserve-container's STORAGE_URI (predictor_custom.go).
    custom = [
        env.get("value")
        for container in stable.get("containers") or []
        if container.get("name") == "kserve-container"
        for env in container.get("env") or []
        if env.get("name") == "STORAGE_URI"
    ]
    frameworks = ("sklearn", "xgboost", "tensorflow", "pytorch", "triton", "onnx", "huggingface")
    if not stable.get("model") and not custom and not any((stable.get(f) or {}).get("storageUri") for f in frameworks):
        yield "spec.predictor: canary requires a stable predictor with a model"
    names: set[str] = set()
    total = 0
    stable_min = stable.get("minReplicas", 1)
    for index, canary in enumerate(canaries):
        where = f"spec.canary[{index}]"
        predictor = canary.get("predictor") or {}
        name = predictor.get("name") or ""
        if not name:
            yield f"{where}.predictor.name: required"
        elif name in names:
            yield f"{where}.predictor.name: canary predictor.name {name!r} is duplicated"
        elif name == stable.get("name"):
            yield f"{where}.predictor.name: {name!r} conflicts with the stable predictor name"
        names.add(name)
        percent = canary.get("trafficPercent", 0)
        if not 0 <= percent <= 100:
            yield f"{where}.trafficPercent: must be between 0 and 100, got {percent}"
        total += percent
        if predictor.get("workerSpec") is not None:
            yield f"{where}.predictor.workerSpec: not supported for canary"
        for key in ("maxReplicas", "scaleTarget", "scaleMetric", "autoScaling"):
            if predictor.get(key):
                yield f"{where}.predictor.{key}: must not be set (canary uses fixed replicas)"
        if predictor.get("minReplicas") is not None and predictor["minReplicas"] > stable_min:
            yield (
                f"{where}.predictor.minReplicas: {predictor['minReplicas']} exceeds the stable predictor's "
                f"minReplicas {stable_min}"
            )
    if total > 100:
        yield f"spec.canary: sum of trafficPercent values ({total}) must be <= 100"


# Kubeflow Trainer v2.3.0: the runtime kinds it registers (its runtimes: rules.TRAINER_BUILTIN_RUNTIMES).
TRAINER_RUNTIME_KINDS = ("ClusterTrainingRuntime", "TrainingRuntime")


def _trainjob_rules(obj: dict) -> Iterator[str]:
    """Trainer v2.3.0 TrainJob webhook (`pkg/webhooks/trainjob_webhook.go` ValidateCreate): the runtimeRef's
    group/kind must be a registered runtime kind, and the named runtime must exist
    (`pkg/runtime/core/*trainingruntime.go` ValidateObjects); a ClusterTrainingRuntime is one the stack installs."""
    name = (obj.get("metadata") or {}).get("name", "")
    if not DNS_1035.match(name):
        yield f"metadata.name: {name!r} is not a DNS-1035 label (Trainer)"
    ref = (obj.get("spec") or {}).get("runtimeRef") or {}
    group = ref.get("apiGroup", "trainer.kubeflow.org")
    kind = ref.get("kind", "ClusterTrainingRuntime")
    if group != "trainer.kubeflow.org" or kind not in TRAINER_RUNTIME_KINDS:
        yield f"spec.runtimeRef: unsupported runtime: {kind}.{group}"
    elif kind == "ClusterTrainingRuntime" and ref.get("name") not in rules.TRAINER_BUILTIN_RUNTIMES:
        yield (
            f"spec.runtimeRef.name: ClusterTrainingRuntime {ref.get('name')!r} must be created before the TrainJob "
            f"(installed: {', '.join(rules.TRAINER_BUILTIN_RUNTIMES)})"
        )
    trainer = (obj.get("spec") or {}).get("trainer") or {}
    if trainer.get("numNodes") is not None and trainer["numNodes"] < 1:
        yield "spec.trainer.numNodes: must be at least 1"


RULES: dict[tuple[str, str], Callable[[dict], Iterable[str]]] = {
    ("kubeflow.org/v1", "TFJob"): _replica_rules("tfReplicaSpecs", "tensorflow"),
    ("kubeflow.org/v1", "PyTorchJob"): _replica_rules("pytorchReplicaSpecs", "pytorch"),
    ("kubeflow.org/v1", "XGBoostJob"): _replica_rules("xgbReplicaSpecs", "xgboost"),
    # MPIJob v1 has no webhook; its controller needs exactly one Launcher.
    ("kubeflow.org/v1", "MPIJob"): _replica_rules("mpiReplicaSpecs", "mpi"),
    ("machinelearning.seldon.io/v1", "SeldonDeployment"): _seldon_rules,
    ("serving.kserve.io/v1beta1", "InferenceService"): _kserve_canary_rules,
    ("trainer.kubeflow.org/v1alpha1", "TrainJob"): _trainjob_rules,
}


def problems(obj: dict) -> list[str]:
    return list(RULES.get((obj.get("apiVersion"), obj.get("kind")), lambda _: ())(obj))
