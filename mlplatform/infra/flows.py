"""Every connection the platform's workloads need, as one table: the teams' NetworkPolicies are generated from it,
and `tests/infra/test_flows.py` judges every row against the rendered policies with network-config-analyzer.

A flow names its two ends, its ports, why it exists and where that is documented. An end (`Peer`) is one of:
- the team's own workload namespaces of some kinds (`training`, `models`, `notebooks`; mlplatform/config/teams.py),
  or the namespace the other end is in (`SAME_NAMESPACE`);
- a platform namespace (a gateway, a metrics agent), optionally only its pods with some labels;
- addresses (a CIDR, with exceptions), for what is outside the pod network: load balancer clients, managed
  scrapers' network interfaces, the cloud's APIs.

Team namespaces deny everything by default (`default-deny`); each flow then opens exactly its direction on its
side(s): an egress rule in the source's namespace and an ingress rule in the destination's, where those are team
namespaces. Platform namespaces (gateways, operators, metrics agents) carry no policy of ours, so a flow into or out
of them needs only the team side, and a flow between two of them (KEDA and its Prometheus) is listed for the record
and crosses no fence. `BLOCKED` lists what must stay closed (the instance metadata services).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from mlplatform.config import StackConfig
from mlplatform.config.teams import DEFAULT_TEAM, TEAM_NAMESPACES
from mlplatform.infra import gpu_monitoring
from mlplatform.infra.cluster import cluster_dns
from mlplatform.infra.katib import COMPONENT_LABEL, DB_MANAGER_PORT, KATIB_NAMESPACE, SUGGESTION_PORT
from mlplatform.infra.keda import (
    GATEWAY_NAME_LABEL,
    ISTIO_METRICS_PORT,
    KEDA_NAMESPACE,
    PROMETHEUS_CONTAINER_PORT,
    PROMETHEUS_NAMESPACE,
)
from mlplatform.infra.kserve import GATEWAY_NAME, KSERVE_NAMESPACE
from mlplatform.infra.observability import arms_vswitch
from mlplatform.infra.operators import EMISSARY_NAMESPACE, ISTIO_NAMESPACE

# Instance metadata services that pods must not reach: Alibaba ECS (100.100.100.200) and AWS IMDS (169.254.169.254).
METADATA_CIDRS = ("100.100.100.200/32", "169.254.169.254/32")
ANYWHERE = "0.0.0.0/0"
# The Kubernetes API server as pods reach it: 443 on EKS (the `kubernetes` Service's endpoints are the control
# plane's network interfaces in the VPC, EKS user guide "Amazon EKS networking"); 6443 on ACK, the port of the API
# server's internal load balancer behind the `kubernetes` Service (ACK "Cluster API server endpoint").
API_PORTS = {"alicloud": (6443,), "aws": (443,)}
# The EKS Pod Identity agent answers pods on the node's link-local 169.254.170.23, port 80
# (docs.aws.amazon.com/eks/latest/userguide/pod-id-agent-setup.html).
POD_IDENTITY_AGENT = ("169.254.170.23/32", 80)
# In-cluster metrics agents that scrape workload pods: ACK's managed Prometheus agent (`arms-prom`,
# mlplatform/infra/observability.py), the CloudWatch agent of Container Insights (`amazon-cloudwatch`). Not on ASK:
# there ARMS installs its agent "on the cloud service side, not in user clusters" (ARMS API InstallManagedPrometheus,
# https://www.alibabacloud.com/help/en/arms/prometheus-monitoring/api-arms-2019-08-08-installmanagedprometheus), so
# its scrapes come from the VPC (`scraper_networks`; `metrics_namespaces`).
METRICS_NAMESPACES = {"alicloud": ("arms-prom",), "aws": ("amazon-cloudwatch",)}
# Namespaces the cloud and its add-ons may create, not the plan: `kube-system` (Kubernetes), `arms-prom` (ACK's
# managed Prometheus agent; none on ASK, where no flow names it), `amazon-cloudwatch` (the
# amazon-cloudwatch-observability EKS add-on).
CLOUD_NAMESPACES = {"alicloud": ("kube-system", "arms-prom"), "aws": ("kube-system", "amazon-cloudwatch")}
# The container port Seldon's metrics are served on, by name: what the managed scrape configuration keeps
# (`__meta_kubernetes_pod_container_port_name` = metrics, mlplatform/infra/observability.py).
METRICS_PORT_NAME = "metrics"
# The Kubeflow notebook controller labels a notebook's pod `notebook-name: <notebook>` (components/
# notebook-controller/controllers/notebook_controller.go, generateStatefulSet); Jupyter listens on 8888.
NOTEBOOK_POD_LABEL = "notebook-name"
JUPYTER_PORT = 8888
# Behind `notebookSso` the exposed pod is the notebook's oauth2-proxy, `<notebook>-sso`, on its HTTP port
# (mlplatform/workloads/sso.py `HTTP_PORT`; oauth2-proxy's default `--http-address` port).
SSO_PROXY_PORT = 4180
# Workload kinds the gateways route requests to.
BEHIND_GATEWAY = ("models", "notebooks")
# Workload kinds whose pods call the Kubernetes API (the training-operator's MPI launcher execs into workers;
# notebook users run kubectl).
NEEDS_API = ("training", "notebooks")

# Why and where documented, per cloud, of a managed collector's scrapes (`scraper_networks`).
SCRAPER_REASONS = {
    "aws": (
        "the Amazon Managed Prometheus collector scrapes Seldon's metrics port from its network interfaces in the "
        "cluster's subnets",
        "docs.aws.amazon.com/prometheus/latest/userguide/AMP-collector-how-to.html",
    ),
    "alicloud": (
        "ASK: ARMS's managed collector, outside the cluster, scrapes Seldon's metrics port (the PodMonitor's "
        "`metrics` port) from the vSwitch the ARMS instance is attached to",
        "ARMS API InstallManagedPrometheus (ask: VpcId, VSwitchId, SecurityGroupId; agent on the cloud side); "
        "pulumi-alicloud 4.0.0 arms.Prometheus vswitch_id; mlplatform/infra/observability.py arms_vswitch",
    ),
}

Port = tuple[str, int | str]  # (protocol, number or container port name)


@dataclass(frozen=True)
class Peer:
    """One end of a flow (see the module docstring): team namespaces of `kinds`, the same namespace as the other
    end, a platform `namespace`, or the addresses of `cidr` but `excluding`; `pods` narrows it to labelled pods."""

    kinds: tuple[str, ...] = ()
    same_namespace: bool = False
    namespace: str | None = None
    cidr: str | None = None
    excluding: tuple[str, ...] = ()
    pods: tuple[tuple[str, str], ...] = ()

    def covers(self, kind: str) -> bool:
        """This end includes the team's namespace of `kind`."""
        return kind in self.kinds

    def __str__(self) -> str:
        where = (
            f"team namespaces {'/'.join(self.kinds)}"
            if self.kinds
            else "the same namespace"
            if self.same_namespace
            else f"namespace {self.namespace}"
            if self.namespace
            else f"{self.cidr}" + (f" except {', '.join(self.excluding)}" if self.excluding else "")
        )
        return where + (f" pods {dict(self.pods)}" if self.pods else "")


SAME_NAMESPACE = Peer(same_namespace=True)
EVERY_KIND = Peer(kinds=TEAM_NAMESPACES)


@dataclass(frozen=True)
class Flow:
    """A connection the platform needs: from `source` to `destination` on `ports` (none: every port); `team`
    limits it to one team's namespaces (a workload's own load balancer)."""

    name: str
    source: Peer
    destination: Peer
    ports: tuple[Port, ...]
    why: str
    reference: str
    team: str | None = None

    def applies_to(self, team: str) -> bool:
        return self.team in (None, team)


def _namespace(name: str) -> Peer:
    return Peer(namespace=name)


def _cidr(cidr: str) -> Peer:
    return Peer(cidr=cidr)


def gateway_namespaces(settings: StackConfig) -> list[str]:
    """The namespaces of the gateways that route to servings and notebooks: Seldon's ingress, KServe's Gateway."""
    gateways = [EMISSARY_NAMESPACE if settings.operators.seldon.ingress == "ambassador" else ISTIO_NAMESPACE]
    if any(serving.backend == "kserve" for serving in settings.servings.values()):
        gateways.append(KSERVE_NAMESPACE)
    return gateways


def exposed_pods(settings: StackConfig, team: str) -> dict[str, list[tuple[str, dict[str, str], int]]]:
    """Per namespace kind of `team`: (workload, pod labels, port) of each workload given a load balancer."""
    exposed: dict[str, list[tuple[str, dict[str, str], int]]] = {}
    for name, service in settings.web_services.items():
        if service.expose and (service.team or DEFAULT_TEAM) == team:
            exposed.setdefault(service.namespace, []).append((name, {"app.kubernetes.io/name": name}, service.port))
    for name, notebook in settings.notebooks.items():
        if notebook.expose and (notebook.team or DEFAULT_TEAM) == team:
            if settings.notebook_sso:
                pods = {"app.kubernetes.io/name": f"{name}-sso"}
                exposed.setdefault("notebooks", []).append((name, pods, SSO_PROXY_PORT))
            else:
                exposed.setdefault("notebooks", []).append((name, {NOTEBOOK_POD_LABEL: name}, JUPYTER_PORT))
    return exposed


def load_balancer_clients(settings: StackConfig) -> str:
    """Where an internal load balancer's clients are: the VPC the platform created, or (an existing VPC, whose
    address range the config does not hold) anywhere."""
    network = settings.cluster.network
    return ANYWHERE if network.vpc_id else network.cidr


def serverless(settings: StackConfig) -> bool:
    """The cluster is ASK (config rejects a serverless EKS): every pod an ECI, the managed parts outside it."""
    return settings.cluster.kind == "serverless"


def metrics_namespaces(settings: StackConfig) -> tuple[str, ...]:
    """The namespaces of the in-cluster agents that scrape workload pods (`METRICS_NAMESPACES`); none on ASK."""
    return () if serverless(settings) else METRICS_NAMESPACES[settings.cloud]


def scraper_networks(settings: StackConfig) -> tuple[str, ...]:
    """The addresses a managed Prometheus collector outside the cluster scrapes from; an existing VPC's subnets
    are not in the config, so there the VPC's whole range stands for them.

    - AWS: the collector's network interfaces sit in the subnets the scraper is given, the cluster's private
      subnets (AMP user guide, "Using an AWS managed collector": the collector "creates elastic network interfaces
      in the subnets ... of your cluster").
    - ASK: ARMS runs the collector on the cloud side and attaches it to the VPC, vSwitch and security group the
      instance is given (InstallManagedPrometheus `VpcId`/`VSwitchId`/`SecurityGroupId`, all required for `ask`;
      pulumi-alicloud 4.0.0 `arms.Prometheus` `vswitch_id`: "required ... `aliyun-cs` (ASK instance)"). The docs
      name no source address; that vSwitch is the one place in the VPC the instance is given, so its scrapes of
      the ECI pods' VPC addresses come from that vSwitch's range (`observability.arms_vswitch`).
    - ACK managed and ACK@Edge: none, the agent is in the cluster (`metrics_namespaces`).
    """
    network = settings.cluster.network
    if not settings.observability.enabled:
        return ()
    if settings.cloud == "aws":
        return tuple(zone.cidr for zone in network.zones) or (load_balancer_clients(settings),)
    if serverless(settings):
        return (arms_vswitch(network.zones).cidr if network.zones else load_balancer_clients(settings),)
    return ()


def monitors_gpus(settings: StackConfig) -> bool:
    """The stack runs the DCGM exporter on its GPU pools (mlplatform/infra/gpu_monitoring.py) and scrapes it."""
    return settings.observability.enabled and settings.has_gpu_pool and not serverless(settings)


def enforces_network_policies(settings: StackConfig) -> bool:
    """The cluster's network plugin enforces NetworkPolicies: Terway on ACK (`NetworkPolicy: "true"`), Poseidon on
    ASK (Pro), the VPC CNI's network policy agent on EKS (mlplatform/infra/cluster.py, eks_addons.py). ACK@Edge runs
    flannel, which implements none (ACK "Use network policies": Terway only), so there the policies are not
    rendered: a fence that is not enforced would only look like one."""
    return not (settings.cloud == "alicloud" and settings.cluster.kind == "edge")


def platform_flows(settings: StackConfig) -> tuple[Flow, ...]:
    """Every flow the stack's workloads need, in a stable order."""
    return tuple(_flows(settings))


def _flows(settings: StackConfig) -> Iterator[Flow]:
    cloud = settings.cloud
    dns = cluster_dns(cloud, settings.cluster.kind)
    yield Flow(
        "dns",
        EVERY_KIND,
        Peer(namespace=dns.namespace, pods=tuple(sorted(dns.pod_labels.items())))
        if dns.namespace and dns.pod_labels
        else Peer(cidr=ANYWHERE, excluding=METADATA_CIDRS),
        dns.ports,
        "Service names (SERVING_URL, TFJob worker addresses, torchrun rendezvous) resolve at the cluster DNS",
        "mlplatform/infra/cluster.py cluster_dns",
    )
    yield Flow(
        "same-namespace",
        EVERY_KIND,
        SAME_NAMESPACE,
        (),
        "training replicas reach each other (TFJob 2222, torchrun 29500, MPI ssh); a web service its serving's "
        "pods; an SSO proxy its notebook",
        "Kubeflow training-operator v1.9 `pkg/controller.v1/*` default ports; mlplatform/workloads/sso.py",
    )
    for gateway in gateway_namespaces(settings):
        yield Flow(
            f"{gateway}-to-workloads",
            _namespace(gateway),
            Peer(kinds=BEHIND_GATEWAY),
            (),
            "the gateway routes requests to the servings and notebooks",
            "mlplatform/infra/operators.py, mlplatform/infra/kserve.py",
        )
        yield Flow(
            f"workloads-to-{gateway}",
            EVERY_KIND,
            _namespace(gateway),
            (),
            "in-cluster endpoint URLs (a web service's SERVING_URL, in any team namespace) go through the gateway",
            "mlplatform/workloads/webservice.py SERVING_URL",
        )
    for agent in metrics_namespaces(settings):
        yield Flow(
            f"{agent}-scrapes-workloads",
            _namespace(agent),
            EVERY_KIND,
            (),
            "the in-cluster metrics agent scrapes workload pods",
            "mlplatform/infra/observability.py",
        )
    for cidr in scraper_networks(settings):
        yield Flow(
            f"managed-prometheus-scrapes-models-from-{cidr}",
            Peer(cidr=cidr),
            Peer(kinds=("models",)),
            (("TCP", METRICS_PORT_NAME),),
            *SCRAPER_REASONS[cloud],
        )
    if monitors_gpus(settings):
        exporter = Peer(namespace=gpu_monitoring.NAMESPACE, pods=tuple(sorted(gpu_monitoring.POD_LABELS.items())))
        for scraper in (
            *(_namespace(agent) for agent in metrics_namespaces(settings)),
            *map(_cidr, scraper_networks(settings)),
        ):
            yield Flow(
                f"{scraper.namespace or scraper.cidr}-scrapes-gpu-metrics",
                scraper,
                exporter,
                (("TCP", gpu_monitoring.PORT),),
                "the cloud's Prometheus scrapes the DCGM exporter on every GPU node (utilisation, memory, idle alert)",
                "mlplatform/infra/gpu_monitoring.py (dcgm-exporter 4.8.2 values.yaml `service.port`)",
            )
    if settings.scales_llms:
        yield Flow(
            "keda-queries-prometheus",
            _namespace(KEDA_NAMESPACE),
            _namespace(PROMETHEUS_NAMESPACE),
            (("TCP", PROMETHEUS_CONTAINER_PORT),),
            "KEDA reads the Gateway's request rate that wakes an LLM from zero",
            "mlplatform/infra/keda.py prometheus_address",
        )
        yield Flow(
            "prometheus-scrapes-gateway",
            _namespace(PROMETHEUS_NAMESPACE),
            Peer(namespace=KSERVE_NAMESPACE, pods=((GATEWAY_NAME_LABEL, GATEWAY_NAME),)),
            (("TCP", ISTIO_METRICS_PORT),),
            "the request counts of the KServe Gateway's proxy (istio_requests_total)",
            "mlplatform/infra/keda.py (istio release-1.31 kube-gateway.yaml)",
        )
    if settings.experiments:
        yield Flow(
            "katib-metrics-to-db-manager",
            Peer(kinds=("training",)),
            Peer(namespace=KATIB_NAMESPACE, pods=((COMPONENT_LABEL, "db-manager"),)),
            (("TCP", DB_MANAGER_PORT),),
            "the metrics collector sidecar in each trial's primary pod reports the trial's metrics to Katib's DB manager",
            "kubeflow/katib v0.19.0 manifests/v1beta1/components/db-manager/service.yaml; mlplatform/infra/katib.py",
        )
        yield Flow(
            "katib-controller-to-suggestions",
            Peer(namespace=KATIB_NAMESPACE, pods=((COMPONENT_LABEL, "controller"),)),
            Peer(kinds=("training",)),
            (("TCP", SUGGESTION_PORT),),
            "Katib's controller asks each experiment's suggestion service, in the experiment's namespace, for trials",
            "kubeflow/katib v0.19.0 pkg/controller.v1beta1/consts/const.go DefaultSuggestionPort",
        )
    outside = Peer(cidr=ANYWHERE, excluding=METADATA_CIDRS)
    yield Flow(
        "https",
        EVERY_KIND,
        outside,
        (("TCP", 443),),
        "the buckets' OSS/S3 endpoints, STS for workload identity, OIDC issuers, model hubs",
        "mlplatform/workloads/volumes.py, mlplatform/workloads/identity.py",
    )
    api_ports = tuple(port for port in API_PORTS[cloud] if port != 443)
    if api_ports:
        yield Flow(
            "kubernetes-api",
            Peer(kinds=NEEDS_API),
            outside,
            tuple(("TCP", port) for port in api_ports),
            "MPI launchers exec into their workers; notebook users run kubectl",
            "Alibaba Cloud ACK: the API server's internal load balancer listens on 6443",
        )
    if cloud == "aws":
        cidr, port = POD_IDENTITY_AGENT
        yield Flow(
            "pod-identity-agent",
            EVERY_KIND,
            Peer(cidr=cidr),
            (("TCP", port),),
            "workloads get their bucket credentials from the node's EKS Pod Identity agent",
            "docs.aws.amazon.com/eks/latest/userguide/pod-id-agent-setup.html",
        )
    clients = load_balancer_clients(settings)
    for team in settings.all_teams:
        for kind, workloads in exposed_pods(settings, team).items():
            for workload, labels, port in workloads:
                yield Flow(
                    f"load-balancer-{workload}",
                    Peer(cidr=clients),
                    Peer(kinds=(kind,), pods=tuple(sorted(labels.items()))),
                    (("TCP", port),),
                    f"clients in the VPC reach {workload} through its internal load balancer",
                    "docs/cloud-rules.md (internal load balancers)",
                    team=team,
                )


# What no workload may reach: the instance metadata services (node credentials), on every port.
BLOCKED = tuple(
    Flow(
        f"metadata-{cidr}",
        EVERY_KIND,
        Peer(cidr=cidr),
        (),
        "the node's instance metadata (and its role's credentials) stays out of pods' reach",
        "docs/cloud-rules.md (no long-lived keys)",
    )
    for cidr in METADATA_CIDRS
)
