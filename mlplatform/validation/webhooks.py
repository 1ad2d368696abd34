"""The operators' admission webhook rules that their CRD schemas do not carry, transcribed from upstream.

Kept apart from the schemas (`crds.py`): on an operator upgrade, re-read its webhook and update this file.
- Kubeflow training-operator v1.9 (`pkg/webhooks/*`): replica types, the main container, single replicas.
- Seldon Core v1 (`operator/apis/machinelearning.seldon.io/v1/seldondeployment_webhook.go`,
  ValidateSeldonDeployment), minus Kafka and explainers.
- KServe 0.20 InferenceService canaries (`validateCanarySpecs`) and Kubeflow Trainer v2.3.0 TrainJob runtime references.
- Katib v0.19.0 Experiments (`pkg/webhook/v1beta1/experiment/validator/validator.go`): its CRD keeps the spec as
  unknown fields, so this is where an Experiment is checked; the trial's job is judged by its own kind's rules.
"""

from __future__ import annotations

import json
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


# Katib v0.19.0 (kubeflow/katib@v0.19.0): the algorithms of the pinned katib-config
# (manifests/v1beta1/installs/katib-standalone/katib-config.yaml `runtime.suggestions`, `runtime.earlyStoppings`), its
# `init.controller.trialResources` (Kind.version.group: the only kinds the trial controller watches), and the
# substitution formats of pkg/controller.v1beta1/consts/const.go.
KATIB_ALGORITHMS = (
    "random",
    "tpe",
    "grid",
    "hyperband",
    "bayesianoptimization",
    "cmaes",
    "sobol",
    "multivariate-tpe",
    "enas",
    "darts",
    "pbt",
)
KATIB_EARLY_STOPPING = ("medianstop",)
KATIB_TRIAL_RESOURCES = (
    ("trainer.kubeflow.org/v1alpha1", "TrainJob"),
    ("batch/v1", "Job"),
    ("kubeflow.org/v1", "TFJob"),
    ("kubeflow.org/v1", "PyTorchJob"),
    ("kubeflow.org/v1", "MPIJob"),
    ("kubeflow.org/v1", "XGBoostJob"),
)
# The kinds whose successCondition, failureCondition (and primaryPodLabels) the Experiment defaulter fills in
# (pkg/apis/controller/experiments/v1beta1/experiment_defaults.go setDefaultTrialTemplate, constants.go).
KATIB_DEFAULTED_KINDS = ("Job", "TFJob", "PyTorchJob", "XGBoostJob", "MPIJob", "TrainJob")
KATIB_NAME = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?")
TRIAL_SUBSTITUTION = re.compile(r"\$\{trialParameters\..+?\}")
TRIAL_META = re.compile(r"\$\{trialSpec\.(.+?)\}")
TRIAL_META_KEYS = ("Name", "Namespace", "Kind", "APIVersion", "Annotations", "Labels")
METRICS_COLLECTORS = ("StdOut", "File", "TensorFlowEvent", "PrometheusMetric", "Custom", "None")


def _katib_meta_key(reference: str) -> bool:
    """validator.go isMetaKey: `${trialSpec.Name}`, `${trialSpec.Labels[label]}`, ..."""
    match = TRIAL_META.search(reference)
    if not match:
        return False
    key = match.group(1)
    indexed = re.fullmatch(r"(.+)\[(.+)]", key)
    return key in TRIAL_META_KEYS or bool(indexed and indexed.group(1) in TRIAL_META_KEYS)


def _katib_experiment_rules(obj: dict) -> Iterator[str]:
    """Katib v0.19.0 Experiment webhook (`pkg/webhook/v1beta1/experiment/validator/validator.go`, ValidateExperiment
    on create, after the defaulter): the name, the trial counts, objective, algorithm, early stopping, resume policy,
    the trial template and its parameters, the parameters' feasible spaces, the metrics collector; and the trial's
    kind one the controller watches (katib-config `trialResources`), its job valid for that kind's own webhook."""
    name = (obj.get("metadata") or {}).get("name", "")
    if not KATIB_NAME.match(name) or len(name) > 40:
        yield f"metadata.name: {name!r} must be a lower-case DNS label of at most 40 characters (Katib)"
    spec = obj.get("spec") or {}
    most, parallel, failed = spec.get("maxTrialCount"), spec.get("parallelTrialCount"), spec.get("maxFailedTrialCount")
    if failed is not None and failed < 0:
        yield "spec.maxFailedTrialCount: should not be less than 0"
    if most is not None and most <= 0:
        yield "spec.maxTrialCount: must be greater than 0"
    if parallel is not None and parallel <= 0:
        yield "spec.parallelTrialCount: must be greater than 0"
    if failed is not None and most is not None and failed > most:
        yield "spec.maxFailedTrialCount: should be less than or equal to spec.maxTrialCount"
    if parallel is not None and most is not None and parallel > most:
        yield "spec.parallelTrialCount: should be less than or equal to spec.maxTrialCount"
    objective = spec.get("objective")
    if not objective:
        yield "spec.objective: must be specified"
        return
    if objective.get("type") not in ("minimize", "maximize"):
        yield f"spec.objective.type: {objective.get('type')!r} must be minimize or maximize"
    if not objective.get("objectiveMetricName"):
        yield "spec.objective.objectiveMetricName: must be specified"
    if objective.get("objectiveMetricName") in (objective.get("additionalMetricNames") or []):
        yield "spec.objective.additionalMetricNames: should not contain spec.objective.objectiveMetricName"
    algorithm = (spec.get("algorithm") or {}).get("algorithmName")
    if algorithm not in KATIB_ALGORITHMS:
        yield f"spec.algorithm.algorithmName: no suggestion for algorithm {algorithm!r} in katib-config"
    if spec.get("earlyStopping") and spec["earlyStopping"].get("algorithmName") not in KATIB_EARLY_STOPPING:
        yield "spec.earlyStopping.algorithmName: no early stopping of that name in katib-config"
    if spec.get("resumePolicy") not in (None, "", "Never", "LongRunning", "FromVolume"):
        yield f"spec.resumePolicy: invalid ResumePolicyType {spec['resumePolicy']!r}"
    yield from _katib_trial_template(spec)
    parameters = spec.get("parameters") or []
    if not parameters and not spec.get("nasConfig"):
        yield "spec: spec.parameters or spec.nasConfig must be specified"
    if parameters and spec.get("nasConfig"):
        yield "spec: only one of spec.parameters and spec.nasConfig can be specified"
    for index, parameter in enumerate(parameters):
        yield from _katib_parameter(f"spec.parameters[{index}]", parameter)
    collector = ((spec.get("metricsCollectorSpec") or {}).get("collector") or {}).get("kind", "StdOut")
    if collector not in METRICS_COLLECTORS:
        yield f"spec.metricsCollectorSpec.collector.kind: invalid metrics collector kind {collector!r}"


def _katib_parameter(where: str, parameter: dict) -> Iterator[str]:
    kind = parameter.get("parameterType")
    if kind not in ("int", "double", "categorical", "discrete", "unknown"):
        yield f"{where}.parameterType: {kind!r} is not supported"
    space = parameter.get("feasibleSpace") or {}
    if space.get("distribution") not in (None, "", "uniform", "logUniform", "normal", "logNormal", "unknown"):
        yield f"{where}.feasibleSpace.distribution: {space['distribution']!r} is not supported"
    if not space:
        yield f"{where}.feasibleSpace: feasibleSpace must be specified"
    elif kind in ("double", "int"):
        if space.get("list"):
            yield f"{where}.feasibleSpace.list: not supported for parameterType {kind}"
        if not space.get("max") or not space.get("min"):
            yield f"{where}.feasibleSpace.max: feasibleSpace.max or feasibleSpace.min must be specified for {kind}"
    elif kind in ("categorical", "discrete") and (space.get("max") or space.get("min") or space.get("step")):
        yield f"{where}.feasibleSpace: .max, .min and .step are not supported for parameterType {kind}"


def _katib_trial_template(spec: dict) -> Iterator[str]:
    where = "spec.trialTemplate"
    template = spec.get("trialTemplate")
    if not template:
        yield f"{where}: must be specified"
        return
    trial = template.get("trialSpec")
    kind = (trial or {}).get("kind")
    if not template.get("primaryContainerName"):
        yield f"{where}.primaryContainerName: must be specified"
    defaulted = kind in KATIB_DEFAULTED_KINDS
    if not defaulted and not (template.get("successCondition") and template.get("failureCondition")):
        yield f"{where}: successCondition and failureCondition must be specified"
    if template.get("trialParameters") is None:
        yield f"{where}.trialParameters: must be specified"
        return
    if (trial is None) == (template.get("configMap") is None):
        yield f"{where}: exactly one of spec.trialTemplate.trialSpec or spec.trialTemplate.configMap must be specified"
        return
    if trial is None:
        return  # a ConfigMap template is read from the cluster; the platform renders none
    text = json.dumps(trial, separators=(",", ":"))
    names: set[str] = set()
    references: set[str] = set()
    defined = {parameter.get("name") for parameter in spec.get("parameters") or []}
    for index, parameter in enumerate(template["trialParameters"]):
        at = f"{where}.trialParameters[{index}]"
        name, reference = parameter.get("name") or "", parameter.get("reference") or ""
        if not name or not reference or "{" in name or "}" in name:
            yield f"{at}: name and reference must be specified and name must not contain '{{' or '}}'"
            continue
        if name in names:
            yield f"{at}.name: parameter name {name} can't be duplicated"
            continue
        if reference in references:
            yield f"{at}.reference: parameter reference {reference} can't be duplicated"
            continue
        names.add(name)
        references.add(reference)
        if defined and not _katib_meta_key(reference) and reference not in defined:
            yield f"{at}.reference: parameter reference {reference} does not exist in spec.parameters"
        substitution = f"${{trialParameters.{name}}}"
        if substitution not in text:
            yield f"{at}.name: parameter name {name} in spec.trialParameters not found in spec.trialTemplate"
            return
        text = text.replace(substitution, "test-value")
    left = TRIAL_SUBSTITUTION.findall(text)
    if left:
        yield f"{where}: parameters {', '.join(left)} in spec.trialTemplate not found in spec.trialParameters"
    metadata = trial.get("metadata") or {}
    if metadata.get("name") or metadata.get("namespace"):
        yield f"{where}: metadata.name and metadata.namespace in spec.trialTemplate must be omitted"
    if not trial.get("apiVersion") or not kind:
        yield f"{where}: APIVersion and Kind in spec.trialTemplate must be specified"
        return
    if (trial["apiVersion"], kind) not in KATIB_TRIAL_RESOURCES:
        watched = ", ".join(f"{k}.{v}" for v, k in KATIB_TRIAL_RESOURCES)
        yield f"{where}.trialSpec: {kind}.{trial['apiVersion']} is not a trial resource of katib-config ({watched})"
        return
    # The trial's job is created as it is (the trial name and parameters filled in): its own webhook judges it.
    job = {**json.loads(text), "metadata": {**metadata, "name": "trial-test-value"}}
    for problem in problems(job):
        yield f"{where}.trialSpec: {problem}"


RULES: dict[tuple[str, str], Callable[[dict], Iterable[str]]] = {
    ("kubeflow.org/v1", "TFJob"): _replica_rules("tfReplicaSpecs", "tensorflow"),
    ("kubeflow.org/v1", "PyTorchJob"): _replica_rules("pytorchReplicaSpecs", "pytorch"),
    ("kubeflow.org/v1", "XGBoostJob"): _replica_rules("xgbReplicaSpecs", "xgboost"),
    # MPIJob v1 has no webhook; its controller needs exactly one Launcher.
    ("kubeflow.org/v1", "MPIJob"): _replica_rules("mpiReplicaSpecs", "mpi"),
    ("machinelearning.seldon.io/v1", "SeldonDeployment"): _seldon_rules,
    ("serving.kserve.io/v1beta1", "InferenceService"): _kserve_canary_rules,
    ("trainer.kubeflow.org/v1alpha1", "TrainJob"): _trainjob_rules,
    ("kubeflow.org/v1beta1", "Experiment"): _katib_experiment_rules,
}


def problems(obj: dict) -> list[str]:
    return list(RULES.get((obj.get("apiVersion"), obj.get("kind")), lambda _: ())(obj))
