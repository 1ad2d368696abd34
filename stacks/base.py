"""The infrastructure every environment has: buckets, cluster, node pools, operators, observability."""

from __future__ import annotations

from typing import get_args

import pulumi
import pulumi_kubernetes as k8s

from mlplatform import config as cfg
from mlplatform import rules
from mlplatform.infra.bucket import Bucket, BucketArgs
from mlplatform.infra.cluster import Cluster, ClusterArgs
from mlplatform.infra.nodepool import NodePool, NodePoolArgs
from mlplatform.infra.observability import Observability, ObservabilityArgs
from mlplatform.infra.operators import EMISSARY_NAMESPACE, ISTIO_NAMESPACE, Operators, OperatorsArgs
from mlplatform.infra.storage_access import StorageAccess, StorageAccessArgs, storage_credentials, storage_endpoint
from mlplatform.infra.workspace import Workspace, WorkspaceArgs
from mlplatform.workloads.addresses import load_balancer_address
from stacks.context import Platform

EKS_CONTROL_PLANE_LOGS = ("api", "audit", "authenticator")


def bucket_name(stack: str, kind: str, bucket: cfg.Bucket) -> str:
    return bucket.name or f"ml-platform-{stack}-{kind}"


def build_platform(stack: str, settings: cfg.StackConfig, protect: bool) -> Platform:
    """Plan the infrastructure layer of `stack` and return what the workloads layer needs from it."""
    tags = {"project": "ml-platform", "environment": stack}
    buckets = {
        kind: Bucket(
            f"{stack}-{kind}",
            BucketArgs(
                cloud=settings.cloud,
                bucket_name=bucket_name(stack, kind, spec),
                kms_key_id=spec.kms_key_id,
                noncurrent_version_days=spec.noncurrent_version_days,
                protect=protect,
                tags=tags,
            ),
        )
        for kind, spec in (("datasets", settings.buckets.datasets), ("models", settings.buckets.models))
    }
    access = StorageAccess(
        f"{stack}-workloads",
        StorageAccessArgs(cloud=settings.cloud, bucket_names=[b.bucket_name for b in buckets.values()]),
    )
    uses_cgpu = settings.gpu_sharing == "cgpu"
    cluster = Cluster(
        f"{stack}-cluster",
        ClusterArgs(
            cloud=settings.cloud,
            cluster=settings.cluster,
            addons=("ack-ai-installer",) if uses_cgpu else (),
            protect=protect,
            control_plane_logs=EKS_CONTROL_PLANE_LOGS if settings.observability.enabled else (),
            tags=tags,
        ),
    )
    pools = [
        NodePool(
            f"{stack}-{name}",
            NodePoolArgs(
                cloud=settings.cloud,
                pool=pool,
                cluster_id=cluster.cluster_id if settings.cloud == "alicloud" else cluster.cluster_name,
                subnet_ids=cluster.subnet_ids,
                tags=tags,
            ),
        )
        for name, pool in settings.node_pools.items()
    ]
    if settings.observability.enabled:
        Observability(
            f"{stack}-observability",
            ObservabilityArgs(
                cloud=settings.cloud,
                cluster_id=cluster.cluster_id,
                cluster_name=cluster.cluster_name,
                cluster_arn=cluster.cluster_arn,
                subnet_ids=cluster.subnet_ids,
                log_retention_days=settings.observability.log_retention_days,
                control_plane_logs=EKS_CONTROL_PLANE_LOGS,
            ),
        )
    provider = k8s.Provider(f"{stack}-kubernetes", kubeconfig=cluster.kubeconfig, enable_server_side_apply=True)
    on_cluster = pulumi.ResourceOptions(providers={"kubernetes": provider}, depends_on=pools)
    time_slicing = next((p.gpu_replicas for p in settings.node_pools.values() if p.gpu_sharing == "timeSlicing"), None)
    operators = Operators(
        f"{stack}-operators",
        OperatorsArgs(
            cloud=settings.cloud,
            operators=settings.operators,
            time_slicing_replicas=time_slicing,
            install_gpu_plugin=settings.cloud == "aws" and settings.has_gpu_pool,
            internal_lb_annotations=rules.internal_load_balancer_annotations(settings.cloud),
        ),
        opts=on_cluster,
    )
    workspace = Workspace(
        f"{stack}-workspace",
        WorkspaceArgs(
            namespaces=list(get_args(cfg.WorkloadNamespace)),
            storage_credentials=storage_credentials(settings, access.access_key_id, access.access_key_secret),
            labels={"app.kubernetes.io/part-of": "ml-platform"},
        ),
        opts=on_cluster,
    )
    pulumi.export("clusterName", cluster.cluster_name)
    pulumi.export("kubeconfig", cluster.kubeconfig)
    pulumi.export("buckets", {kind: b.uri for kind, b in buckets.items()})
    ingress_host = _ingress_host(stack, settings, provider, operators)
    return Platform(
        stack=stack,
        config=settings,
        provider=provider,
        datasets_bucket=buckets["datasets"].bucket_name,
        models_bucket=buckets["models"].bucket_name,
        bucket_scheme="oss" if settings.cloud == "alicloud" else "s3",
        storage_endpoint=storage_endpoint(settings),
        access_key_id=access.access_key_id,
        access_key_secret=access.access_key_secret,
        operators=operators.ready,
        namespaces=workspace.namespaces,
        ingress_url=operators.ingress_url,
        ingress_host=ingress_host,
    )


def _ingress_host(
    stack: str, settings: cfg.StackConfig, provider: k8s.Provider, operators: Operators
) -> pulumi.Output[str]:
    """The load balancer address the cloud gives the ingress Service, read back after it is installed."""
    if settings.operators.seldon.ingress == "ambassador":
        service_id = f"{EMISSARY_NAMESPACE}/emissary-ingress"
    else:
        service_id = f"{ISTIO_NAMESPACE}/istio-ingressgateway"
    service = k8s.core.v1.Service.get(
        f"{stack}-ingress-service",
        service_id,
        opts=pulumi.ResourceOptions(provider=provider, depends_on=operators.ready),
    )
    return service.status.apply(load_balancer_address)
