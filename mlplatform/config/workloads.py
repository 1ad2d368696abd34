"""Config of the ML workloads: training jobs, notebooks, servings, web services, promotion."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from mlplatform import rules
from mlplatform.config.base import (
    DNS_LABEL,
    Cpu,
    Model,
    ModelVersionRef,
    PathError,
    Quantity,
    Size,
    Text,
    WorkloadNamespace,
)
from mlplatform.config.infra import check_mig_profile
from mlplatform.config.kserve import Llm, check_kserve_predictors


class Resources(Model):
    cpu: Cpu = "1"
    """CPU request: cores (`2`, `0.5`) or millicores (`500m`)."""
    memory: Size = "2Gi"
    """Memory request: a Kubernetes quantity, `4Gi` (binary, 2^30 bytes each) or `4G` (10^9 bytes)."""
    cpu_limit: Cpu | None = None
    """CPU limit; limits default to the requests: a Guaranteed pod, predictable on shared GPU nodes."""
    memory_limit: Size | None = None
    """Memory limit; defaults to the request (a Guaranteed pod)."""
    gpu: int = Field(default=0, ge=0)
    """Whole GPUs (`nvidia.com/gpu`); needs a node pool with `gpu: true`."""
    gpu_memory_gb: int = Field(default=0, ge=0)
    """ACK cGPU: a slice of GPU memory (GiB) instead of whole GPUs; needs a pool with `gpuSharing: cgpu`."""
    mig_profile: str | None = None
    """EKS MIG: `gpu` counts MIG instances of this profile (`nvidia.com/mig-1g.10gb`) instead of whole GPUs; needs a
    pool with `gpuSharing: mig` and this `migProfile`."""

    @property
    def wants_gpu(self) -> bool:
        return self.gpu > 0 or self.gpu_memory_gb > 0

    @model_validator(mode="after")
    def _mig_instances(self) -> Resources:
        if self.mig_profile and not self.gpu:
            raise PathError(("gpu",), f"how many {self.mig_profile} MIG instances: give gpu: 1 or more")
        if self.mig_profile and self.gpu_memory_gb:
            raise PathError(("gpuMemoryGb",), "a MIG instance has its own memory: no cGPU memory slices beside it")
        return self

    @field_validator("mig_profile")
    @classmethod
    def _mig_profile(cls, value: str | None) -> str | None:
        return check_mig_profile(value)


class Replica(Model):
    replicas: int = Field(default=1, ge=1)
    """How many pods run this role."""
    resources: Resources = Resources()
    """Requests (and limits) of each pod of this role."""


# The ClusterTrainingRuntime each framework runs on under Trainer v2 (kubeflow/trainer v2.3.0
# manifests/base/runtimes); Trainer v2 has no TensorFlow runtime and runs MPI through deepspeed-distributed.
TRAINER_RUNTIMES = {"pytorch": "torch-distributed", "xgboost": "xgboost-distributed", "mpi": "deepspeed-distributed"}


class TrainingJob(Model):
    framework: Literal["tensorflow", "pytorch", "xgboost", "mpi"]
    """The training framework: tensorflow (TFJob), pytorch (PyTorchJob), xgboost (XGBoostJob) or mpi (MPIJob)."""
    api: Literal["v1", "v2"] = "v1"
    """`v1`: a Kubeflow training-operator job (TFJob, PyTorchJob, ...); `v2`: a Trainer v2 TrainJob."""
    runtime: str | None = None
    """v2 only: the ClusterTrainingRuntime to run on; defaults to the framework's (torch-distributed, ...)."""
    image: str
    """The training container image, with its tag."""
    model: ModelVersionRef
    """The model version this job writes: `color:v2` lands in the models bucket under color/v2/."""
    dataset: str = ""
    """Folder of the datasets bucket mounted read-only into the job (empty: none)."""
    command: list[str] = []
    """The container's command (entrypoint); empty keeps the image's."""
    args: list[str] = []
    """Arguments to the command."""
    env: dict[str, Text] = {}
    """Environment variables of every replica (numbers and booleans are passed as text)."""
    roles: dict[str, Replica] = Field(min_length=1)
    """Replicas by role, as the framework names them (Worker, Chief, PS, Master, Launcher, ...)."""
    backoff_limit: int = Field(default=3, ge=0)
    """How many times a failed job is retried."""
    active_deadline_minutes: int | None = Field(default=None, ge=1)
    """Stop the job after this many minutes (unset: no limit)."""
    team: str | None = None
    """The team that owns it (a key of `teams`), which gives its namespace; unset: the default team."""
    depends_on: list[str] = []
    """Training jobs, servings or web services created (and, for a job, finished) before this one."""
    run_as_user: int | None = Field(default=None, ge=1)
    """The numeric user the pods run as (never root); unset: the platform's default for the kind (docs/cloud-rules.md)."""

    @model_validator(mode="after")
    def _roles(self) -> TrainingJob:
        if self.api == "v2":
            return self._v2()
        if self.runtime is not None:
            raise PathError(("runtime",), "runtime names a Trainer v2 ClusterTrainingRuntime: set api: v2")
        problems = rules.role_problems(self.framework, {role: r.replicas for role, r in self.roles.items()})
        if problems:
            path, reason = problems[0]
            raise PathError(("roles", *path), reason)
        return self

    def _v2(self) -> TrainingJob:
        """A TrainJob runs `numNodes` identical nodes: one role, `Worker`, whose replicas are the nodes."""
        if self.runtime is None and self.framework not in TRAINER_RUNTIMES:
            raise PathError(
                ("framework",), f"Trainer v2 has no {self.framework} runtime; use api: v1 or name a runtime"
            )
        if self.runtime is not None and self.runtime not in rules.TRAINER_BUILTIN_RUNTIMES:
            raise PathError(
                ("runtime",),
                f"no ClusterTrainingRuntime {self.runtime!r}: the stack installs {', '.join(rules.TRAINER_BUILTIN_RUNTIMES)}",
            )
        for role in self.roles:
            if role != "Worker":
                raise PathError(
                    ("roles", role), "a v2 TrainJob runs identical nodes: give one role, Worker (replicas = nodes)"
                )
        return self

    @property
    def trainer_runtime(self) -> str:
        """The ClusterTrainingRuntime a v2 job runs on."""
        return self.runtime or TRAINER_RUNTIMES[self.framework]


class Notebook(Model):
    image: str
    """The notebook image, e.g. kubeflownotebookswg/jupyter-tensorflow-full:v1.9.2."""
    resources: Resources = Resources()
    """Requests (and limits) of the notebook's pod."""
    team: str | None = None
    """The team that owns it (a key of `teams`), which gives its namespace; unset: the default team."""
    volume_size: Quantity = "20Gi"
    """Size of the workspace volume mounted at /home/jovyan; at least 20Gi on Alibaba Cloud, the smallest ESSD (PL1) disk."""
    expose: bool = False
    """Give the notebook (behind `notebookSso`: its proxy) an internal load balancer address, reachable from the VPC. Off by default: a notebook is reached through `kubectl port-forward` or the Kubeflow dashboard."""
    public: bool = False
    """With `expose`: an internet-facing load balancer instead of an internal one; the prod policy `prod-private-endpoints` refuses it."""
    allowed_emails: list[str] = []
    """With `notebookSso`: the users (e-mail addresses the identity provider asserts) who may open this notebook."""
    allowed_groups: list[str] = []
    """With `notebookSso`: the identity provider groups whose members may open this notebook."""
    run_as_user: int | None = Field(default=None, ge=1)
    """The numeric user the pods run as (never root); unset: the platform's default for the kind (docs/cloud-rules.md)."""

    @model_validator(mode="after")
    def _public(self) -> Notebook:
        return exposed_publicly(self)


def exposed_publicly(workload: Notebook | WebService) -> Notebook | WebService:
    """`public` says which load balancer `expose` makes; without `expose` there is none."""
    if workload.public and not workload.expose:
        raise PathError(("public",), "public makes the load balancer of `expose` internet-facing: set expose: true")
    return workload


# The oauth2-proxy release the SSO proxies run (oauth2-proxy/manifests helm/oauth2-proxy/Chart.yaml 10.7.0: appVersion).
OAUTH2_PROXY_IMAGE = "quay.io/oauth2-proxy/oauth2-proxy:v7.15.3"


class NotebookSso(Model):
    """Single sign-on in front of every notebook: an oauth2-proxy per notebook, against one OIDC client.

    The client secret is a Pulumi secret of its own namespace (`ml-platform:` takes no secure values):
    `pulumi config set --secret ml-platform-secrets:oidcClientSecret ...`.
    """

    issuer_url: str = Field(pattern=r"^https://")
    """The OIDC issuer (its `/.well-known/openid-configuration` is read), e.g. https://login.example.com/realms/ml."""
    client_id: str = Field(min_length=1)
    """The OIDC client the proxies log users in with."""
    client_secret_key: str = "oidcClientSecret"
    """The secret config key, in namespace `ml-platform-secrets`, holding the client secret."""
    groups_claim: str = "groups"
    """The ID token claim listing a user's groups (for `allowedGroups`)."""
    image: str = OAUTH2_PROXY_IMAGE
    """The oauth2-proxy image, with its tag."""
    tls_certificate: str | None = Field(default=None, min_length=1)
    """The certificate an exposed notebook's proxy serves HTTPS with, at its load balancer (its session cookies are `Secure`): an ACM certificate ARN on AWS, a certificate id of Alibaba Cloud's certificate service on ACK. Required when a notebook sets `expose`."""


class Autoscaling(Model):
    min_replicas: int = Field(ge=1)
    """The fewest replicas the autoscaler keeps."""
    max_replicas: int = Field(ge=1)
    """The most replicas the autoscaler starts."""
    cpu_utilization: int | None = Field(default=70, ge=1, le=100)
    """Target average CPU utilization, percent of the request."""
    memory_utilization: int | None = Field(default=None, ge=1, le=100)
    """Target average memory utilization, percent of the request."""

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
    """The most requests the server batches together."""
    max_latency_ms: int = Field(default=10, ge=1)
    """How long (ms) the server waits to fill a batch."""


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
    """The predictor's name (a DNS label), e.g. the model version: v1, v2, candidate."""
    model: str
    """A model version (`color:v2`) or a `pvc://claim/path` URI."""
    server: Literal[SERVERS] | None = "TENSORFLOW_SERVER"
    """A Seldon prepackaged model server; give `image` instead for a custom server."""
    image: str | None = None
    """A custom model server image (instead of `server`)."""
    traffic: int = Field(default=0, ge=0, le=100)
    """Percent of the serving's requests (integers; live predictors sum to 100). A shadow mirrors this percent (0: all)."""
    shadow: bool = False
    """Mirror requests to this predictor without answering them (one shadow per serving)."""
    replicas: int = Field(default=1, ge=0)
    """Replicas of the predictor (dev serves candidates on one)."""
    resources: Resources = Resources()
    """Requests (and limits) of the model server."""
    autoscaling: Autoscaling | None = None
    """Scale the predictor on CPU or memory (a HorizontalPodAutoscaler)."""
    batching: Batching | None = None
    """Server-side batching (TensorFlow Serving, or MLServer with protocol v2)."""
    run_as_user: int | None = Field(default=None, ge=1)
    """The numeric user the model server's pods run as (never root); unset: the platform's default for the kind (docs/cloud-rules.md)."""

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

    header: str = Field(pattern=r"^[A-Za-z0-9-]+: ?[^\s:][^:]*$")
    """`name: value`; Seldon splits it at the colon, so the value cannot hold another one."""
    serving: str
    """The serving whose URL this one answers for requests carrying the header."""


class Serving(Model):
    backend: Literal["seldon", "kserve"] = "seldon"
    """The operator that serves it: Seldon Core v1 (a SeldonDeployment) or KServe 0.20 (an InferenceService)."""
    kind: Literal["model", "llm"] = "model"
    """`model`: predictors of a prepackaged server or image; `llm`: a language model on GPUs (KServe only)."""
    protocol: Literal["seldon", "tensorflow", "v2"] = "seldon"
    """The request format: seldon, tensorflow or v2 (KServe/Open Inference)."""
    namespace: WorkloadNamespace = "models"
    """The namespace the serving runs in, one of its team's: `models` is `models` for the default team and
    `vision-models` for team vision (`StackConfig.namespace_of`)."""
    team: str | None = None
    """The team that owns it (a key of `teams`), which gives its namespace; unset: the default team."""
    predictors: list[Predictor] = []
    """The model versions served, with their traffic split."""
    llm: Llm | None = None
    """kind llm: the model, its GPUs and its scaling."""
    timeout_ms: int = Field(default=30000, ge=100)
    """Request timeout in milliseconds, at the ingress and Seldon's executor."""
    route_by_header: HeaderRoute | None = None
    """An A/B test: answer another serving's URL for requests carrying a header."""
    depends_on: list[str] = []
    """Training jobs, servings or web services created before this serving."""

    @model_validator(mode="after")
    def _kind(self) -> Serving:
        if self.kind == "llm":
            if self.backend != "kserve":
                raise PathError(("backend",), "an llm serving runs on KServe: set backend: kserve")
            if self.llm is None:
                raise PathError(("llm",), "kind llm needs llm: the model version, its GPUs and scaling")
            if self.predictors:
                raise PathError(("predictors",), "an llm serving has no predictors; its model is llm.model")
            if self.route_by_header:
                raise PathError(("routeByHeader",), "an llm serving answers only its own URL")
        else:
            if self.llm is not None:
                raise PathError(("llm",), "llm is for kind: llm")
            if not self.predictors:
                raise PathError(("predictors",), "needs at least one predictor")
        return self

    @model_validator(mode="after")
    def _traffic(self) -> Serving:
        if self.kind == "llm":
            return self
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

    def served_versions(self):
        """(path within the serving, model version) of each predictor or LLM that serves a model version."""
        for index, predictor in enumerate(self.predictors):
            if predictor.is_model_version:
                yield ("predictors", index, "model"), predictor.model
        if self.llm:
            yield ("llm", "model"), self.llm.model

    @property
    def stable(self) -> Predictor | None:
        """KServe: the predictor that is `spec.predictor` (the first live one); the others are canaries."""
        return next((p for p in self.predictors if not p.shadow), None)

    @model_validator(mode="after")
    def _kserve(self) -> Serving:
        """What KServe 0.20 refuses or cannot run (`mlplatform/config/kserve.py`)."""
        if self.backend == "kserve" and self.kind != "llm":
            check_kserve_predictors(self.protocol, self.predictors, self.stable)
        return self

    @model_validator(mode="after")
    def _servers(self) -> Serving:
        """Server/protocol/batching combinations Seldon cannot run fail here, before anything is planned."""
        if self.backend != "seldon":
            return self
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
    """The container image, with its tag."""
    port: int = Field(ge=1, le=65535)
    """The port the container serves HTTP on (also the Service's port)."""
    namespace: WorkloadNamespace = "models"
    """The namespace the web service runs in, one of its team's: `models` is `models` for the default team and
    `vision-models` for team vision (`StackConfig.namespace_of`)."""
    team: str | None = None
    """The team that owns it (a key of `teams`), which gives its namespace; unset: the default team."""
    replicas: int = Field(default=1, ge=1)
    """How many pods run."""
    env: dict[str, Text] = {}
    """Environment variables (numbers and booleans are passed as text)."""
    serving: str | None = None
    """The serving this client calls: its in-cluster endpoint URL is passed as env SERVING_URL."""
    resources: Resources = Resources(cpu="100m", memory="128Mi")
    """Requests (and limits) of each pod."""
    expose: bool = False
    """Give the web service an internal load balancer address, reachable from the VPC, instead of an in-cluster one."""
    public: bool = False
    """With `expose`: an internet-facing load balancer instead of an internal one; the prod policy `prod-private-endpoints` refuses it."""
    health_path: str | None = Field(default=None, pattern=r"^/")
    """HTTP path answering 200 when the service is up, for its readiness and liveness probes; unset: a TCP check of `port`."""
    run_as_user: int | None = Field(default=None, ge=1)
    """The numeric user the pods run as (never root); unset: the platform's default for the kind (docs/cloud-rules.md)."""
    depends_on: list[str] = []
    """Training jobs, servings or web services created before this one."""

    @model_validator(mode="after")
    def _public(self) -> WebService:
        return exposed_publicly(self)


class Promotion(Model):
    """Where prod reads the model versions dev has published (a StackReference)."""

    organization: str = "organization"
    """The Pulumi organization of the source stack."""
    project: str = "ml-platform"
    """The Pulumi project of the source stack."""
    stack: str = "dev"
    """The stack whose published model versions (`modelVersions`) this stack may serve."""
    allow_unpublished: list[ModelVersionRef] = []
    """Model versions served here although the source stack does not publish them."""
