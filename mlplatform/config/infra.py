"""Config of the platform itself: cluster, node pools, buckets, operators, observability."""

from __future__ import annotations

import ipaddress
import re
from typing import Literal

from pydantic import Field, field_validator, model_validator

from mlplatform import pins
from mlplatform.config.base import Model, PathError


class ZoneSubnet(Model):
    zone: str
    """The zone (availability zone) of this subnet, e.g. cn-hangzhou-i or us-east-1a."""
    cidr: str
    """The nodes' subnet in this zone (a private subnet behind NAT on AWS)."""
    public_cidr: str | None = None
    """AWS only: the public subnet of this zone, for load balancers and the NAT gateway."""


# An IAM user or role ARN: what an EKS access entry's principal may be.
IAM_PRINCIPAL_ARN = r"arn:aws[a-z-]*:iam::[0-9]{12}:(user|role)/[\w+=,.@/-]+"
# An EC2 security group ID (sg- and 8 or 17 hex digits).
SECURITY_GROUP_ID = r"^sg-([0-9a-f]{8}|[0-9a-f]{17})$"


class DeployRunners(Model):
    """Where the self-hosted runners that run `pulumi up` reach a private EKS API from (docs/first-deploy.md).

    EKS answers its private endpoint through ENIs in the cluster security group, which admits only what its rules
    allow: each source here gets TCP 443 on that group (EKS user guide, "Cluster API server endpoint")."""

    cidrs: list[str] = []
    """IPv4 CIDRs the runners' traffic comes from, e.g. the runner subnet inside the VPC (10.30.240.0/24) or a
    peered network."""
    security_group_ids: list[str] = []
    """Security groups of the runner instances (in the cluster's VPC, or a peered VPC of the same region)."""

    @field_validator("cidrs")
    @classmethod
    def _ipv4_cidrs(cls, values: list[str]) -> list[str]:
        for value in values:
            try:
                network = ipaddress.ip_network(value) if "/" in value else None
            except ValueError:
                network = None
            if network is None:
                raise ValueError(f"{value!r} is not a CIDR such as 10.30.240.0/24")
            if network.version != 4 or network.prefixlen == 0:
                which = "all addresses" if network.prefixlen == 0 else "IPv6"
                raise ValueError(f"{value!r}: name the runners' own IPv4 range, not {which}")
        return values

    @field_validator("security_group_ids")
    @classmethod
    def _group_ids(cls, values: list[str]) -> list[str]:
        for value in values:
            if not re.match(SECURITY_GROUP_ID, value):
                raise ValueError(f"{value!r} is not a security group ID such as sg-0123456789abcdef0")
        return values


class Network(Model):
    """A new VPC with one vswitch/subnet per zone, unless `vpcId` and `subnetIds` name existing ones."""

    vpc_id: str | None = None
    """An existing VPC to use instead of creating one (needs `subnetIds`)."""
    subnet_ids: list[str] = []
    """Existing vswitches/subnets of `vpcId` for the nodes."""
    cidr: str = "10.0.0.0/16"
    """The CIDR of a new VPC."""
    zones: list[ZoneSubnet] = []
    """The zones of a new VPC, one subnet (vswitch) each."""
    nat_gateways: Literal["single", "perZone"] | None = None
    """AWS: NAT gateways for the private subnets; by default one per zone in prod, a single one in dev."""
    deploy_runners: DeployRunners = DeployRunners()
    """EKS: the runners that deploy the stack, admitted on TCP 443 to the cluster security group. A private
    endpoint (`publicEndpoint: false`) needs at least one source. Not for ACK: its private API is an internal CLB
    in the VPC that no security group guards (any address in the VPC reaches it)."""

    @model_validator(mode="after")
    def _existing_or_new(self) -> Network:
        if self.vpc_id and not self.subnet_ids:
            raise ValueError("an existing vpcId needs its subnetIds")
        if not self.vpc_id and not self.zones:
            raise ValueError("give zones (with a cidr each) for a new VPC, or vpcId and subnetIds")
        return self


class Cluster(Model):
    kind: Literal["managed", "serverless", "edge"]
    """managed (ACK or EKS with node pools), serverless (ASK or EKS on Fargate) or edge (ACK@Edge, alicloud only)."""
    kubernetes_version: str = Field(pattern=r"^1\.\d+")
    """The Kubernetes version, e.g. 1.31.1-aliyun.1 on ACK or 1.31 on EKS."""
    network: Network
    """The VPC and subnets the cluster runs in."""
    service_cidr: str = "172.16.0.0/16"
    """The CIDR of Kubernetes Services; must not overlap the VPC."""
    pod_cidr: str = "172.20.0.0/16"
    """The CIDR of pods (ACK's Flannel network); must not overlap the VPC or services."""
    public_endpoint: bool = False
    """Expose the Kubernetes API on the internet. Off: the API is private and `pulumi up` runs on a runner
    inside the VPC (docs/first-deploy.md). On EKS it needs `apiAccessCidrs`."""
    api_access_cidrs: list[str] = []
    """EKS: the only CIDRs the public API endpoint answers (e.g. your runners' egress addresses)."""
    edge_worker_instance_types: list[str] = ["ecs.g7.xlarge"]
    """ACK@Edge only: the cloud worker nodes that run the edge cluster's system components."""
    edge_workers: int = Field(default=1, ge=1)
    """ACK@Edge only: how many cloud workers."""
    edge_key_pair: str | None = None
    """ACK@Edge only: the ECS key pair that logs in to the cloud workers (the cluster requires a login)."""
    system_instance_types: list[str] = ["m6i.large"]
    """EKS only: the managed node group that runs CoreDNS, the operators and Karpenter."""
    system_nodes: int = Field(default=2, ge=1)
    """EKS only: how many system nodes."""
    admins: list[str] = []
    """EKS only: IAM user or role ARNs made cluster admins (an access entry with AmazonEKSClusterAdminPolicy each).
    EKS makes only the identity that created the cluster an admin; list the CI deploy role here (and the people or
    break-glass role that administer the cluster) so deploys do not depend on who ran the first one. An identity
    is an admin or a team member, not both (one access entry per principal)."""

    @field_validator("admins")
    @classmethod
    def _admin_arns(cls, values: list[str]) -> list[str]:
        for index, value in enumerate(values):
            if not re.fullmatch(IAM_PRINCIPAL_ARN, value):
                raise PathError(
                    (index,), f"{value!r} is not an IAM user or role ARN (arn:aws:iam::<account>:role/<name>)"
                )
            if value in values[:index]:
                raise PathError((index,), f"{value!r} is listed twice")
        return values

    @property
    def minor_version(self) -> int:
        return int(self.kubernetes_version.split(".")[1])


# MIG (Multi-Instance GPU): the GPU of each EC2 family whose GPUs NVIDIA partitions, and the MIG profiles NVIDIA lists
# for that GPU (`<compute slices>g.<memory>gb`; the `+me` media-extension profiles are left out: their resource names
# are not valid Kubernetes resource names). GPUs per family: EC2 "Accelerated computing instances"
# (docs.aws.amazon.com/ec2/latest/instancetypes/ac.html: p4d A100 40 GB, p4de A100 80 GB, p5 H100 80 GB, p5e and p5en
# H200 141 GB); profiles: NVIDIA MIG User Guide, "Supported MIG Profiles" (A100-SXM4-40GB; A100-SXM4-80GB and
# H100-SXM5-80GB; H200-SXM5-141GB), docs.nvidia.com/datacenter/tesla/mig-user-guide/supported-mig-profiles.html.
_MIG_80GB = ("1g.10gb", "1g.20gb", "2g.20gb", "3g.40gb", "4g.40gb", "7g.80gb")
_MIG_141GB = ("1g.18gb", "1g.35gb", "2g.35gb", "3g.71gb", "4g.71gb", "7g.141gb")
MIG_GPUS: dict[str, tuple[str, tuple[str, ...]]] = {
    "p4d.": ("A100 40GB", ("1g.5gb", "1g.10gb", "2g.10gb", "3g.20gb", "4g.20gb", "7g.40gb")),
    "p4de.": ("A100 80GB", _MIG_80GB),
    "p5.": ("H100 80GB", _MIG_80GB),
    "p5e.": ("H200 141GB", _MIG_141GB),
    "p5en.": ("H200 141GB", _MIG_141GB),
}
MIG_FAMILIES = ", ".join(family.rstrip(".") for family in MIG_GPUS)
# The extended resource the NVIDIA device plugin's `mixed` MIG strategy offers per profile (k8s-device-plugin v0.20.0
# README, MIG_STRATEGY: "resources ... of the form `nvidia.com/mig-<slice_count>g.<memory_size>gb`").
MIG_RESOURCE_PREFIX = "nvidia.com/mig-"


def mig_gpu(instance_type: str) -> tuple[str, tuple[str, ...]] | None:
    """(GPU, its MIG profiles) of an EC2 instance type whose GPUs support MIG; None for any other type."""
    return next((gpu for family, gpu in MIG_GPUS.items() if instance_type.startswith(family)), None)


def mig_resource(profile: str) -> str:
    """1g.10gb -> nvidia.com/mig-1g.10gb"""
    return f"{MIG_RESOURCE_PREFIX}{profile}"


def check_mig_profile(value: str | None) -> str | None:
    if value is not None and not re.fullmatch(r"[1-7]g\.[0-9]+gb", value):
        raise ValueError(f"{value!r} is not a MIG profile such as 1g.10gb or 3g.40gb (<compute slices>g.<memory>gb)")
    return value


class NodePool(Model):
    instance_types: list[str] = Field(min_length=1)
    """Instance types the pool may use, e.g. ecs.g7.xlarge or m6i.large; GPU families for `gpu: true`."""
    min_size: int = Field(ge=0)
    """The fewest nodes."""
    max_size: int = Field(ge=1)
    """The most nodes the autoscaler adds."""
    desired_size: int | None = None
    """Nodes to start with, between minSize and maxSize (default: minSize)."""
    gpu: bool = False
    """A GPU pool: labelled and tainted so only pods asking for GPUs land on it."""
    spot: bool = False
    """Use spot (preemptible) instances."""
    disk_size_gb: int = Field(default=120, ge=40)
    """System disk size of each node, in GB (at least 40)."""
    labels: dict[str, str] = {}
    """Kubernetes labels on the pool's nodes."""
    gpu_sharing: Literal["none", "cgpu", "timeSlicing", "mig"] = "none"
    """Share GPUs between pods: cgpu (ACK GPU sharing, alicloud), timeSlicing (NVIDIA time-slicing, aws) or mig
    (NVIDIA Multi-Instance GPU on A100/H100/H200 instance types, aws: each GPU split into `migProfile` instances)."""
    gpu_replicas: int = Field(default=4, ge=2, le=48)
    """Time-slicing: how many pods share one physical GPU."""
    mig_profile: str | None = None
    """gpuSharing: mig: the MIG profile every GPU of the pool is split into, e.g. 1g.10gb (seven per A100 80GB or
    H100) or 3g.40gb (two); workloads ask for it with `resources.migProfile`."""

    @model_validator(mode="after")
    def _sizes(self) -> NodePool:
        if self.min_size > self.max_size:
            raise PathError(("minSize",), f"minSize {self.min_size} is greater than maxSize {self.max_size}")
        if self.desired_size is not None and not self.min_size <= self.desired_size <= self.max_size:
            raise ValueError(f"desiredSize {self.desired_size} is outside minSize..maxSize")
        if self.gpu_sharing != "none" and not self.gpu:
            raise ValueError("gpuSharing needs a GPU pool (gpu: true)")
        if self.gpu_sharing == "mig" and not self.mig_profile:
            raise PathError(
                ("migProfile",), "gpuSharing: mig needs the MIG profile to split each GPU into, e.g. 1g.10gb"
            )
        if self.mig_profile and self.gpu_sharing != "mig":
            raise PathError(("migProfile",), "takes effect only with gpuSharing: mig")
        return self

    @field_validator("mig_profile")
    @classmethod
    def _mig_profile(cls, value: str | None) -> str | None:
        return check_mig_profile(value)


def check_mig_pool(cloud: str, path: tuple, pool: NodePool) -> None:
    """MIG partitions the GPUs of A100/H100/H200 instance types on EKS (the device plugin's `mixed` strategy and
    partitions made at node boot, mlplatform/infra/nodepool.py); ACK shares GPUs with cGPU instead."""
    if cloud != "aws":
        raise PathError(
            (*path, "gpuSharing"),
            "MIG is set up on EKS only (NVIDIA device plugin mig strategy, partitions made when a node boots); "
            "on alicloud share GPUs with gpuSharing: cgpu (ACK shared GPU scheduling, pods ask for gpuMemoryGb)",
        )
    for index, instance_type in enumerate(pool.instance_types):
        gpu = mig_gpu(instance_type)
        if gpu is None:
            raise PathError(
                (*path, "instanceTypes", index),
                f"{instance_type!r} has no MIG-capable GPU (MIG needs A100, H100 or H200: {MIG_FAMILIES}); "
                "share its GPUs with gpuSharing: timeSlicing instead",
            )
        name, profiles = gpu
        if pool.mig_profile not in profiles:
            raise PathError(
                (*path, "migProfile"),
                f"{pool.mig_profile} is not a MIG profile of the {name} of {instance_type} "
                f"(its profiles: {', '.join(profiles)})",
            )


class Bucket(Model):
    name: str | None = Field(default=None, pattern=r"^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$")
    """The bucket's name (globally unique); default `ml-platform-<stack>-<kind>`."""
    kms_key_id: str | None = None
    """A KMS key to encrypt objects with (default: the cloud's managed key, AES256)."""
    noncurrent_version_days: int = Field(default=30, ge=1)
    """Days an overwritten or deleted object version is kept before it expires."""


class Buckets(Model):
    datasets: Bucket = Bucket()
    """The bucket training jobs read datasets from (mounted read-only)."""
    models: Bucket = Bucket()
    """The bucket model versions live in: `color:v2` is `<scheme>://<bucket>/color/v2/`."""


# An image reference with a tag: what Seldon's prepackaged-server table composes as `image:defaultImageVersion`.
IMAGE_WITH_TAG = r"^[a-z0-9][a-z0-9._/:-]*:[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$"
# A registry host (optionally with a port) and an optional path, without scheme or tag.
REGISTRY = r"^[a-z0-9]([a-z0-9.-]*[a-z0-9])?(:[0-9]+)?(/[a-z0-9]([a-z0-9._-]*[a-z0-9])?)*$"


class Seldon(Model):
    version: str = pins.SELDON.version
    """The seldon-core-operator chart (and Seldon Core) version."""
    ingress: Literal["ambassador", "istio"] = "ambassador"
    """The ingress that fronts the models: Emissary-ingress (`ambassador`) or Istio."""
    emissary_version: str = pins.EMISSARY.version
    """Emissary-ingress 4.x: its chart version equals its release (the 3.x line is abandoned)."""
    istio_gateway: str = "istio-system/seldon-gateway"
    """`namespace/name` of the Istio Gateway Seldon's VirtualServices bind to (ingress: istio)."""
    tensorflow_server_image: str = pins.image(pins.TENSORFLOW_SERVING)
    """The image (with its tag) of Seldon's prepackaged TENSORFLOW_SERVER; the chart's own default is a CPU-only
    2020 build. A serving on a GPU pool can name a GPU build (`tensorflow/serving:<version>-gpu`)."""

    @field_validator("emissary_version")
    @classmethod
    def _emissary_4(cls, value: str) -> str:
        if not value.startswith("4.") or not value.replace(".", "").isdigit():
            raise ValueError(f"{value!r} is not an Emissary-ingress 4.x release such as {pins.EMISSARY.version}")
        return value

    @field_validator("tensorflow_server_image")
    @classmethod
    def _image_with_tag(cls, value: str) -> str:
        if not re.match(IMAGE_WITH_TAG, value):
            raise ValueError(f"{value!r} is not an image with a tag, such as {pins.image(pins.TENSORFLOW_SERVING)}")
        return value


class TrainingOperator(Model):
    version: str = Field(default="v1.9.4", pattern=r"^v1\.9\.\d+$")
    """The Kubeflow training-operator release (v1.9 line), installed from its standalone overlay."""


class Operators(Model):
    seldon: Seldon = Seldon()
    """Seldon Core v1 and the ingress in front of the models."""
    training_operator: TrainingOperator = TrainingOperator()
    """The Kubeflow training-operator that runs TFJob, PyTorchJob, XGBoostJob and MPIJob."""
    nvidia_device_plugin_version: str = pins.NVIDIA_DEVICE_PLUGIN.version
    """The NVIDIA device plugin chart, installed on EKS when a pool has GPUs."""
    notebook_controller_version: str = "v1.11.0"
    """Kubeflow's notebook controller (kubeflow/notebooks release tag), for Notebook resources."""
    image_registry: str | None = None
    """A registry mirror every image of the plan is pulled through, e.g. an ACR Enterprise Edition instance
    `<instance>-registry-vpc.cn-hangzhou.cr.aliyuncs.com/mirror` (Docker Hub, ghcr.io, quay.io and registry.k8s.io pulls
    are unreliable in mainland China regions): the charts' and their hooks' images, the kustomize-installed
    training-operator and notebook controller (and the images the training-operator starts), the platform's own
    (promotion copies, oauth2-proxy, Trainer runtimes) and the workloads' images given in config.
    `docker.io/seldonio/x:1` is pulled as `<imageRegistry>/seldonio/x:1`, `busybox:1` as
    `<imageRegistry>/library/busybox:1`; `mlp images -s <stack>` lists what the mirror must hold."""

    @field_validator("image_registry")
    @classmethod
    def _registry(cls, value: str | None) -> str | None:
        if value is not None and not re.match(REGISTRY, value):
            raise ValueError(
                f"{value!r} is not a registry host with an optional path (no scheme, no tag), "
                "such as registry-vpc.cn-hangzhou.aliyuncs.com/mirror"
            )
        return value


class IdleGpu(Model):
    """The idle-GPU alert: a namespace whose GPUs stay below `utilization` percent for `minutes`."""

    utilization: int = Field(default=10, ge=1, le=100)
    """The average GPU utilisation (DCGM_FI_DEV_GPU_UTIL, percent) of a namespace's GPUs below which they count
    as idle."""
    minutes: int = Field(default=60, ge=1, le=1440)
    """How long the GPUs stay below `utilization` before the alert fires (1 to 1440: ARMS alert rules' duration
    range, CreatePrometheusAlertRule `Duration`)."""


class Observability(Model):
    enabled: bool = True
    """Metrics and logs for the cluster and the servings (ARMS Prometheus and SLS on Alibaba Cloud; AMP and CloudWatch on AWS)."""
    log_retention_days: int = Field(default=30, ge=1, le=3650)
    """How many days logs are kept (1 to 3650)."""
    idle_gpu: IdleGpu = IdleGpu()
    """With a GPU pool: NVIDIA's DCGM exporter runs on every GPU node, the cloud's Prometheus scrapes it, and an alert
    fires for a namespace whose GPUs stay idle (docs/gpu.md)."""
