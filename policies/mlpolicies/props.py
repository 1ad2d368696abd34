"""Reading resource properties as the engine sends them: camelCase keys, numbers as floats, unknowns in preview.

The policy SDK hands validators a proxy that raises `UnknownValueError` on a value not known until apply.
`plain()` turns it into ordinary dicts and lists where such a value is the `UNKNOWN` marker, so a policy
checks what is known and skips (never flags) what is not.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, NamedTuple

from pulumi_policy import proxy
from pulumi_policy.proxy import UnknownValueError

from mlpolicies.conversion import once_per_call

# The placeholders the policy SDK puts where a value is unknown during preview (UNKNOWN_*_VALUE in its proxy).
_SENTINELS = frozenset(
    value for key, value in vars(proxy).items() if key.startswith("UNKNOWN_") and key.endswith("_VALUE")
)


class _Unknown:
    """A value computed during the update; `pulumi preview` cannot see it."""

    def __repr__(self) -> str:
        return "<unknown>"


UNKNOWN = _Unknown()


def _item(container: Any, key: Any) -> Any:
    try:
        return container[key]
    except UnknownValueError:
        return UNKNOWN


def plain(value: Any) -> Any:
    """Resource properties (SDK proxies or raw engine data) as dicts/lists, unknowns as UNKNOWN; once per
    resource in an analyzer call, however many policies ask (read them, never change them)."""
    return once_per_call(_plain, value)


def _plain(value: Any) -> Any:
    if isinstance(value, str):
        return UNKNOWN if value in _SENTINELS else value
    if isinstance(value, Mapping):
        return {key: _plain(_item(value, key)) for key in value}
    if isinstance(value, Sequence):
        return [_plain(_item(value, index)) for index in range(len(value))]
    return value


def dig(node: Any, *path: Any, default: Any = None) -> Any:
    """node[path[0]][path[1]]...; `default` when a step is missing, UNKNOWN when a step is unknown."""
    for key in path:
        if node is UNKNOWN:
            return UNKNOWN
        if not isinstance(node, dict | list):
            return default
        try:
            node = node[key]
        except (KeyError, IndexError, TypeError):
            return default
    return default if node is None else node


def as_dict(value: Any) -> dict:
    return value if isinstance(value, dict) else {}


def as_list(value: Any) -> list:
    return value if isinstance(value, list) else []


def whole_number(value: Any) -> int | None:
    """90 or 90.0 (the wire carries every number as a double) -> 90; anything else -> None."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return int(value) if float(value).is_integer() else None


def stack_of(urn: str) -> str:
    """`urn:pulumi:<stack>::<project>::<type>::<name>` -> the stack, which is the environment (dev, prod)."""
    return urn.split("::", 1)[0].removeprefix("urn:pulumi:")


def environment_of_stack(stack: str) -> str:
    """The pack reads a stack's role from its name: `prod` and `prod-*` are prod, `dev` and `dev-*` dev."""
    return next((env for env in ("prod", "dev") if stack == env or stack.startswith(f"{env}-")), stack)


def is_prod(urn: str) -> bool:
    return environment_of_stack(stack_of(urn)) == "prod"


def kind_of(resource_type: str) -> str:
    """`kubernetes:apps/v1:Deployment` -> `Deployment`."""
    return resource_type.rsplit(":", 1)[-1]


def label(resource_type: str, name: str) -> str:
    """How a message names a resource: `SeldonDeployment color`."""
    return f"{kind_of(resource_type)} {name}"


def setting(config: Mapping[str, Any], schema: dict[str, dict], key: str) -> Any:
    """A policy's configured value, or its schema default when the pack runs without the CLI's defaults; an
    integer setting as an int (the CLI hands config over as JSON doubles: 2.0 would read `2.0` in a message)."""
    value = config.get(key) if config else None
    value = schema[key]["default"] if value is None else value
    if schema[key].get("type") == "integer" and whole_number(value) is not None:
        return whole_number(value)
    return value


# ------------------------------------------------------------------ verdicts in the user's words

# The annotation on every Kubernetes object (and predictor) the platform renders from a config entry, and the tag on
# cloud resources that take tags, naming that entry: `servings.color.predictors[0]`, `nodePools.gpu`. A copy of
# mlplatform.conventions.CONFIG_PATH_ANNOTATION (the pack imports nothing of mlplatform; tests/offline/
# test_preview_policy.py checks they agree).
CONFIG_PATH_ANNOTATION = "mlplatform.io/config-path"


def config_path(node: Any) -> str | None:
    """The config entry a resource (its `metadata.annotations` or `tags`) or a part of one with annotations of its
    own (a predictor) was rendered from; None for what no config entry rendered."""
    for where in (("metadata", "annotations"), ("annotations",), ("tags",)):
        value = dig(node, *where, CONFIG_PATH_ANNOTATION)
        if isinstance(value, str) and value:
            return value
    return None


def within(path: str | None, field: str) -> str | None:
    """`servings.color.predictors[0]` + `autoscaling.minReplicas` -> the setting's full config path."""
    return f"{path}.{field}" if path and field else path


def verdict(setting: str | None, rendered: str, text: str) -> str:
    """A policy message in the user's words: `<config setting>: <text> (<rendered object and field>).`; for a
    resource no config entry rendered, `<rendered object and field>: <text>.`"""
    return f"{setting}: {text} ({rendered})." if setting else f"{rendered}: {text}."


def string_list(default: list[str], description: str) -> dict:
    """A config schema property (JSON schema, as PolicyConfigSchema takes it) holding a list of strings."""
    return {"type": "array", "items": {"type": "string"}, "default": default, "description": description}


def parse_minor_version(text: Any) -> tuple[int, int] | None:
    """`1.31.1-aliyun.1`, `v1.30` or `1.31` -> (1, 31)."""
    match = re.match(r"^v?(\d+)\.(\d+)", text) if isinstance(text, str) else None
    return (int(match.group(1)), int(match.group(2))) if match else None


# ------------------------------------------------------------------ Kubernetes pod templates

WORKLOAD_TEMPLATE_PATHS = {
    "kubernetes:apps/v1:Deployment": ("spec", "template"),
    "kubernetes:apps/v1:StatefulSet": ("spec", "template"),
    "kubernetes:apps/v1:DaemonSet": ("spec", "template"),
    "kubernetes:apps/v1:ReplicaSet": ("spec", "template"),
    "kubernetes:batch/v1:Job": ("spec", "template"),
    "kubernetes:batch/v1:CronJob": ("spec", "jobTemplate", "spec", "template"),
    "kubernetes:kubeflow.org/v1:Notebook": ("spec", "template"),
}
TRAINING_JOB_TYPES = {
    "kubernetes:kubeflow.org/v1:TFJob": "tfReplicaSpecs",
    "kubernetes:kubeflow.org/v1:PyTorchJob": "pytorchReplicaSpecs",
    "kubernetes:kubeflow.org/v1:XGBoostJob": "xgbReplicaSpecs",
    "kubernetes:kubeflow.org/v1:MPIJob": "mpiReplicaSpecs",
}
SELDON_DEPLOYMENT = "kubernetes:machinelearning.seldon.io/v1:SeldonDeployment"
POD = "kubernetes:core/v1:Pod"
# KServe 0.20 and Kubeflow Trainer v2: workloads whose pods the operator builds from parts of the object.
INFERENCE_SERVICE = "kubernetes:serving.kserve.io/v1beta1:InferenceService"
LLM_INFERENCE_SERVICE = "kubernetes:serving.kserve.io/v1alpha2:LLMInferenceService"
TRAIN_JOB = "kubernetes:trainer.kubeflow.org/v1alpha1:TrainJob"
SERVING_TYPES = (SELDON_DEPLOYMENT, INFERENCE_SERVICE, LLM_INFERENCE_SERVICE)
# Katib v0.19.0: an Experiment's trials are jobs of the kind its `spec.trialTemplate.trialSpec` holds.
EXPERIMENT = "kubernetes:kubeflow.org/v1beta1:Experiment"
# LLMInferenceService: pod specs at these paths (the decode pods, their multi-node workers, the prefill pods).
LLM_POD_SPEC_PATHS = {
    "template": ("spec", "template"),
    "worker": ("spec", "worker"),
    "prefill template": ("spec", "prefill", "template"),
    "prefill worker": ("spec", "prefill", "worker"),
}
# An InferenceService predictor's runtime fields, each holding one container (the model server's).
KSERVE_MODEL_FIELDS = (
    "model",
    "sklearn",
    "xgboost",
    "tensorflow",
    "pytorch",
    "triton",
    "onnx",
    "huggingface",
    "pmml",
    "lightgbm",
    "paddle",
)


class Pod(NamedTuple):
    """A pod a workload runs, and the config entry it came from."""

    where: str  # the spot in the rendered object, for messages: `predictor v1 componentSpecs[0]`, `Worker replicas`
    spec: dict
    # The config entry that sets its image (`servings.color.predictors[0]`, `trainingJobs.fit`), and where its
    # requests and limits are set (`<entry>.resources`, a role's, an LLM's cpu/memory/gpus); None: not from config.
    path: str | None = None
    resources: str | None = None


def _pod(where: str, spec: dict, path: str | None, resources: str | None = None) -> Pod:
    if resources is None and path:
        # An LLM sets cpu, memory and gpus on `llm` itself; every other entry has `resources`.
        resources = path if path.endswith(".llm") else f"{path}.resources"
    return Pod(where, spec, path, resources)


def trial_of(resource_type: str, props: dict) -> tuple[str, dict]:
    """An Experiment's trial job (type and props, with the experiment's config path at `<path>.trial`), whose pods
    are the trials'; any other resource as it is."""
    trial = dig(props, "spec", "trialTemplate", "trialSpec")
    if resource_type != EXPERIMENT or not isinstance(trial, dict):
        return resource_type, props
    path = config_path(props)
    annotations = {CONFIG_PATH_ANNOTATION: within(path, "trial")} if path else {}
    trial_type = f"kubernetes:{trial.get('apiVersion')}:{trial.get('kind')}"
    return trial_type, {**trial, "metadata": {**as_dict(trial.get("metadata")), "annotations": annotations}}


def pod_specs(resource_type: str, props: dict) -> Iterator[Pod]:
    """Every pod a workload runs: where it is in the object, its spec, the config entry it came from."""
    resource_type, props = trial_of(resource_type, props)
    path = config_path(props)
    if resource_type in WORKLOAD_TEMPLATE_PATHS:
        spec = dig(props, *WORKLOAD_TEMPLATE_PATHS[resource_type], "spec")
        if isinstance(spec, dict):
            yield _pod("pod template", spec, path)
    elif resource_type == POD and isinstance(props.get("spec"), dict):
        yield _pod("pod", props["spec"], path)
    elif resource_type in TRAINING_JOB_TYPES:
        replica_specs = as_dict(dig(props, "spec", TRAINING_JOB_TYPES[resource_type]))
        for role, replica in replica_specs.items():
            spec = dig(replica, "template", "spec")
            if isinstance(spec, dict):  # a job's roles are its config's, by name
                yield _pod(f"{role} replicas", spec, path, within(path, f"roles.{role}.resources"))
    elif resource_type == INFERENCE_SERVICE:
        for where, predictor in kserve_predictors(props):
            yield _pod(where, kserve_pod_spec(predictor), config_path(predictor))
    elif resource_type == LLM_INFERENCE_SERVICE:
        for where, spec_path in LLM_POD_SPEC_PATHS.items():
            spec = dig(props, *spec_path)
            if isinstance(spec, dict):
                yield _pod(where, spec, path)
    elif resource_type == TRAIN_JOB:
        spec = trainjob_pod_spec(props)
        if spec is not None:  # its nodes are the config's one role, Worker
            yield _pod("trainer nodes", spec, path, within(path, "roles.Worker.resources"))
    elif resource_type == SELDON_DEPLOYMENT:
        for index, predictor in enumerate(as_list(dig(props, "spec", "predictors"))):
            for position, component in enumerate(as_list(dig(predictor, "componentSpecs"))):
                spec = dig(component, "spec")
                if isinstance(spec, dict):
                    where = f"predictor {dig(predictor, 'name', default=index)} componentSpecs[{position}]"
                    yield _pod(where, spec, config_path(predictor))


def containers(pod_spec: dict) -> Iterator[dict]:
    for key in ("initContainers", "containers"):
        for container in as_list(pod_spec.get(key)):
            if isinstance(container, dict):
                yield container


def kserve_predictors(props: dict) -> Iterator[tuple[str, dict]]:
    """(where, predictor) of an InferenceService: `spec.predictor`, then each `spec.canary[].predictor`."""
    stable = dig(props, "spec", "predictor")
    if isinstance(stable, dict):
        yield f"predictor {dig(stable, 'name', default='(unnamed)')}", stable
    for index, canary in enumerate(as_list(dig(props, "spec", "canary"))):
        predictor = dig(canary, "predictor")
        if isinstance(predictor, dict):
            yield f"canary {dig(predictor, 'name', default=index)}", predictor


def kserve_pod_spec(predictor: dict) -> dict:
    """The pod a KServe predictor becomes: its inline pod fields, with the runtime field's container."""
    spec = dict(predictor)
    containers = [c for c in as_list(predictor.get("containers")) if isinstance(c, dict)]
    for field in KSERVE_MODEL_FIELDS:
        container = predictor.get(field)
        if isinstance(container, dict):
            containers.insert(0, {"name": container.get("name", "kserve-container"), **container})
    spec["containers"] = containers
    return spec


def trainjob_pod_spec(props: dict) -> dict | None:
    """The pod of a TrainJob's nodes as far as the object says: the trainer as its container (image,
    resourcesPerNode as resources, env), with the placement of its `runtimePatches` (the runtime's own pod
    template lies in the ClusterTrainingRuntime)."""
    trainer = dig(props, "spec", "trainer")
    if not isinstance(trainer, dict):
        return None
    container = {"name": "trainer", **{k: v for k, v in trainer.items() if k in ("image", "env", "command", "args")}}
    if "resourcesPerNode" in trainer:
        container["resources"] = trainer["resourcesPerNode"]
    spec: dict = {"containers": [container]}
    for patch in as_list(dig(props, "spec", "runtimePatches")):
        for job in as_list(dig(patch, "trainingRuntimeSpec", "template", "spec", "replicatedJobs")):
            pod = dig(job, "template", "spec", "template", "spec")
            for key in ("tolerations", "nodeSelector", "affinity"):
                if isinstance(pod, dict) and key in pod:
                    spec[key] = pod[key]
    return spec
