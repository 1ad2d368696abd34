"""Typed stack config: the `ml-platform:` namespace of Pulumi.<stack>.yaml as pydantic models.

Keys are camelCase (Pulumi's convention) so that every value can be edited with
`pulumi config set --path 'ml-platform:servings.color.predictors[1].traffic' 20`.
Everything is validated before any resource is registered; a bad value becomes a
`ConfigError` naming its config path and the reason.
"""

from __future__ import annotations

import json
import re
from graphlib import CycleError, TopologicalSorter
from typing import Annotated, Any, Literal, get_origin

import pulumi
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from pydantic.alias_generators import to_camel

NAMESPACE = "ml-platform"
ENVIRONMENTS = ("dev", "prod")
# Namespaces the platform creates for workloads (each with the bucket credentials).
WorkloadNamespace = Literal["training", "models", "notebooks"]
# DNS-1035 label: what Kubernetes and the training operator accept as an object name.
DNS_LABEL = r"^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$"
ModelVersionRef = Annotated[str, Field(pattern=r"^[a-z][-a-z0-9]*:[A-Za-z0-9][-A-Za-z0-9._]*$")]
Quantity = Annotated[str, Field(pattern=r"^[0-9]+(\.[0-9]+)?(m|k|Ki|Mi|Gi|Ti|M|G|T)?$")]


class ConfigError(pulumi.RunError):
    """A config value that cannot be planned. RunError prints without a traceback under `pulumi up`."""

    def __init__(self, path: str, reason: str):
        self.path = path
        self.reason = reason
        super().__init__(f"{path}: {reason}")


class Model(BaseModel):
    """Base of every config model: camelCase keys, unknown keys rejected, frozen values."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid", frozen=True)


# ---------------------------------------------------------------- infrastructure


class ZoneSubnet(Model):
    zone: str
    cidr: str


class Network(Model):
    """A new VPC with one vswitch/subnet per zone, unless `vpcId` and `subnetIds` name existing ones."""

    vpc_id: str | None = None
    subnet_ids: list[str] = []
    cidr: str = "10.0.0.0/16"
    zones: list[ZoneSubnet] = []

    @model_validator(mode="after")
    def _existing_or_new(self) -> Network:
        if self.vpc_id and not self.subnet_ids:
            raise ValueError("an existing vpcId needs its subnetIds")
        if not self.vpc_id and not self.zones:
            raise ValueError("give zones (with a cidr each) for a new VPC, or vpcId and subnetIds")
        return self


class Cluster(Model):
    kind: Literal["managed", "serverless", "edge"]
    kubernetes_version: str = Field(pattern=r"^1\.\d+")
    network: Network
    service_cidr: str = "172.16.0.0/16"
    pod_cidr: str = "172.20.0.0/16"
    public_endpoint: bool = False
    # ACK@Edge only: the cloud worker nodes that run the edge cluster's system components.
    edge_worker_instance_types: list[str] = ["ecs.g7.xlarge"]
    edge_workers: int = Field(default=1, ge=1)
    # EKS only: namespaces a Fargate profile runs (the serverless kind).
    fargate_namespaces: list[str] = ["default", "models", "training"]

    @property
    def minor_version(self) -> int:
        return int(self.kubernetes_version.split(".")[1])


GPU_FAMILIES = {
    "alicloud": ("ecs.gn5", "ecs.gn6", "ecs.gn7", "ecs.gn8", "ecs.ebmgn", "ecs.sgn"),
    "aws": ("p3", "p4", "p5", "g4dn", "g5", "g6", "g6e", "gr6"),
}


class NodePool(Model):
    instance_types: list[str] = Field(min_length=1)
    min_size: int = Field(ge=0)
    max_size: int = Field(ge=1)
    desired_size: int | None = None
    gpu: bool = False
    spot: bool = False
    disk_size_gb: int = Field(default=120, ge=40)
    labels: dict[str, str] = {}
    gpu_sharing: Literal["none", "cgpu", "timeSlicing"] = "none"
    # time-slicing: how many pods share one physical GPU.
    gpu_replicas: int = Field(default=4, ge=2, le=48)

    @model_validator(mode="after")
    def _sizes(self) -> NodePool:
        if self.min_size > self.max_size:
            raise PathError(("minSize",), f"minSize {self.min_size} is greater than maxSize {self.max_size}")
        if self.desired_size is not None and not self.min_size <= self.desired_size <= self.max_size:
            raise ValueError(f"desiredSize {self.desired_size} is outside minSize..maxSize")
        if self.gpu_sharing != "none" and not self.gpu:
            raise ValueError("gpuSharing needs a GPU pool (gpu: true)")
        return self


class Bucket(Model):
    name: str | None = Field(default=None, pattern=r"^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$")
    kms_key_id: str | None = None
    noncurrent_version_days: int = Field(default=30, ge=1)


class Buckets(Model):
    datasets: Bucket = Bucket()
    models: Bucket = Bucket()


class Seldon(Model):
    version: str = "1.17.1"
    ingress: Literal["ambassador", "istio"] = "ambassador"
    # The emissary-ingress chart and the Emissary release it ships (its CRDs are applied separately).
    emissary_chart_version: str = "8.9.1"
    emissary_version: str = "3.9.1"
    istio_gateway: str = "istio-system/seldon-gateway"


class TrainingOperator(Model):
    version: str = Field(default="v1.9.4", pattern=r"^v1\.9\.\d+$")


class Operators(Model):
    seldon: Seldon = Seldon()
    training_operator: TrainingOperator = TrainingOperator()
    nvidia_device_plugin_version: str = "0.17.0"
    # Kubeflow's notebook controller (kubeflow/notebooks release tag), for Notebook resources.
    notebook_controller_version: str = "v1.11.0"


class Observability(Model):
    enabled: bool = True
    log_retention_days: int = Field(default=30, ge=1, le=3650)


# ---------------------------------------------------------------- workloads


class Resources(Model):
    cpu: Quantity = "1"
    memory: Quantity = "2Gi"
    # Limits default to the requests: a Guaranteed pod, predictable on shared GPU nodes.
    cpu_limit: Quantity | None = None
    memory_limit: Quantity | None = None
    gpu: int = Field(default=0, ge=0)
    # ACK cGPU: a slice of GPU memory (GiB) instead of whole GPUs.
    gpu_memory_gb: int = Field(default=0, ge=0)

    @property
    def wants_gpu(self) -> bool:
        return self.gpu > 0 or self.gpu_memory_gb > 0


FRAMEWORK_ROLES = {
    "tensorflow": ("PS", "Chief", "Master", "Worker", "Evaluator"),
    "pytorch": ("Master", "Worker"),
    "xgboost": ("Master", "Worker"),
    "mpi": ("Launcher", "Worker"),
}


class Replica(Model):
    replicas: int = Field(default=1, ge=1)
    resources: Resources = Resources()


class TrainingJob(Model):
    framework: Literal["tensorflow", "pytorch", "xgboost", "mpi"]
    image: str
    # The model version this job writes: `color:v2` lands in the models bucket under color/v2/.
    model: ModelVersionRef
    dataset: str = ""
    command: list[str] = []
    args: list[str] = []
    env: dict[str, str] = {}
    roles: dict[str, Replica] = Field(min_length=1)
    backoff_limit: int = Field(default=3, ge=0)
    active_deadline_minutes: int | None = Field(default=None, ge=1)
    depends_on: list[str] = []

    @model_validator(mode="after")
    def _roles(self) -> TrainingJob:
        allowed = FRAMEWORK_ROLES[self.framework]
        for role, replica in self.roles.items():
            if role not in allowed:
                raise PathError(
                    ("roles", role), f"{self.framework} has no role {role!r}; its roles: {', '.join(allowed)}"
                )
            if role in ("Chief", "Master", "Launcher") and replica.replicas != 1:
                raise PathError(("roles", role, "replicas"), f"{role} runs exactly 1 replica, not {replica.replicas}")
        if self.framework == "tensorflow" and "Chief" in self.roles and "Master" in self.roles:
            raise PathError(("roles",), "a TFJob has at most one of Chief and Master")
        if self.framework == "tensorflow" and not {"Chief", "Master", "Worker"} & set(self.roles):
            raise PathError(("roles",), "a TFJob needs a Chief, Master or Worker: PS and Evaluator alone never finish")
        if self.framework == "mpi" and "Launcher" not in self.roles:
            raise ValueError("an MPIJob needs a Launcher role")
        if self.framework in ("pytorch", "xgboost") and "Master" not in self.roles:
            raise ValueError(f"a {self.framework} job needs a Master role")
        return self


class Notebook(Model):
    image: str
    resources: Resources = Resources()
    volume_size: Quantity = "10Gi"
    # Off by default: a notebook is reached through `kubectl port-forward` or the Kubeflow dashboard.
    expose: bool = False


class Autoscaling(Model):
    min_replicas: int = Field(ge=1)
    max_replicas: int = Field(ge=1)
    cpu_utilization: int | None = Field(default=70, ge=1, le=100)
    memory_utilization: int | None = Field(default=None, ge=1, le=100)

    @model_validator(mode="after")
    def _bounds(self) -> Autoscaling:
        if self.min_replicas > self.max_replicas:
            raise PathError(
                ("minReplicas",), f"minReplicas {self.min_replicas} is greater than maxReplicas {self.max_replicas}"
            )
        if self.cpu_utilization is None and self.memory_utilization is None:
            raise ValueError("give cpuUtilization or memoryUtilization")
        return self


class Batching(Model):
    max_batch_size: int = Field(ge=1)
    max_latency_ms: int = Field(default=10, ge=1)


SERVERS = ("TENSORFLOW_SERVER", "SKLEARN_SERVER", "XGBOOST_SERVER", "MLFLOW_SERVER", "TRITON_SERVER")
# The protocols Seldon Core 1.17 has a prepackaged image for (its predictor_servers Helm values).
SERVER_PROTOCOLS = {
    "TENSORFLOW_SERVER": ("seldon", "tensorflow"),
    "SKLEARN_SERVER": ("seldon", "v2"),
    "XGBOOST_SERVER": ("seldon", "v2"),
    "MLFLOW_SERVER": ("seldon", "v2"),
    "TRITON_SERVER": ("v2",),
}


class Predictor(Model):
    name: str = Field(pattern=DNS_LABEL)
    # A model version (`color:v2`) or a `pvc://claim/path` URI.
    model: str
    server: Literal[SERVERS] | None = "TENSORFLOW_SERVER"
    image: str | None = None
    traffic: int = Field(default=0, ge=0, le=100)
    shadow: bool = False
    replicas: int = Field(default=1, ge=0)
    resources: Resources = Resources()
    autoscaling: Autoscaling | None = None
    batching: Batching | None = None

    @field_validator("model")
    @classmethod
    def _model_ref(cls, value: str) -> str:
        if value.startswith("pvc://") or re.match(r"^[a-z][-a-z0-9]*:[A-Za-z0-9][-A-Za-z0-9._]*$", value):
            return value
        raise ValueError(f"{value!r} is neither a model version (name:version) nor a pvc:// URI")

    @model_validator(mode="before")
    @classmethod
    def _image_replaces_default_server(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("image") is not None and "server" not in data:
            return {**data, "server": None}
        return data

    @model_validator(mode="after")
    def _server_or_image(self) -> Predictor:
        if (self.server is None) == (self.image is None):
            raise ValueError("give exactly one of server (a prepackaged model server) and image")
        return self

    @property
    def is_model_version(self) -> bool:
        return not self.model.startswith("pvc://")


class HeaderRoute(Model):
    """Answer at another serving's URL for requests carrying `header` (`style: transfer`)."""

    # `name: value`; Seldon splits it at the colon, so the value cannot hold another one.
    header: str = Field(pattern=r"^[A-Za-z0-9-]+: ?[^\s:][^:]*$")
    serving: str


class Serving(Model):
    protocol: Literal["seldon", "tensorflow", "v2"] = "seldon"
    namespace: WorkloadNamespace = "models"
    predictors: list[Predictor] = Field(min_length=1)
    timeout_ms: int = Field(default=30000, ge=100)
    route_by_header: HeaderRoute | None = None
    depends_on: list[str] = []

    @model_validator(mode="after")
    def _traffic(self) -> Serving:
        names = [p.name for p in self.predictors]
        for index, name in enumerate(names):
            if name in names[:index]:
                raise PathError(("predictors", index, "name"), f"duplicate predictor name {name!r}")
        live = [p for p in self.predictors if not p.shadow]
        if not live:
            raise PathError(("predictors",), "needs at least one predictor that is not a shadow")
        if len(live) > 1 and sum(p.traffic for p in live) != 100:
            split = " + ".join(f"{p.name}={p.traffic}" for p in live)
            raise PathError(("predictors",), f"traffic must sum to 100, got {split} = {sum(p.traffic for p in live)}")
        if len(live) == 1 and 0 < live[0].traffic < 100:
            index = self.predictors.index(live[0])
            raise PathError(
                ("predictors", index, "traffic"), "the only live predictor takes all traffic: omit it or use 100"
            )
        shadows = [index for index, p in enumerate(self.predictors) if p.shadow]
        if len(shadows) > 1:
            raise PathError(("predictors", shadows[1], "shadow"), "Seldon allows one shadow predictor per serving")
        return self

    @model_validator(mode="after")
    def _servers(self) -> Serving:
        """Server/protocol/batching combinations Seldon cannot run fail here, before anything is planned."""
        for index, predictor in enumerate(self.predictors):
            server = predictor.server
            if server and self.protocol not in SERVER_PROTOCOLS[server]:
                supported = " or ".join(SERVER_PROTOCOLS[server])
                raise PathError(
                    ("predictors", index, "server"),
                    f"{server} does not serve protocol {self.protocol}; use {supported}",
                )
            if predictor.batching and not server:
                reason = "a custom image batches by itself; batching configures prepackaged servers only"
                raise PathError(("predictors", index, "batching"), reason)
            if predictor.batching and server == "TRITON_SERVER":
                reason = "Triton batches through dynamic_batching in the model's config.pbtxt, not the deployment"
                raise PathError(("predictors", index, "batching"), reason)
            if predictor.batching and server != "TENSORFLOW_SERVER" and self.protocol != "v2":
                reason = f"Seldon's own {server} cannot batch; use protocol v2 (MLServer adaptive batching)"
                raise PathError(("predictors", index, "batching"), reason)
        return self


class WebService(Model):
    image: str
    port: int = Field(ge=1, le=65535)
    namespace: WorkloadNamespace = "models"
    replicas: int = Field(default=1, ge=1)
    env: dict[str, str] = {}
    # The serving this client calls: its in-cluster endpoint URL is passed as env SERVING_URL.
    serving: str | None = None
    resources: Resources = Resources(cpu="100m", memory="128Mi")
    expose: bool = False
    depends_on: list[str] = []


class Promotion(Model):
    """Where prod reads the model versions dev has published (a StackReference)."""

    organization: str = "organization"
    project: str = "ml-platform"
    stack: str = "dev"
    allow_unpublished: list[ModelVersionRef] = []


# ---------------------------------------------------------------- the whole stack


class StackConfig(Model):
    cloud: Literal["alicloud", "aws"]
    region: str
    cluster: Cluster
    node_pools: dict[Annotated[str, Field(pattern=DNS_LABEL)], NodePool] = {}
    buckets: Buckets = Buckets()
    operators: Operators = Operators()
    observability: Observability = Observability()
    # Model versions that exist without a training job in this stack (pretrained, imported).
    models: list[ModelVersionRef] = []
    training_jobs: dict[Annotated[str, Field(pattern=DNS_LABEL)], TrainingJob] = {}
    notebooks: dict[Annotated[str, Field(pattern=DNS_LABEL)], Notebook] = {}
    servings: dict[Annotated[str, Field(pattern=DNS_LABEL)], Serving] = {}
    web_services: dict[Annotated[str, Field(pattern=DNS_LABEL)], WebService] = {}
    promotion: Promotion | None = None

    @model_validator(mode="after")
    def _cross_references(self) -> StackConfig:
        if self.cluster.kind == "edge" and self.cloud == "aws":
            raise PathError(("cluster", "kind"), "edge clusters (ACK@Edge) exist only on alicloud")
        families = GPU_FAMILIES[self.cloud]
        for name, pool in self.node_pools.items():
            for index, instance_type in enumerate(pool.instance_types):
                if pool.gpu and not instance_type.startswith(families):
                    raise PathError(
                        ("nodePools", name, "instanceTypes", index),
                        f"{instance_type!r} is not a GPU instance type on {self.cloud} (families: {', '.join(families)})",
                    )
            if pool.gpu_sharing == "cgpu" and self.cloud != "alicloud":
                raise PathError(("nodePools", name, "gpuSharing"), "cgpu is ACK's GPU sharing; use timeSlicing on aws")
            if pool.gpu_sharing == "timeSlicing" and self.cloud != "aws":
                raise PathError(("nodePools", name, "gpuSharing"), "timeSlicing is for EKS; use cgpu on alicloud")
        self._check_gpu_requests()
        self._check_dependencies()
        self._check_model_versions()
        return self

    @property
    def gpu_sharing(self) -> str:
        return next((p.gpu_sharing for p in self.node_pools.values() if p.gpu and p.gpu_sharing != "none"), "none")

    @property
    def has_gpu_pool(self) -> bool:
        return any(p.gpu for p in self.node_pools.values())

    def _gpu_requests(self):
        for name, job in self.training_jobs.items():
            for role, replica in job.roles.items():
                yield ("trainingJobs", name, "roles", role, "resources"), replica.resources
        for name, notebook in self.notebooks.items():
            yield ("notebooks", name, "resources"), notebook.resources
        for name, serving in self.servings.items():
            for index, predictor in enumerate(serving.predictors):
                yield ("servings", name, "predictors", index, "resources"), predictor.resources

    def _check_gpu_requests(self) -> None:
        for path, resources in self._gpu_requests():
            if resources.wants_gpu and not self.has_gpu_pool:
                raise PathError(path, "asks for a GPU but no node pool has gpu: true")
            if resources.gpu_memory_gb and self.gpu_sharing != "cgpu":
                raise PathError((*path, "gpuMemoryGb"), "GPU memory slices need a node pool with gpuSharing: cgpu")

    def _check_dependencies(self) -> None:
        kinds = {"trainingJobs": self.training_jobs, "servings": self.servings, "webServices": self.web_services}
        owner: dict[str, str] = {}
        for kind, items in {**kinds, "notebooks": self.notebooks}.items():
            for name in items:
                if name in owner:
                    raise PathError(
                        (kind, name),
                        f"the name {name!r} is taken by {owner[name]}.{name}: dependsOn needs unique names",
                    )
                owner[name] = kind
        graph = {}
        for kind, items in kinds.items():
            for name, item in items.items():
                graph[name] = set(item.depends_on)
                for index, dependency in enumerate(item.depends_on):
                    if owner.get(dependency) not in kinds:
                        raise PathError(
                            (kind, name, "dependsOn", index),
                            f"no training job, serving or web service named {dependency!r}",
                        )
        try:
            TopologicalSorter(graph).prepare()
        except CycleError as error:
            cycle = " -> ".join(error.args[1])
            raise PathError(
                (owner[error.args[1][0]], error.args[1][0], "dependsOn"), f"dependency cycle: {cycle}"
            ) from None
        for name, service in self.web_services.items():
            if service.serving and service.serving not in self.servings:
                raise PathError(("webServices", name, "serving"), f"no serving named {service.serving!r}")
        for name, serving in self.servings.items():
            route = serving.route_by_header
            if route and route.serving not in self.servings:
                raise PathError(("servings", name, "routeByHeader", "serving"), f"no serving named {route.serving!r}")
            if route and route.serving == name:
                raise PathError(("servings", name, "routeByHeader", "serving"), "a serving cannot route to itself")
            # Both answer the same URL: same ingress prefix (namespace) and the same request format.
            target = self.servings.get(route.serving) if route else None
            if target and (target.namespace, target.protocol) != (serving.namespace, serving.protocol):
                raise PathError(
                    ("servings", name, "routeByHeader", "serving"),
                    f"{route.serving!r} runs protocol {target.protocol} in namespace {target.namespace}; "
                    f"a header route needs the same protocol and namespace ({serving.protocol}, {serving.namespace})",
                )

    def trained_versions(self) -> dict[str, str]:
        """Model version -> the training job in this stack that writes it."""
        return {job.model: name for name, job in self.training_jobs.items()}

    def known_versions(self) -> set[str]:
        return set(self.models) | set(self.trained_versions())

    def served_versions(self):
        """(config path, model version) of every predictor that serves a model version."""
        for name, serving in self.servings.items():
            for index, predictor in enumerate(serving.predictors):
                if predictor.is_model_version:
                    yield ("servings", name, "predictors", index, "model"), predictor.model

    def _check_model_versions(self) -> None:
        if self.promotion is not None:
            return  # prod's versions are checked against what dev published (stacks.prod)
        known = self.known_versions()
        for path, version in self.served_versions():
            if version not in known:
                raise PathError(path, f"unknown model version {version!r}: not trained here nor listed in models")


class PathError(ValueError):
    """A validation failure inside a model that knows a deeper path than pydantic would report."""

    def __init__(self, path: tuple, reason: str):
        self.path = path
        self.reason = reason
        super().__init__(reason)


def format_path(location: tuple) -> str:
    """('servings', 'color', 'predictors', 1, 'traffic') -> servings.color.predictors[1].traffic"""
    text = ""
    for part in location:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else str(part)
    return text


def _to_config_error(error: ValidationError) -> ConfigError:
    first = error.errors()[0]
    location = tuple(part for part in first["loc"] if part not in ("function-after",))
    cause = first.get("ctx", {}).get("error")
    if isinstance(cause, PathError):
        location = location + cause.path
        reason = cause.reason
    else:
        reason = first["msg"].removeprefix("Value error, ")
        if first["type"] == "extra_forbidden":
            reason = "unknown key"
        elif first["type"] == "literal_error":
            reason = f"{first['input']!r} is not allowed: {reason}"
    return ConfigError(f"{NAMESPACE}:{format_path(location)}", reason)


def parse(raw: dict[str, Any]) -> StackConfig:
    """Validate raw config values (keys without the namespace) or raise a ConfigError."""
    try:
        return StackConfig.model_validate(raw)
    except ValidationError as error:
        raise _to_config_error(error) from None


def load() -> StackConfig:
    """Read the `ml-platform:` namespace from the running Pulumi program's config."""
    config = pulumi.Config(NAMESPACE)
    raw = {}
    for field in StackConfig.model_fields.values():
        value = config.get(field.alias)
        if value is None:
            continue
        if pulumi.runtime.is_config_secret(config.full_key(field.alias)):
            raise ConfigError(
                f"{NAMESPACE}:{field.alias}",
                "takes no secure value: it would reach cloud and Kubernetes inputs in plain text "
                "(credentials are created by the stack and kept secret)",
            )
        is_text = field.annotation is str or get_origin(field.annotation) is Literal
        try:
            raw[field.alias] = value if is_text else json.loads(value)
        except json.JSONDecodeError as error:
            raise ConfigError(f"{NAMESPACE}:{field.alias}", f"not a structured value: {error}") from None
    return parse(raw)
