"""A team's fenced namespaces: quota, container defaults, pod security, who may edit them, and their network.

Per namespace of the team (one per workload kind: `training`, `models`, `notebooks`; `vision-models` for team
`vision`, mlplatform/config/teams.py):

- The Namespace, labelled with Pod Security Admission levels: `enforce` as the team's config says
  (`restricted`, or `baseline` where docs/cloud-rules.md gives the reason), `warn` and `audit` always
  `restricted`, each at version `latest` (kubernetes.io/docs/concepts/security/pod-security-admission/).
- A ResourceQuota (`spec.hard`: `requests.cpu`, `requests.memory`, `limits.*`, `requests.nvidia.com/gpu`,
  `requests.aliyun.com/gpu-mem`, `pods`; extended resources are quota'd by their `requests.` name only,
  kubernetes.io/docs/concepts/policy/resource-quotas/#resource-quota-for-extended-resources) and a LimitRange
  whose container defaults let the quota admit pods whose operator-injected containers name no resources
  (kubernetes.io/docs/concepts/policy/limit-range/).
- RBAC: a ClusterRole `ml-platform-team-<team>` (namespaced resources the workloads use; NetworkPolicies,
  ResourceQuotas and LimitRanges read-only, so a team cannot open its own fence) bound in each namespace:
  - EKS: a RoleBinding to the Kubernetes group `ml-platform:<team>`, and an access entry per IAM principal
    (`aws.eks.AccessEntry`, type STANDARD, `kubernetes_groups`) putting the principal in that group
    (docs.aws.amazon.com/eks/latest/userguide/create-k8s-group-access-entry.html; the cluster runs
    `authentication_mode: API`).
  - ACK: `alicloud.cs.KubernetesPermission` per RAM user or role (by ID, `is_ram_role`), a custom
    (`is_custom`) grant of the ClusterRole in each namespace (`role_type: namespace`); ACK writes the
    RoleBindings for the identity itself (ACK GrantPermissions API; pulumi-alicloud 4.0.0 `cs.KubernetesPermission`).
- NetworkPolicies: deny all ingress and egress, then allow DNS (UDP/TCP 53 to kube-system), traffic inside the
  namespace (training replicas, a web service calling its serving's pods), ingress from the gateways
  (Emissary, Istio, the KServe Gateway) to servings and notebooks and egress to them (in-cluster endpoint URLs
  go through the gateway), ingress from the operators and metrics scrapers, HTTPS (443) egress anywhere but
  the instance metadata addresses (the buckets' OSS/S3 endpoints, STS for RRSA), the Kubernetes API where a
  workload kind needs it (training: MPI launchers; notebooks: kubectl), the EKS Pod Identity agent on AWS,
  and the team's own allowances.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import pulumi
import pulumi_alicloud as alicloud
import pulumi_aws as aws
import pulumi_kubernetes as k8s

from mlplatform.config import StackConfig
from mlplatform.config import teams as team_config
from mlplatform.config.teams import DEFAULT_TEAM, TEAM_NAMESPACES, team_namespace
from mlplatform.infra.kserve import KSERVE_NAMESPACE
from mlplatform.infra.operators import EMISSARY_NAMESPACE, ISTIO_NAMESPACE, SELDON_NAMESPACE

PSA_PREFIX = "pod-security.kubernetes.io"
# Instance metadata services that pods must not reach: Alibaba ECS (100.100.100.200) and AWS IMDS (169.254.169.254).
METADATA_CIDRS = ("100.100.100.200/32", "169.254.169.254/32")
# The EKS Pod Identity agent answers pods on the node's link-local 169.254.170.23, port 80
# (docs.aws.amazon.com/eks/latest/userguide/pod-id-agent-setup.html).
POD_IDENTITY_AGENT = ("169.254.170.23/32", 80)
# The Kubernetes API: 443 on EKS (and behind the `kubernetes` Service), 6443 on ACK's API server load balancer.
API_PORTS = (443, 6443)
# Workload kinds whose pods call the Kubernetes API (the training-operator's MPI launcher execs into workers;
# notebook users run kubectl).
NEEDS_API = ("training", "notebooks")
# Workload kinds the gateways route requests to.
BEHIND_GATEWAY = ("models", "notebooks")
TEAM_GROUP_PREFIX = "ml-platform:"
EDIT_VERBS = ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"]
READ_VERBS = ["get", "list", "watch"]
# What a team member works with in the team's namespaces (the kinds the platform renders and their pods).
TEAM_RULES = [
    {
        "apiGroups": [""],
        "resources": [
            "pods",
            "pods/log",
            "pods/exec",
            "pods/portforward",
            "services",
            "configmaps",
            "secrets",
            "persistentvolumeclaims",
            "serviceaccounts",
        ],
        "verbs": EDIT_VERBS,
    },
    {"apiGroups": [""], "resources": ["events", "endpoints", "resourcequotas", "limitranges"], "verbs": READ_VERBS},
    {"apiGroups": ["apps"], "resources": ["deployments", "statefulsets", "replicasets"], "verbs": EDIT_VERBS},
    {"apiGroups": ["batch"], "resources": ["jobs", "cronjobs"], "verbs": EDIT_VERBS},
    {"apiGroups": ["autoscaling"], "resources": ["horizontalpodautoscalers"], "verbs": EDIT_VERBS},
    {"apiGroups": ["machinelearning.seldon.io"], "resources": ["seldondeployments"], "verbs": EDIT_VERBS},
    {"apiGroups": ["serving.kserve.io"], "resources": ["inferenceservices"], "verbs": EDIT_VERBS},
    {
        "apiGroups": ["kubeflow.org"],
        "resources": ["notebooks", "tfjobs", "pytorchjobs", "xgboostjobs", "mpijobs"],
        "verbs": EDIT_VERBS,
    },
    {"apiGroups": ["trainer.kubeflow.org"], "resources": ["trainjobs"], "verbs": EDIT_VERBS},
    {"apiGroups": ["networking.k8s.io"], "resources": ["networkpolicies"], "verbs": READ_VERBS},
]


@dataclass(frozen=True)
class TeamArgs:
    cloud: str
    team: str
    config: team_config.Team
    # EKS: the cluster the access entries are for; ACK: the cluster the RAM grants are for.
    cluster_name: pulumi.Input[str] | None = None
    cluster_id: pulumi.Input[str] | None = None
    # Namespaces whose pods reach the servings and notebooks (ingress gateways) and whose traffic reaches the
    # team's pods for the operators (Seldon) and metrics (Prometheus).
    gateway_namespaces: Sequence[str] = ()
    operator_namespaces: Sequence[str] = ()
    # Per namespace kind, the labels and ports of pods exposed through an internal load balancer, and the
    # network those load balancers' clients are in (the VPC).
    exposed: Mapping[str, Sequence[tuple[Mapping[str, str], int]]] = field(default_factory=dict)
    exposed_from: str = "0.0.0.0/0"
    labels: Mapping[str, str] = field(default_factory=dict)
    # Earlier identities of each namespace (by name), so moving them here does not replace them.
    namespace_aliases: Mapping[str, Sequence[pulumi.Alias]] = field(default_factory=dict)


# Where the metrics scrapers run: Prometheus Operator's `monitoring` (the KEDA trigger reads it), ACK's managed
# Prometheus agent (`arms-prom`, mlplatform/infra/observability.py), the CloudWatch agent (`amazon-cloudwatch`).
METRICS_NAMESPACES = {"alicloud": ("monitoring", "arms-prom"), "aws": ("monitoring", "amazon-cloudwatch")}
# The Kubeflow notebook controller labels a notebook's pod `notebook-name: <notebook>` (components/
# notebook-controller/controllers/notebook_controller.go, generateStatefulSet); Jupyter listens on 8888.
NOTEBOOK_POD_LABEL = "notebook-name"
JUPYTER_PORT = 8888
# Behind `notebookSso` the exposed pod is the notebook's oauth2-proxy, `<notebook>-sso`, on its HTTP port
# (mlplatform/workloads/sso.py `HTTP_PORT`; oauth2-proxy's default `--http-address` port).
SSO_PROXY_PORT = 4180


def gateway_namespaces(settings: StackConfig) -> list[str]:
    """The namespaces of the gateways that route to servings and notebooks: Seldon's ingress, KServe's Gateway."""
    gateways = [EMISSARY_NAMESPACE if settings.operators.seldon.ingress == "ambassador" else ISTIO_NAMESPACE]
    if any(serving.backend == "kserve" for serving in settings.servings.values()):
        gateways.append(KSERVE_NAMESPACE)
    return gateways


def operator_namespaces(settings: StackConfig) -> list[str]:
    """Namespaces whose pods call into workload pods: Seldon's operator and the metrics scrapers."""
    return [SELDON_NAMESPACE, *METRICS_NAMESPACES[settings.cloud]]


def exposed_pods(settings: StackConfig, team: str) -> dict[str, list[tuple[dict[str, str], int]]]:
    """Per namespace kind of `team`: (pod labels, port) of each workload given a load balancer (`expose: true`)."""
    exposed: dict[str, list[tuple[dict[str, str], int]]] = {}
    for name, service in settings.web_services.items():
        if service.expose and (service.team or DEFAULT_TEAM) == team:
            exposed.setdefault(service.namespace, []).append(({"app.kubernetes.io/name": name}, service.port))
    for name, notebook in settings.notebooks.items():
        if notebook.expose and (notebook.team or DEFAULT_TEAM) == team:
            if settings.notebook_sso:
                exposed.setdefault("notebooks", []).append(({"app.kubernetes.io/name": f"{name}-sso"}, SSO_PROXY_PORT))
            else:
                exposed.setdefault("notebooks", []).append(({NOTEBOOK_POD_LABEL: name}, JUPYTER_PORT))
    return exposed


def psa_labels(enforce: str) -> dict[str, str]:
    """Pod Security Admission labels: `enforce` at its level, warn and audit at restricted, all at `latest`."""
    labels = {}
    for mode, level in (("enforce", enforce), ("warn", "restricted"), ("audit", "restricted")):
        labels[f"{PSA_PREFIX}/{mode}"] = level
        labels[f"{PSA_PREFIX}/{mode}-version"] = "latest"
    return labels


def limit_range_spec(team: team_config.Team) -> dict:
    defaults = team.defaults
    return {
        "limits": [
            {
                "type": "Container",
                "defaultRequest": {"cpu": defaults.cpu, "memory": defaults.memory},
                "default": {"cpu": defaults.cpu_limit, "memory": defaults.memory_limit},
            }
        ]
    }


def _namespace_peer(name: str) -> dict:
    # `kubernetes.io/metadata.name` is set on every namespace by the API server (Kubernetes 1.22+).
    return {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": name}}}


def network_policies(args: TeamArgs, kind: str) -> dict[str, dict]:
    """The NetworkPolicy specs of the team's namespace of `kind`, by name.

    Few objects (ACK recommends fewer than 100 NetworkPolicies per cluster): `default-deny`, `allow-platform` with
    every rule the platform needs, `allow-team` with the team's own allowances, one `allow-load-balancer-<n>` per
    exposed workload (each selects its pods and port).
    """
    everything = {"podSelector": {}}
    tcp = lambda port: {"protocol": "TCP", "port": port}  # noqa: E731
    same_namespace = {"podSelector": {}}
    ingress: list[dict] = [{"from": [same_namespace]}]  # training replicas, a web service and its serving's pods
    egress: list[dict] = [
        {"to": [_namespace_peer("kube-system")], "ports": [{"protocol": "UDP", "port": 53}, tcp(53)]},
        {"to": [same_namespace]},
    ]
    if kind in BEHIND_GATEWAY and args.gateway_namespaces:
        gateways = [_namespace_peer(name) for name in args.gateway_namespaces]
        ingress.append({"from": gateways})
        egress.append({"to": gateways})  # in-cluster endpoint URLs go through the gateway
    if args.operator_namespaces:
        ingress.append({"from": [_namespace_peer(name) for name in args.operator_namespaces]})
    https = [443, *(API_PORTS if kind in NEEDS_API else ())]
    egress.append(
        {
            "to": [{"ipBlock": {"cidr": "0.0.0.0/0", "except": list(METADATA_CIDRS)}}],
            "ports": [tcp(port) for port in dict.fromkeys(https)],
        }
    )
    if args.cloud == "aws":
        cidr, port = POD_IDENTITY_AGENT
        egress.append({"to": [{"ipBlock": {"cidr": cidr}}], "ports": [tcp(port)]})
    policies: dict[str, dict] = {
        "default-deny": {**everything, "policyTypes": ["Ingress", "Egress"]},
        "allow-platform": {**everything, "policyTypes": ["Ingress", "Egress"], "ingress": ingress, "egress": egress},
    }
    network = args.config.network
    team: dict = {}
    if network.allow_from_namespaces:
        team["ingress"] = [{"from": [_namespace_peer(name) for name in network.allow_from_namespaces]}]
    if network.egress:
        team["egress"] = [
            {
                "to": [{"ipBlock": {"cidr": rule.cidr}}],
                **({"ports": [tcp(p) for p in rule.ports]} if rule.ports else {}),
            }
            for rule in network.egress
        ]
    if team:
        types = [direction.title() for direction in ("ingress", "egress") if direction in team]
        policies["allow-team"] = {**everything, "policyTypes": types, **team}
    for index, (labels, port) in enumerate(args.exposed.get(kind, ())):
        policies[f"allow-load-balancer-{index}"] = {
            "podSelector": {"matchLabels": dict(labels)},
            "policyTypes": ["Ingress"],
            "ingress": [{"from": [{"ipBlock": {"cidr": args.exposed_from}}], "ports": [tcp(port)]}],
        }
    return policies


class Team(pulumi.ComponentResource):
    """Outputs `namespaces`: namespace name -> Namespace resource (what workloads of the team are created in)."""

    namespaces: dict[str, k8s.core.v1.Namespace]

    def __init__(self, name: str, args: TeamArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("mlplatform:tenancy:Team", name, None, opts)
        team = args.config
        group = f"{TEAM_GROUP_PREFIX}{args.team}"
        role = k8s.rbac.v1.ClusterRole(
            f"{name}-role",
            metadata={"name": f"ml-platform-team-{args.team}", "labels": dict(args.labels)},
            rules=TEAM_RULES,
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.namespaces = {}
        for kind in TEAM_NAMESPACES:
            namespace_name = team_namespace(args.team, kind)
            namespace = k8s.core.v1.Namespace(
                f"{name}-{kind}",
                metadata={
                    "name": namespace_name,
                    "labels": {
                        **args.labels,
                        "mlplatform.io/team": args.team,
                        **psa_labels(team.pod_security_of(kind)),
                    },
                },
                opts=pulumi.ResourceOptions(parent=self, aliases=list(args.namespace_aliases.get(namespace_name, ()))),
            )
            self.namespaces[namespace_name] = namespace
            inside = pulumi.ResourceOptions(parent=self)
            ns = namespace.metadata.name
            k8s.core.v1.ResourceQuota(
                f"{name}-{kind}-quota",
                metadata={"name": "team-quota", "namespace": ns},
                spec={"hard": team.quota_of(kind).hard()},
                opts=inside,
            )
            k8s.core.v1.LimitRange(
                f"{name}-{kind}-defaults",
                metadata={"name": "container-defaults", "namespace": ns},
                spec=limit_range_spec(team),
                opts=inside,
            )
            for policy, spec in network_policies(args, kind).items():
                k8s.networking.v1.NetworkPolicy(
                    f"{name}-{kind}-{policy}",
                    metadata={"name": policy, "namespace": ns},
                    spec=spec,
                    opts=inside,
                )
            if args.cloud == "aws" and team.groups:
                k8s.rbac.v1.RoleBinding(
                    f"{name}-{kind}-members",
                    metadata={"name": "team-members", "namespace": ns},
                    role_ref={
                        "apiGroup": "rbac.authorization.k8s.io",
                        "kind": "ClusterRole",
                        "name": role.metadata.name,
                    },
                    subjects=[{"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": group}],
                    opts=inside,
                )
        self._grant(name, args, group, role)
        self.register_outputs({"namespaces": list(self.namespaces)})

    def _grant(self, name: str, args: TeamArgs, group: str, role: k8s.rbac.v1.ClusterRole) -> None:
        """Put the team's cloud identities into the team: EKS access entries, ACK RBAC grants."""
        child = pulumi.ResourceOptions(parent=self, depends_on=list(self.namespaces.values()))
        for index, member in enumerate(args.config.groups):
            if args.cloud == "aws":
                aws.eks.AccessEntry(
                    f"{name}-access-{index}",
                    cluster_name=args.cluster_name,
                    principal_arn=member,
                    type="STANDARD",
                    kubernetes_groups=[group],
                    opts=child,
                )
                continue
            kind, _, uid = member.partition(":")
            alicloud.cs.KubernetesPermission(
                f"{name}-grant-{index}",
                uid=uid,
                permissions=[
                    alicloud.cs.KubernetesPermissionPermissionArgs(
                        cluster=args.cluster_id,
                        role_type="namespace",
                        namespace=namespace,
                        role_name=role.metadata.name,
                        is_custom=True,
                        is_ram_role=kind == "ram-role",
                    )
                    for namespace in self.namespaces
                ],
                opts=child,
            )
