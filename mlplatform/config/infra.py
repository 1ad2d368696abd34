"""Config of the platform itself: cluster, node pools, buckets, operators, observability."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from mlplatform.config.base import Model, PathError


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
