"""A team's namespaces as the cluster receives them: pod security labels, quota, defaults, RBAC, network fence."""

import re
from pathlib import Path

import pytest
from support import ack_stack, eks_stack

from mlplatform import config as cfg
from mlplatform.conventions import member_key
from mlplatform.infra.flows import ANYWHERE, METADATA_CIDRS, Flow, Peer, platform_flows
from mlplatform.infra.tenancy import Team, TeamArgs
from mlplatform.offline import engine as offline
from mlplatform.validation import validate

NETWORK_POLICY = "kubernetes:networking.k8s.io/v1:NetworkPolicy"
TENANCY_TYPES = (
    "kubernetes:core/v1:Namespace",
    "kubernetes:core/v1:ResourceQuota",
    "kubernetes:core/v1:LimitRange",
    NETWORK_POLICY,
    "kubernetes:rbac.authorization.k8s.io/v1:ClusterRole",
    "kubernetes:rbac.authorization.k8s.io/v1:RoleBinding",
)
VISION = cfg.Team(
    quota=cfg.Quota(cpu="16", memory="64Gi", gpus=2, pods=20),
    quotas={"models": cfg.Quota(cpu="32", memory="128Gi", gpu_memory_gb=24)},
    network=cfg.TeamNetwork(
        allow_from_namespaces=["models"], egress=[cfg.EgressRule(cidr="10.30.0.0/16", ports=[5432])]
    ),
)


def _flows(cloud: str, exposed: tuple[Flow, ...] = ()) -> tuple[Flow, ...]:
    """The flows of a stack with Emissary and KServe gateways on `cloud`, plus `exposed` workloads' ones."""
    serving = {"backend": "kserve", "protocol": "tensorflow", "predictors": [{"name": "v1", "model": "color:v1"}]}
    raw = (ack_stack if cloud == "alicloud" else eks_stack)(
        servings={"color": serving}, models=["color:v1"], observability={"enabled": False}
    )
    return (*platform_flows(cfg.parse(raw)), *exposed)


def _program(cloud: str, team: str = "vision", spec: cfg.Team = VISION, groups=(), exposed=()):
    spec = spec.model_copy(update={"groups": list(groups)})

    def program():
        Team(
            f"prod-team-{team}",
            TeamArgs(
                cloud=cloud,
                team=team,
                config=spec,
                cluster_name="prod-cluster",
                cluster_id="c0ffee",
                flows=_flows(cloud, exposed),
            ),
        )

    return program


def policies(monitor, namespace: str) -> dict[str, dict]:
    return {
        r.inputs["metadata"]["name"]: r.inputs["spec"]
        for r in monitor.of_type(NETWORK_POLICY)
        if r.inputs["metadata"]["namespace"] == namespace
    }


def test_a_named_team_gets_its_own_namespaces_with_pod_security_labels(plan):
    monitor = plan(_program("alicloud"))
    namespaces = {
        n.inputs["metadata"]["name"]: n.inputs["metadata"]["labels"] for n in monitor.of_type(TENANCY_TYPES[0])
    }
    assert sorted(namespaces) == ["vision-models", "vision-notebooks", "vision-training"]
    assert namespaces["vision-notebooks"] == {
        "mlplatform.io/team": "vision",
        "pod-security.kubernetes.io/enforce": "restricted",
        "pod-security.kubernetes.io/enforce-version": "latest",
        "pod-security.kubernetes.io/warn": "restricted",
        "pod-security.kubernetes.io/warn-version": "latest",
        "pod-security.kubernetes.io/audit": "restricted",
        "pod-security.kubernetes.io/audit-version": "latest",
    }
    assert namespaces["vision-training"]["pod-security.kubernetes.io/enforce"] == "baseline"
    assert namespaces["vision-training"]["pod-security.kubernetes.io/warn"] == "restricted"


def test_each_namespace_gets_the_teams_quota_and_container_defaults(plan):
    monitor = plan(_program("alicloud"))
    quotas = {q.inputs["metadata"]["namespace"]: q.inputs["spec"]["hard"] for q in monitor.of_type(TENANCY_TYPES[1])}
    assert quotas["vision-training"] == {
        "requests.cpu": "16",
        "requests.memory": "64Gi",
        "requests.nvidia.com/gpu": "2",
        "pods": "20",
    }
    assert quotas["vision-models"] == {
        "requests.cpu": "32",
        "requests.memory": "128Gi",
        "requests.aliyun.com/gpu-mem": "24",
    }
    [limits] = monitor.of_type(TENANCY_TYPES[2])[0].inputs["spec"]["limits"]
    assert limits == {
        "type": "Container",
        "defaultRequest": {"cpu": "100m", "memory": "256Mi"},
        "default": {"cpu": "2", "memory": "4Gi"},
    }


def test_the_network_is_denied_by_default_then_opened_for_dns_gateways_operators_and_https(plan):
    monitor = plan(_program("alicloud"))
    models = policies(monitor, "vision-models")
    assert sorted(models) == ["allow-platform", "allow-team", "default-deny"]
    assert models["default-deny"] == {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}
    platform = models["allow-platform"]
    peer = lambda name: {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": name}}}  # noqa: E731
    assert platform["ingress"] == [
        {"from": [{"podSelector": {}}]},
        {"from": [peer("emissary")]},
        {"from": [peer("kserve")]},
        {"from": [peer("arms-prom")]},
    ]
    outside = {"ipBlock": {"cidr": ANYWHERE, "except": list(METADATA_CIDRS)}}
    assert platform["egress"] == [
        {
            "to": [{**peer("kube-system"), "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}}}],
            "ports": [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}],
        },
        {"to": [{"podSelector": {}}]},
        {"to": [peer("emissary")]},
        {"to": [peer("kserve")]},
        {"to": [outside], "ports": [{"protocol": "TCP", "port": 443}]},
    ]
    assert models["allow-team"] == {
        "podSelector": {},
        "policyTypes": ["Ingress", "Egress"],
        "ingress": [{"from": [peer("models")]}],
        "egress": [{"to": [{"ipBlock": {"cidr": "10.30.0.0/16"}}], "ports": [{"protocol": "TCP", "port": 5432}]}],
    }
    training = policies(monitor, "vision-training")["allow-platform"]
    assert {"from": [peer("emissary")]} not in training["ingress"]  # nothing routes to jobs
    assert {"to": [peer("emissary")]} in training["egress"]  # a web service there reaches the gateway
    assert training["egress"][-1] == {"to": [outside], "ports": [{"protocol": "TCP", "port": 6443}]}  # ACK's API


EXPOSED_CLIENT = Flow(
    "load-balancer-color-client",
    Peer(cidr="10.20.0.0/16"),
    Peer(kinds=("models",), pods=(("app.kubernetes.io/name", "color-client"),)),
    (("TCP", 3333),),
    "clients in the VPC",
    "test",
    team="vision",
)


def test_an_exposed_web_service_is_reachable_from_the_vpc_on_its_port_only(plan):
    monitor = plan(_program("alicloud", exposed=(EXPOSED_CLIENT,)))
    assert policies(monitor, "vision-models")["allow-load-balancer-color-client"] == {
        "podSelector": {"matchLabels": {"app.kubernetes.io/name": "color-client"}},
        "policyTypes": ["Ingress"],
        "ingress": [{"from": [{"ipBlock": {"cidr": "10.20.0.0/16"}}], "ports": [{"protocol": "TCP", "port": 3333}]}],
    }
    other_team = plan(_program("alicloud", team="nlp", exposed=(EXPOSED_CLIENT,)))
    assert "allow-load-balancer-color-client" not in policies(other_team, "nlp-models")


def test_on_ack_ram_identities_are_granted_the_team_role_in_each_namespace(plan):
    monitor = plan(_program("alicloud", groups=["ram-role:300800000000001", "ram-user:200300000000002"]))
    grants = {
        g.inputs["uid"]: g.inputs["permissions"]
        for g in monitor.of_type("alicloud:cs/kubernetesPermission:KubernetesPermission")
    }
    assert sorted(grants) == ["200300000000002", "300800000000001"]
    role = grants["300800000000001"]
    assert {p["namespace"] for p in role} == {"vision-training", "vision-models", "vision-notebooks"}
    assert {(p["cluster"], p["roleType"], p["roleName"], p["isCustom"], p["isRamRole"]) for p in role} == {
        ("c0ffee", "namespace", "ml-platform-team-vision", True, True)
    }
    assert not any(p["isRamRole"] for p in grants["200300000000002"])
    assert not monitor.of_type("kubernetes:rbac.authorization.k8s.io/v1:RoleBinding")


def test_on_eks_iam_principals_join_the_team_group_that_the_role_bindings_name(plan):
    arn = "arn:aws:iam::123456789012:role/vision"
    monitor = plan(_program("aws", groups=[arn]))
    [entry] = monitor.of_type("aws:eks/accessEntry:AccessEntry")
    assert entry.inputs == {
        "clusterName": "prod-cluster",
        "principalArn": arn,
        "type": "STANDARD",
        "kubernetesGroups": ["ml-platform:vision"],
    }
    bindings = monitor.of_type("kubernetes:rbac.authorization.k8s.io/v1:RoleBinding")
    assert sorted(b.inputs["metadata"]["namespace"] for b in bindings) == [
        "vision-models",
        "vision-notebooks",
        "vision-training",
    ]
    assert bindings[0].inputs["subjects"] == [
        {"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": "ml-platform:vision"}
    ]
    assert bindings[0].inputs["roleRef"]["name"] == "ml-platform-team-vision"
    # Pods reach the EKS Pod Identity agent for their credentials.
    egress = policies(monitor, "vision-models")["allow-platform"]["egress"]
    assert egress[-1] == {
        "to": [{"ipBlock": {"cidr": "169.254.170.23/32"}}],
        "ports": [{"protocol": "TCP", "port": 80}],
    }


GRANT_TYPES = ("alicloud:cs/kubernetesPermission:KubernetesPermission", "aws:eks/accessEntry:AccessEntry")
MEMBERS = {
    "alicloud": ["ram-role:300800000000001", "ram-user:200300000000002"],
    "aws": ["arn:aws:iam::123456789012:role/vision", "arn:aws:iam::123456789012:user/ana"],
}


def _grants(cloud: str, groups: list[str]) -> dict[str, tuple[list[str], dict]]:
    """Each grant's resource name -> (the names it is aliased from, its inputs), as the engine receives them."""
    grants: dict[str, tuple[list[str], dict]] = {}

    def listener(registration, request, response):
        if registration.type in GRANT_TYPES:
            grants[registration.name] = ([a.spec.name for a in request.aliases], registration.inputs)

    offline.start("ml-platform", "prod", None, listener)
    offline.run_program(_program(cloud, groups=groups))
    return grants


@pytest.mark.parametrize("cloud", ["alicloud", "aws"])
def test_a_grant_is_named_by_its_identity_so_reordering_members_changes_nothing(cloud):
    members = MEMBERS[cloud]
    grants = _grants(cloud, members)
    reordered = _grants(cloud, members[::-1])
    assert {name: inputs for name, (_, inputs) in grants.items()} == {
        name: inputs for name, (_, inputs) in reordered.items()
    }
    noun = "grant" if cloud == "alicloud" else "access"
    assert not any(name.endswith((f"-{noun}-0", f"-{noun}-1")) for name in grants)
    if cloud == "alicloud":
        assert sorted(grants) == [
            "prod-team-vision-grant-ram-role-300800000000001",
            "prod-team-vision-grant-ram-user-200300000000002",
        ]
    else:
        assert {re.sub(r"-[0-9a-f]{8}$", "-<digest>", name) for name in grants} == {
            "prod-team-vision-access-role-vision-<digest>",
            "prod-team-vision-access-user-ana-<digest>",
        }


@pytest.mark.parametrize("cloud", ["alicloud", "aws"])
def test_a_grant_adopts_the_positional_name_of_its_current_position(cloud):
    """A stack deployed before grants were named by identity keeps them: each is aliased from `-<index>`."""
    noun = "grant" if cloud == "alicloud" else "access"
    members = MEMBERS[cloud]
    grants = _grants(cloud, members)
    for index, member in enumerate(members):
        aliases, _ = grants[f"prod-team-vision-{noun}-{member_key(member)}"]
        assert aliases == [f"prod-team-vision-{noun}-{index}"]


def test_principals_that_differ_only_in_account_or_path_get_different_names():
    keys = {
        member_key("arn:aws:iam::123456789012:role/ml/readers"),
        member_key("arn:aws:iam::123456789012:role/ml-readers"),
        member_key("arn:aws:iam::210987654321:role/ml/readers"),
        member_key("arn:aws-cn:iam::123456789012:role/ml/readers"),
    }
    assert len(keys) == 4
    assert all(re.fullmatch(r"role-ml-readers-[0-9a-f]{8}", key) for key in keys)


def test_the_team_role_cannot_open_its_own_fence(plan):
    monitor = plan(_program("aws"))
    [role] = monitor.of_type("kubernetes:rbac.authorization.k8s.io/v1:ClusterRole")
    for rule in role.inputs["rules"]:
        if {"networkpolicies", "resourcequotas", "limitranges"} & set(rule["resources"]):
            assert rule["verbs"] == ["get", "list", "watch"]


def test_the_team_role_reads_its_experiments_for_the_best_trial(plan):
    monitor = plan(_program("aws"))
    [role] = monitor.of_type("kubernetes:rbac.authorization.k8s.io/v1:ClusterRole")
    granted = {
        (group, resource)
        for rule in role.inputs["rules"]
        if "get" in rule["verbs"]
        for group in rule["apiGroups"]
        for resource in rule["resources"]
    }
    assert {("kubeflow.org", "experiments"), ("kubeflow.org", "trials")} <= granted


def test_the_default_team_keeps_the_bare_namespace_names(plan):
    monitor = plan(_program("alicloud", team="default", spec=cfg.Team()))
    names = sorted(n.inputs["metadata"]["name"] for n in monitor.of_type(TENANCY_TYPES[0]))
    assert names == ["models", "notebooks", "training"]


@pytest.mark.parametrize("cloud", ["alicloud", "aws"])
def test_every_tenancy_object_validates_against_the_kubernetes_schema(plan, cloud):
    groups = ["arn:aws:iam::123456789012:role/vision"] if cloud == "aws" else []
    monitor = plan(_program(cloud, groups=groups, exposed=(EXPOSED_CLIENT,)))
    objects = [r for t in TENANCY_TYPES for r in monitor.of_type(t)]
    assert len(objects) >= 17
    for registration in objects:
        group_version, kind = registration.type.split(":")[1].rsplit(":", 1)[0], registration.type.rsplit(":", 1)[1]
        api_version = group_version.removeprefix("core/")
        obj = {"apiVersion": api_version, "kind": kind, **registration.inputs}
        assert validate(obj, strict=True) == [], obj


def test_an_exposed_notebook_is_reached_at_jupyter_or_behind_sso_at_its_proxy():
    from mlplatform.infra.flows import exposed_pods
    from mlplatform.offline import stackfiles

    raw = stackfiles.load(Path(__file__).resolve().parents[2], "dev").namespace_values()
    raw["notebooks"]["data-science"]["expose"] = True
    assert exposed_pods(cfg.parse(raw), "default") == {
        "notebooks": [("data-science", {"notebook-name": "data-science"}, 8888)]
    }
    raw["notebookSso"] = {"issuerUrl": "https://login.example.com", "clientId": "ml", "tlsCertificate": "cert-1"}
    raw["notebooks"]["data-science"]["allowedGroups"] = ["ml"]
    assert exposed_pods(cfg.parse(raw), "default") == {
        "notebooks": [("data-science", {"app.kubernetes.io/name": "data-science-sso"}, 4180)]
    }
    assert exposed_pods(cfg.parse(raw), "vision") == {}


def test_a_named_teams_serving_lands_in_its_fenced_namespace_at_its_own_url(tmp_path):
    import shutil

    from mlplatform.offline.preview import run_preview

    root = Path(__file__).resolve().parents[2]
    for name in ("Pulumi.yaml", "Pulumi.dev.yaml", "__main__.py"):
        shutil.copy(root / name, tmp_path / name)
    shutil.copytree(root / "stacks", tmp_path / "stacks", ignore=shutil.ignore_patterns("__pycache__"))
    stack_file = tmp_path / "Pulumi.dev.yaml"
    text = stack_file.read_text()
    text = text.replace(
        "  ml-platform:teams:\n", '  ml-platform:teams:\n    vision:\n      quota: {cpu: "8", memory: 32Gi}\n'
    )
    text = text.replace(
        "    color:\n      protocol: tensorflow\n", "    color:\n      team: vision\n      protocol: tensorflow\n"
    )
    text = text.replace("      serving: color\n", "      serving: color\n      team: vision\n")
    stack_file.write_text(text)

    result = run_preview("dev", tmp_path)

    [seldon] = [m for m in result.manifests if m["kind"] == "SeldonDeployment"]
    assert seldon["metadata"]["namespace"] == "vision-models"
    assert "/seldon/vision-models/color/" in result.outputs["endpoints"]["color"]
    fenced = {
        (m["kind"], m["metadata"]["name"])
        for m in result.manifests
        if m["metadata"].get("namespace") == "vision-models" and m["kind"] in ("NetworkPolicy", "ResourceQuota")
    }
    assert fenced == {
        ("NetworkPolicy", "default-deny"),
        ("NetworkPolicy", "allow-platform"),
        ("ResourceQuota", "team-quota"),
    }
    client = next(m for m in result.manifests if m["kind"] == "Deployment" and m["metadata"]["name"] == "color-client")
    assert client["metadata"]["namespace"] == "vision-models"


def test_a_cluster_whose_network_plugin_enforces_no_policies_gets_none(plan):
    from mlplatform.infra.flows import enforces_network_policies

    edge = ack_stack()
    edge["cluster"] = {**edge["cluster"], "kind": "edge", "edgeKeyPair": "ops"}
    assert not enforces_network_policies(cfg.parse(edge))
    assert all(enforces_network_policies(cfg.parse(raw)) for raw in (ack_stack(), eks_stack()))
    spec = VISION.model_copy(update={"groups": []})

    def program():
        Team("edge-team-vision", TeamArgs(cloud="alicloud", team="vision", config=spec, fence_network=False))

    monitor = plan(program)
    assert monitor.of_type(NETWORK_POLICY) == []
    assert len(monitor.of_type(TENANCY_TYPES[1])) == 3  # quotas still fence the namespaces
