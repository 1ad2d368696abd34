"""The infrastructure every environment has: buckets, cluster, node pools, operators, observability."""

from __future__ import annotations

from typing import get_args

import pulumi
import pulumi_kubernetes as k8s

from mlplatform import config as cfg
from mlplatform import rules
from mlplatform.infra.bucket import Bucket, BucketArgs, internal_endpoint
from mlplatform.infra.cluster import Cluster, ClusterArgs
from mlplatform.infra.eks_addons import EksAddons, EksAddonsArgs
from mlplatform.infra.flows import enforces_network_policies, monitors_gpus, platform_flows
from mlplatform.infra.gpu_monitoring import GpuMonitoring, GpuMonitoringArgs, IdleThreshold
from mlplatform.infra.istio import KSERVE_TYPE, OPERATORS_TYPE, Istio, IstioArgs
from mlplatform.infra.karpenter import Karpenter, KarpenterArgs
from mlplatform.infra.katib import KATIB_INJECTION, Katib, KatibArgs
from mlplatform.infra.keda import Keda, KedaArgs
from mlplatform.infra.kserve import GATEWAY_NAME, KSERVE_NAMESPACE, KServe, KServeArgs
from mlplatform.infra.nodepool import KarpenterNodes, NodePool, NodePoolArgs
from mlplatform.infra.observability import Observability, ObservabilityArgs
from mlplatform.infra.operators import Operators, OperatorsArgs
from mlplatform.infra.tenancy import Team, TeamArgs
from mlplatform.infra.trainer import Trainer, TrainerArgs
from mlplatform.infra.workspace import Workspace, WorkspaceArgs
from mlplatform.workloads.identity import BucketIdentity
from stacks.context import Platform

EKS_CONTROL_PLANE_LOGS = ("api", "audit", "authenticator")


def bucket_name(stack: str, kind: str, bucket: cfg.Bucket) -> str:
    return bucket.name or f"ml-platform-{stack}-{kind}"


def build_platform(stack: str, environment: str, settings: cfg.StackConfig) -> Platform:
    """Plan the infrastructure layer of `stack` (a dev or prod environment) for the workloads layer.

    Resource names start with the stack's name (`dev-cluster`, `prod-aws-cluster`); what differs between
    environments (protection, NAT redundancy) follows `environment`.
    """
    protect = environment == "prod"
    tags = {"project": "ml-platform", "environment": environment, "stack": stack}
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
    uses_cgpu = settings.gpu_sharing == "cgpu"
    cluster = Cluster(
        cluster_resource_name(stack),
        ClusterArgs(
            cloud=settings.cloud,
            cluster=settings.cluster,
            addons=("ack-ai-installer",) if uses_cgpu else (),
            protect=protect,
            control_plane_logs=EKS_CONTROL_PLANE_LOGS if settings.observability.enabled else (),
            nat_per_zone=_nat_per_zone(environment, settings.cluster.network),
            tags=tags,
        ),
    )
    provider = kubernetes_provider(stack, cluster.kubeconfig)
    pools = _capacity(stack, settings, cluster, provider, tags)
    observability = None
    idle = settings.observability.idle_gpu
    if settings.observability.enabled:
        observability = Observability(
            f"{stack}-observability",
            ObservabilityArgs(
                cloud=settings.cloud,
                cluster_id=cluster.cluster_id,
                cluster_name=cluster.cluster_name,
                cluster_arn=cluster.cluster_arn,
                subnet_ids=cluster.subnet_ids,
                log_retention_days=settings.observability.log_retention_days,
                cluster_kind=settings.cluster.kind,
                vpc_id=cluster.vpc_id,
                security_group_id=cluster.security_group_id,
                depends_on=tuple(pools),
                gpu=IdleThreshold(idle.utilization, idle.minutes) if monitors_gpus(settings) else None,
            ),
        )
    on_cluster = pulumi.ResourceOptions(providers={"kubernetes": provider}, depends_on=pools)
    if monitors_gpus(settings):
        GpuMonitoring(
            f"{stack}-gpu-monitoring",
            GpuMonitoringArgs(image_registry=settings.operators.image_registry),
            opts=on_cluster,
        )
    time_slicing = next((p.gpu_replicas for p in settings.node_pools.values() if p.gpu_sharing == "timeSlicing"), None)
    istio = _istio(stack, settings, on_cluster)
    operators = Operators(
        f"{stack}-operators",
        OperatorsArgs(
            cloud=settings.cloud,
            operators=settings.operators,
            time_slicing_replicas=time_slicing,
            install_gpu_plugin=settings.cloud == "aws" and settings.has_gpu_pool,
            mig=bool(settings.mig_profiles()),
            internal_lb_annotations=rules.internal_load_balancer_annotations(settings.cloud),
            istio=istio,
        ),
        opts=on_cluster,
    )
    workspace = Workspace(
        f"{stack}-workspace",
        WorkspaceArgs(cloud=settings.cloud),
        opts=on_cluster,
    )
    pulumi.export("clusterName", cluster.cluster_name)
    pulumi.export("kubeconfig", cluster.kubeconfig)
    pulumi.export("buckets", {kind: b.uri for kind, b in buckets.items()})
    serving_and_training = _serving_and_training_operators(stack, settings, on_cluster, istio)
    return Platform(
        **serving_and_training,
        stack=stack,
        environment=environment,
        config=settings,
        provider=provider,
        datasets_bucket=buckets["datasets"].bucket_name,
        models_bucket=buckets["models"].bucket_name,
        bucket_scheme="oss" if settings.cloud == "alicloud" else "s3",
        storage_endpoint=internal_endpoint(settings.cloud, settings.region),
        bucket_identity=BucketIdentity(
            cloud=settings.cloud,
            oidc_provider_arn=cluster.rrsa_provider_arn,
            oidc_issuer_url=cluster.rrsa_issuer_url,
            cluster_name=cluster.cluster_name,
            allow_delete=environment != "prod",
            stack=stack,
            mounts_in_pod=settings.cluster.kind == "serverless",  # ASK: every pod an ECI (identity.py)
        ),
        operators=operators.ready,
        namespaces=_teams(stack, settings, cluster, workspace, on_cluster),
        ingress_url=operators.ingress_url,
        ingress_host=operators.ingress_host,
        cluster_id=cluster.cluster_id,
        cluster_name=cluster.cluster_name,
        log_project=observability.log_project if observability else None,
    )


def _teams(
    stack: str, settings: cfg.StackConfig, cluster: Cluster, workspace: Workspace, on_cluster: pulumi.ResourceOptions
) -> dict[str, k8s.core.v1.Namespace]:
    """A Team per team (the default one always): the workload namespaces, fenced, by namespace name.

    The default team's namespaces were the Workspace's children: aliases keep their URNs, so nothing is replaced.
    """
    flows = platform_flows(settings)
    fence_network = enforces_network_policies(settings)
    if not fence_network:
        pulumi.log.warn(
            "ACK@Edge runs flannel, which does not enforce NetworkPolicies: the team namespaces get none and are not "
            "fenced on the network (docs/cloud-rules.md, Teams)"
        )
    namespaces: dict[str, k8s.core.v1.Namespace] = {}
    for team, spec in settings.all_teams.items():
        component = Team(
            f"{stack}-team-{team}",
            TeamArgs(
                cloud=settings.cloud,
                team=team,
                config=spec,
                cluster_name=cluster.cluster_name,
                cluster_id=cluster.cluster_id,
                flows=flows,
                fence_network=fence_network,
                labels={"app.kubernetes.io/part-of": "ml-platform"},
                # Katib injects its metrics collector into trial pods of labelled namespaces only (katib.py).
                kind_labels={"training": {KATIB_INJECTION[0]: KATIB_INJECTION[1]}} if settings.experiments else {},
                namespace_aliases={
                    kind: [pulumi.Alias(name=f"{stack}-workspace-{kind}", parent=workspace)]
                    for kind in get_args(cfg.WorkloadNamespace)
                }
                if team == cfg.DEFAULT_TEAM
                else {},
            ),
            opts=on_cluster,
        )
        namespaces.update(component.namespaces)
    return namespaces


def _nat_per_zone(environment: str, network: cfg.Network) -> bool:
    """prod keeps egress through a zone outage with a NAT gateway per zone; dev shares one."""
    return (network.nat_gateways or ("perZone" if environment == "prod" else "single")) == "perZone"


def _capacity(
    stack: str,
    settings: cfg.StackConfig,
    cluster: Cluster,
    provider: k8s.Provider,
    tags: dict[str, str],
) -> list[pulumi.Resource]:
    """The node pools, and on EKS the add-ons and Karpenter that give them nodes: what workloads wait for."""
    if settings.cloud == "alicloud":
        return [
            NodePool(
                f"{stack}-{name}",
                NodePoolArgs("alicloud", pool, cluster.cluster_id, cluster.subnet_ids, tags, config_name=name),
            )
            for name, pool in settings.node_pools.items()
        ]
    addons = EksAddons(
        f"{stack}-addons",
        EksAddonsArgs(cluster_name=cluster.cluster_name, depends_on=[cluster.system_nodes]),
    )
    karpenter = Karpenter(
        f"{stack}-karpenter",
        KarpenterArgs(
            cluster_name=cluster.cluster_name,
            cluster_arn=cluster.cluster_arn,
            region=settings.region,
            depends_on=addons.ready,
            image_registry=settings.operators.image_registry,
        ),
        opts=pulumi.ResourceOptions(providers={"kubernetes": provider}),
    )
    nodes = KarpenterNodes(
        node_role_name=karpenter.node_role_name,
        subnet_ids=cluster.subnet_ids,
        security_group_id=cluster.security_group_id,
        cluster_name=cluster.cluster_name,
    )
    pools = [
        NodePool(
            f"{stack}-{name}",
            NodePoolArgs(
                cloud="aws",
                pool=pool,
                cluster_id=cluster.cluster_name,
                subnet_ids=cluster.subnet_ids,
                tags=tags,
                karpenter=nodes,
                config_name=name,
            ),
            opts=pulumi.ResourceOptions(providers={"kubernetes": provider}, depends_on=[karpenter.release]),
        )
        for name, pool in settings.node_pools.items()
    ]
    return [*addons.ready, karpenter.release, *pools]


def kubernetes_provider(stack: str, kubeconfig: pulumi.Input[str]) -> k8s.Provider:
    """The stack's Kubernetes provider, identified by its cluster's resource name (known when the program starts).

    pulumi-kubernetes replaces a provider whose kubeconfig is unknown in a preview (a cluster update), and with
    it every object it manages, unless `clusterIdentifier` is set: then only a change of the identifier replaces
    it, and any other change of its configuration is an update (4.34.2 `Provider` docs, `cluster_identifier`;
    `provider/pkg/provider/provider.go` `DiffConfig`). Adding the identifier to a deployed provider is no replace
    by itself (DiffConfig ignores an added or removed identifier), so add it in an `up` whose kubeconfig is known.
    """
    return k8s.Provider(
        f"{stack}-kubernetes",
        kubeconfig=kubeconfig,
        cluster_identifier=cluster_resource_name(stack),
        enable_server_side_apply=True,
    )


def cluster_resource_name(stack: str) -> str:
    """The Cluster component's resource name: stable for the cluster's life, unlike its kubeconfig or endpoint."""
    return f"{stack}-cluster"


def _istio(stack: str, settings: cfg.StackConfig, on_cluster: pulumi.ResourceOptions) -> list[pulumi.Resource]:
    """Istio's control plane, once, when Seldon's istio ingress or a KServe serving runs on it (no owner else)."""
    if settings.operators.seldon.ingress != "istio" and not any(
        s.backend == "kserve" for s in settings.servings.values()
    ):
        return []
    istio = Istio(
        f"{stack}-istio",
        IstioArgs(
            image_registry=settings.operators.image_registry,
            former_owners={KSERVE_TYPE: f"{stack}-kserve", OPERATORS_TYPE: f"{stack}-operators"},
        ),
        opts=on_cluster,
    )
    return istio.ready


def _serving_and_training_operators(
    stack: str, settings: cfg.StackConfig, on_cluster: pulumi.ResourceOptions, istio: list[pulumi.Resource]
) -> dict:
    """KServe, Kubeflow Trainer v2, KEDA and Katib, each installed only when the stack's workloads use it."""
    installed: dict = {}
    servings = settings.servings.values()
    if any(serving.backend == "kserve" for serving in servings):
        kserve = KServe(
            f"{stack}-kserve",
            KServeArgs(
                install_gateway_api=settings.cloud != "alicloud",
                internal_lb_annotations=rules.internal_load_balancer_annotations(settings.cloud),
                local_model_cache=any(serving.llm and serving.llm.cache for serving in servings),
                depends_on=istio,
                image_registry=settings.operators.image_registry,
            ),
            opts=on_cluster,
        )
        installed.update(
            kserve=kserve.ready, kserve_ingress_url=kserve.ingress_url, kserve_ingress_host=kserve.ingress_host
        )
    if settings.scales_llms:
        keda = Keda(
            f"{stack}-keda",
            KedaArgs(
                gateway_namespace=KSERVE_NAMESPACE,
                gateway=GATEWAY_NAME,
                image_registry=settings.operators.image_registry,
            ),
            opts=on_cluster,
        )
        installed.update(keda=keda.ready, keda_prometheus=keda.prometheus_address)
    trials = [experiment.trial for experiment in settings.experiments.values()]
    v2_jobs = [job for job in [*settings.training_jobs.values(), *trials] if job.api == "v2"]
    if v2_jobs:
        trainer = Trainer(
            f"{stack}-trainer",
            TrainerArgs(
                runtimes=tuple(job.trainer_runtime for job in v2_jobs),
                image_registry=settings.operators.image_registry,
            ),
            opts=on_cluster,
        )
        installed["trainer"] = trainer.ready
    if settings.experiments:
        katib = Katib(f"{stack}-katib", KatibArgs(image_registry=settings.operators.image_registry), opts=on_cluster)
        installed["katib"] = katib.ready
    return installed
