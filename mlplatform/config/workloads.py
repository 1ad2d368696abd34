"""Config of the ML workloads: training jobs, notebooks, servings, web services, promotion."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from mlplatform import rules
from mlplatform.config.base import DNS_LABEL, Model, ModelVersionRef, PathError, Quantity, WorkloadNamespace


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
        problems = rules.role_problems(self.framework, {role: r.replicas for role, r in self.roles.items()})
        if problems:
            path, reason = problems[0]
            raise PathError(("roles", *path), reason)
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
        if value.startswith("pvc://") or rules.parse_model_version(value):
            return value
        raise ValueError(f"{value!r} is neither a model version ({rules.MODEL_VERSION_FORM}) nor a pvc:// URI")

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
        problem = rules.traffic_problem([(p.name, p.traffic) for p in live])
        if problem and problem.kind == "sum":
            raise PathError(("predictors",), f"traffic must sum to 100, got {problem.split} = {problem.total}")
        if problem:
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
