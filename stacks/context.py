"""What the stack composition hands from the infrastructure layer to the workloads layer."""

from __future__ import annotations

from dataclasses import dataclass, field

import pulumi
import pulumi_kubernetes as k8s

from mlplatform.config import StackConfig
from mlplatform.workloads.identity import BucketIdentity


@dataclass(frozen=True)
class Platform:
    """The planned infrastructure a workload lands on."""

    stack: str  # the stack's name, which names its resources: dev, prod-aws
    environment: str  # its role: dev or prod
    config: StackConfig
    provider: k8s.Provider
    # Bucket names; model version `color:v2` lives at <scheme>://<models_bucket>/color/v2/.
    datasets_bucket: pulumi.Output[str]
    models_bucket: pulumi.Output[str]
    bucket_scheme: str  # "oss" or "s3"
    storage_endpoint: str  # e.g. https://oss-cn-hangzhou-internal.aliyuncs.com or https://s3.eu-west-1.amazonaws.com
    # How workloads reach the buckets without keys (RRSA roles on ACK, Pod Identity on EKS).
    bucket_identity: BucketIdentity
    # Installed operators (Seldon, training-operator, GPU plugin): workloads depend on them.
    operators: list[pulumi.Resource]
    # The teams' namespaces, by name: the default team's "training", "models", "notebooks", then e.g.
    # "vision-models" (mlplatform/infra/tenancy.py); `config.namespace_of` names a workload's.
    namespaces: dict[str, k8s.core.v1.Namespace]
    # Where the Seldon ingress answers inside the cluster, for endpoint URLs
    # (e.g. http://emissary-ingress.seldon-system.svc.cluster.local).
    ingress_url: str
    # Address of the ingress's load balancer, for the public endpoint outputs: an output of the LoadBalancer
    # Service the Operators own (never a read of a chart's Service, which may not exist during a preview).
    ingress_host: pulumi.Output[str]
    # The cluster's id and name, for the console links among the stack outputs (`dashboards`).
    cluster_id: pulumi.Output[str] | None = None
    cluster_name: pulumi.Output[str] | None = None
    # The SLS project the observability component created (its name carries a random suffix), on Alibaba Cloud.
    log_project: pulumi.Output[str] | None = None
    # KServe (when a serving asks for it): its installs, its Gateway in-cluster and the address of the
    # LoadBalancer Service the KServe component owns in front of the Gateway's proxy.
    kserve: list[pulumi.Resource] = field(default_factory=list)
    kserve_ingress_url: str = ""
    kserve_ingress_host: pulumi.Output[str] | None = None
    # Kubeflow Trainer v2 (when a job has api: v2) and KEDA (when an LLM serving scales), for what depends on them.
    trainer: list[pulumi.Resource] = field(default_factory=list)
    # Katib (mlplatform/infra/katib.py), installed when the stack has experiments.
    katib: list[pulumi.Resource] = field(default_factory=list)
    keda: list[pulumi.Resource] = field(default_factory=list)
    # The Prometheus HTTP API KEDA's triggers query, installed with KEDA (mlplatform/infra/keda.py).
    keda_prometheus: str = ""

    @property
    def protect(self) -> bool:
        return self.environment == "prod"
