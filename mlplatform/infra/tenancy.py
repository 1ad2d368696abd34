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
  Each grant is named by its identity (`member_key`), never by its place in `groups`.
- NetworkPolicies: deny all ingress and egress, then open what the platform's flows table
  (mlplatform/infra/flows.py: DNS, the namespace itself, the gateways both ways, the metrics scrapers, HTTPS
  but the instance metadata, the Kubernetes API, the Pod Identity agent, each exposed workload's load balancer
  clients) says this namespace takes part in, and the team's own allowances.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import pulumi
import pulumi_alicloud as alicloud
import pulumi_aws as aws
import pulumi_kubernetes as k8s

from mlplatform.config import teams as team_config
from mlplatform.config.teams import TEAM_NAMESPACES, team_namespace
from mlplatform.conventions import member_key
from mlplatform.infra.flows import SAME_NAMESPACE, Flow, Peer, Port

PSA_PREFIX = "pod-security.kubernetes.io"
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
        "resources": ["notebooks", "tfjobs", "pytorchjobs", "xgboostjobs", "mpijobs", "experiments", "trials"],
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
    # Every connection the platform's workloads need (mlplatform/infra/flows.py): the fences are generated from it.
    flows: Sequence[Flow] = ()
    # Render the NetworkPolicies (False where the cluster's network plugin would not enforce them).
    fence_network: bool = True
    labels: Mapping[str, str] = field(default_factory=dict)
    # More labels of the namespaces of one kind (training, models, notebooks), e.g. Katib's injection switch.
    kind_labels: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    # Earlier identities of each namespace (by name), so moving them here does not replace them.
    namespace_aliases: Mapping[str, Sequence[pulumi.Alias]] = field(default_factory=dict)


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


def _peer(peer: Peer, team: str) -> dict:
    """`peer` as a NetworkPolicyPeer seen from a namespace of `team`."""
    pods = {"podSelector": {"matchLabels": dict(peer.pods)}} if peer.pods else {}
    if peer.same_namespace:
        return pods or {"podSelector": {}}
    if peer.cidr:
        return {"ipBlock": {"cidr": peer.cidr, **({"except": list(peer.excluding)} if peer.excluding else {})}}
    # `kubernetes.io/metadata.name` is set on every namespace by the API server (Kubernetes 1.22+).
    return {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": peer.namespace}}, **pods}


def _peers(peer: Peer, team: str) -> list[dict]:
    if peer.kinds:
        return [_peer(Peer(namespace=team_namespace(team, kind), pods=peer.pods), team) for kind in peer.kinds]
    return [_peer(peer, team)]


def _rule(direction: str, peers: list[dict], ports: Sequence[Port]) -> dict:
    rule: dict = {"from" if direction == "ingress" else "to": peers}
    if ports:
        rule["ports"] = [{"protocol": protocol, "port": port} for protocol, port in ports]
    return rule


def network_policies(args: TeamArgs, kind: str) -> dict[str, dict]:
    """The NetworkPolicy specs of the team's namespace of `kind`, by name, generated from `args.flows`.

    Few objects (ACK recommends fewer than 100 NetworkPolicies per cluster): `default-deny`, `allow-platform` with
    a rule per flow that involves every pod of the namespace, `allow-<flow>` for a flow that selects some of its
    pods (a workload's load balancer), `allow-team` with the team's own allowances.
    """
    selected: dict[tuple, dict[str, list]] = {}  # our pods' labels -> {"ingress": rules, "egress": rules}
    names: dict[tuple, str] = {(): "allow-platform"}
    for flow in args.flows:
        if not flow.applies_to(args.team):
            continue
        ends: list[tuple[str, tuple, Peer]] = []  # (direction, our pods, the other end)
        if flow.destination.same_namespace:
            if flow.source.covers(kind):
                ends = [("ingress", (), SAME_NAMESPACE), ("egress", flow.source.pods, SAME_NAMESPACE)]
        else:
            if flow.destination.covers(kind):
                ends.append(("ingress", flow.destination.pods, flow.source))
            if flow.source.covers(kind):
                ends.append(("egress", flow.source.pods, flow.destination))
        for direction, pods, other in ends:
            rules = selected.setdefault(pods, {"ingress": [], "egress": []})
            names.setdefault(pods, f"allow-{flow.name}")
            rules[direction].append(_rule(direction, _peers(other, args.team), flow.ports))
    everything = {"podSelector": {}}
    policies: dict[str, dict] = {"default-deny": {**everything, "policyTypes": ["Ingress", "Egress"]}}
    for pods, rules in selected.items():
        types = [direction.title() for direction in ("ingress", "egress") if rules[direction]]
        selector = {"podSelector": {"matchLabels": dict(pods)}} if pods else everything
        policies[names[pods]] = {**selector, "policyTypes": types, **{d: r for d, r in rules.items() if r}}
    network = args.config.network
    team: dict = {}
    if network.allow_from_namespaces:
        sources = sorted(network.allow_from_namespaces)
        team["ingress"] = [{"from": [_peer(Peer(namespace=name), args.team) for name in sources]}]
    if network.egress:
        team["egress"] = [
            _rule("egress", [{"ipBlock": {"cidr": rule.cidr}}], [("TCP", port) for port in sorted(rule.ports)])
            for rule in sorted(network.egress, key=lambda rule: (rule.cidr, sorted(rule.ports)))
        ]
    if team:
        types = [direction.title() for direction in ("ingress", "egress") if direction in team]
        policies["allow-team"] = {**everything, "policyTypes": types, **team}
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
                        **args.kind_labels.get(kind, {}),
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
            for policy, spec in (network_policies(args, kind) if args.fence_network else {}).items():
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
        """Put the team's cloud identities into the team: EKS access entries, ACK RBAC grants, one per identity,
        named by it (`member_key`): reordering members changes nothing, removing one deletes only its grant."""
        child = pulumi.ResourceOptions(parent=self, depends_on=list(self.namespaces.values()))
        for index, member in enumerate(args.config.groups):
            noun = "access" if args.cloud == "aws" else "grant"
            # Earlier releases named a grant by its position (`<name>-grant-<index>`, `<name>-access-<index>`); the
            # alias lets a deployed stack adopt that state under the new name instead of replacing it. It is right
            # only for the position the member has now, and only while the members are listed as in the last
            # deployment: then the state at `-<index>` is this member's. An update that also reordered or removed
            # members would have a member adopt another's grant (a replacement, and on EKS a create that fails
            # because the principal has its entry already): change members in a later update. Once adopted, the
            # state is under the new name, which the engine matches before any alias, so the alias is inert.
            opts = pulumi.ResourceOptions.merge(
                child, pulumi.ResourceOptions(aliases=[pulumi.Alias(name=f"{name}-{noun}-{index}")])
            )
            if args.cloud == "aws":
                aws.eks.AccessEntry(
                    f"{name}-{noun}-{member_key(member)}",
                    cluster_name=args.cluster_name,
                    principal_arn=member,
                    type="STANDARD",
                    kubernetes_groups=[group],
                    opts=opts,
                )
                continue
            kind, _, uid = member.partition(":")
            alicloud.cs.KubernetesPermission(
                f"{name}-{noun}-{member_key(member)}",
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
                opts=opts,
            )
