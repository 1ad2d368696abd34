"""Clusters: ACK / ASK / ACK@Edge and EKS, their networks, add-ons and the secret kubeconfig."""

import json

import pytest
from support import ack_stack, config_error, eks_stack

from mlplatform import config as cfg
from mlplatform.infra.cluster import KUBECONFIG_MINUTES, Cluster, ClusterArgs, cluster_dns
from mlplatform.offline import engine as offline
from mlplatform.offline.engine import SECRET_SIG, SIG_KEY

NEW_NETWORK = {
    "cidr": "10.0.0.0/16",
    "zones": [{"zone": "z-a", "cidr": "10.0.1.0/24"}, {"zone": "z-b", "cidr": "10.0.2.0/24"}],
}
AWS_NETWORK = {
    "cidr": "10.0.0.0/16",
    "zones": [
        {"zone": "z-a", "cidr": "10.0.1.0/24", "publicCidr": "10.0.101.0/24"},
        {"zone": "z-b", "cidr": "10.0.2.0/24", "publicCidr": "10.0.102.0/24"},
    ],
}


def _plan(plan, cloud, kind, network=None, spec_overrides=None, **overrides):
    network = network or (AWS_NETWORK if cloud == "aws" else NEW_NETWORK)
    version = "1.35" if cloud == "aws" else "1.36.1-aliyun.1"
    raw = {
        "kind": kind,
        "kubernetesVersion": version,
        "network": network,
        "edgeKeyPair": "ops",
        **(spec_overrides or {}),
    }
    spec = cfg.Cluster.model_validate(raw)
    exported = {}

    def program():
        cluster = Cluster("c", ClusterArgs(cloud=cloud, cluster=spec, **overrides))
        exported["kubeconfig"] = cluster.kubeconfig

    monitor = plan(program)
    return monitor, exported


def test_ack_managed_cluster_gets_a_new_vpc_with_a_vswitch_per_zone(plan):
    monitor, _ = _plan(plan, "alicloud", "managed", addons=("ack-ai-installer",))
    assert monitor.named("c-vpc").inputs["cidrBlock"] == "10.0.0.0/16"
    switches = monitor.of_type("alicloud:vpc/switch:Switch")
    assert sorted((s.inputs["zoneId"], s.inputs["cidrBlock"]) for s in switches) == [
        ("z-a", "10.0.1.0/24"),
        ("z-b", "10.0.2.0/24"),
    ]
    cluster = monitor.named("c")
    assert cluster.type == "alicloud:cs/managedKubernetes:ManagedKubernetes"
    assert cluster.inputs["version"] == "1.36.1-aliyun.1"
    assert cluster.inputs["clusterSpec"] == "ack.pro.small"
    # `worker_vswitch_ids` is deprecated on ManagedKubernetes: the control plane takes `vswitch_ids`.
    assert "workerVswitchIds" not in cluster.inputs and len(cluster.inputs["vswitchIds"]) == 2
    assert [a["name"] for a in cluster.inputs["addons"]] == [
        "terway-eniip",
        "csi-plugin",
        "managed-csiprovisioner",
        "ack-ai-installer",
    ]
    assert json.loads(cluster.inputs["addons"][0]["config"]) == {"NetworkPolicy": "true"}
    assert cluster.inputs["slbInternetEnabled"] is False
    assert cluster.inputs["deletionProtection"] is False


def test_ask_serverless_cluster_uses_existing_network_when_given(plan):
    existing = {"vpcId": "vpc-1", "subnetIds": ["vsw-1", "vsw-2"]}
    monitor, _ = _plan(plan, "alicloud", "serverless", network=existing)
    assert not monitor.of_type("alicloud:vpc/network:Network")
    cluster = monitor.named("c")
    assert cluster.type == "alicloud:cs/serverlessKubernetes:ServerlessKubernetes"
    assert cluster.inputs["vpcId"] == "vpc-1"
    assert cluster.inputs["vswitchIds"] == ["vsw-1", "vsw-2"]


def test_ask_gets_the_managed_csi_provisioner(plan):
    monitor, _ = _plan(plan, "alicloud", "serverless")
    assert [a["name"] for a in monitor.named("c").inputs["addons"]] == ["managed-csiprovisioner", "poseidon"]


def test_ask_is_pro_with_cluster_dns_and_enforced_network_policies(plan):
    ask = _plan(plan, "alicloud", "serverless")[0].named("c").inputs
    # Chosen at creation only: without it ASK pods resolve through the VPC and no Service name resolves.
    assert ask["serviceDiscoveryTypes"] == ["CoreDNS"]
    # Poseidon enforces NetworkPolicies on ECI pods, on ACK Serverless Pro only.
    assert ask["clusterSpec"] == "ack.pro.small"
    assert "poseidon" in [a["name"] for a in ask["addons"]]
    # ACK managed clusters enforce them with Terway and run CoreDNS in the cluster: neither applies there.
    managed = _plan(plan, "alicloud", "managed")[0].named("c").inputs
    assert "serviceDiscoveryTypes" not in managed
    assert "poseidon" not in [a["name"] for a in managed["addons"]]


def test_dns_answers_from_kube_system_pods_except_on_ask():
    for cloud, kind in (("aws", "managed"), ("alicloud", "managed"), ("alicloud", "edge")):
        dns = cluster_dns(cloud, kind)
        assert (dns.namespace, dns.pod_labels) == ("kube-system", {"k8s-app": "kube-dns"})
    ask = cluster_dns("alicloud", "serverless")  # managed CoreDNS, not on ECI: no pod to select
    assert (ask.namespace, ask.pod_labels, ask.ports) == (None, None, (("UDP", 53), ("TCP", 53)))


def test_ack_kubeconfigs_are_short_lived(plan, monkeypatch):
    invoked = []
    answer = offline.PlanMocks.call
    monkeypatch.setattr(offline.PlanMocks, "call", lambda mocks, args: invoked.append(args) or answer(mocks, args))
    _plan(plan, "alicloud", "serverless")
    [credential] = [a.args for a in invoked if a.token == "alicloud:cs/getClusterCredential:getClusterCredential"]
    # Without `temporaryDurationMinutes` ACK issues its long-lived default; the API takes 15 to 4320 minutes.
    assert credential["temporaryDurationMinutes"] == KUBECONFIG_MINUTES
    assert 15 <= KUBECONFIG_MINUTES <= 4320


def test_ack_edge_cluster_logs_in_with_its_key_pair(plan):
    monitor, _ = _plan(plan, "alicloud", "edge")
    cluster = monitor.named("c")
    assert cluster.type == "alicloud:cs/edgeKubernetes:EdgeKubernetes"
    assert cluster.inputs["workerInstanceTypes"] == ["ecs.g7.xlarge"]
    assert cluster.inputs["workerNumber"] == 1
    assert cluster.inputs["keyName"] == "ops"
    assert [a["name"] for a in cluster.inputs["addons"]] == ["flannel", "csi-plugin", "managed-csiprovisioner"]


@pytest.mark.parametrize("cloud", ["alicloud", "aws"])
def test_kubeconfig_is_a_secret_output(plan, cloud):
    def program():
        network = AWS_NETWORK if cloud == "aws" else NEW_NETWORK
        spec = cfg.Cluster.model_validate({"kind": "managed", "kubernetesVersion": "1.35", "network": network})
        cluster = Cluster("c", ClusterArgs(cloud=cloud, cluster=spec))
        import pulumi_kubernetes as k8s

        k8s.Provider("k", kubeconfig=cluster.kubeconfig)

    monitor = plan(program)
    assert monitor.named("k").inputs["kubeconfig"][SIG_KEY] == SECRET_SIG


@pytest.mark.parametrize("cloud", ["alicloud", "aws"])
def test_protected_cluster_has_deletion_protection(plan, cloud):
    monitor, _ = _plan(plan, cloud, "managed", protect=True)
    cluster = monitor.named("c")
    assert cluster.protect and cluster.retain_on_delete
    assert cluster.inputs["deletionProtection"] is True


def test_eks_nodes_sit_in_private_subnets_behind_nat(plan):
    monitor, _ = _plan(plan, "aws", "managed", control_plane_logs=("api", "audit"))
    subnets = {s.name: s.inputs for s in monitor.of_type("aws:ec2/subnet:Subnet")}
    assert subnets["c-z-a-private"]["tags"]["kubernetes.io/role/internal-elb"] == "1"
    assert subnets["c-z-a-public"]["tags"]["kubernetes.io/role/elb"] == "1"
    assert not any(s.get("mapPublicIpOnLaunch") for s in subnets.values())
    private_routes = monitor.named("c-z-a-private-routes").inputs["routes"]
    assert [r for r in private_routes if r["cidrBlock"] == "0.0.0.0/0" and r.get("natGatewayId")]
    nat = monitor.named("c-z-a-nat")
    assert nat.type == "aws:ec2/natGateway:NatGateway"
    assert nat.property_dependencies["subnetId"] == [monitor.named("c-z-a-public").urn]
    cluster = monitor.named("c")
    assert cluster.type == "aws:eks/cluster:Cluster"
    assert cluster.inputs["vpcConfig"]["endpointPublicAccess"] is False
    assert cluster.inputs["enabledClusterLogTypes"] == ["api", "audit"]
    # Access entries only: the AMP collector gets its access entry from AMP itself (observability.py).
    assert cluster.inputs["accessConfig"]["authenticationMode"] == "API"
    role = monitor.named("c-cluster-role")
    assert json.loads(role.inputs["assumeRolePolicy"])["Statement"][0]["Principal"]["Service"] == "eks.amazonaws.com"
    assert monitor.named("c-cluster-role-AmazonEKSClusterPolicy").urn in cluster.dependencies
    assert not monitor.of_type("aws:eks/fargateProfile:FargateProfile")


@pytest.mark.parametrize(("nat_per_zone", "expected"), [(False, 1), (True, 2)])
def test_nat_gateways_one_per_zone_or_one_per_vpc(plan, nat_per_zone, expected):
    monitor, _ = _plan(plan, "aws", "managed", nat_per_zone=nat_per_zone)
    assert len(monitor.of_type("aws:ec2/natGateway:NatGateway")) == expected


def test_eks_has_a_system_node_group_and_no_fargate(plan):
    monitor, _ = _plan(plan, "aws", "managed")
    system = monitor.named("c-system")
    assert system.type == "aws:eks/nodeGroup:NodeGroup"
    assert system.inputs["instanceTypes"] == ["m6i.large"]
    assert system.inputs["scalingConfig"]["minSize"] == 2


def test_a_public_eks_endpoint_answers_only_its_cidrs(plan):
    public = {"publicEndpoint": True, "apiAccessCidrs": ["203.0.113.0/24"]}
    monitor, _ = _plan(plan, "aws", "managed", spec_overrides=public)
    vpc = monitor.named("c").inputs["vpcConfig"]
    assert vpc["endpointPublicAccess"] is True and vpc["publicAccessCidrs"] == ["203.0.113.0/24"]


RUNNERS = {"cidrs": ["10.0.240.0/24"], "securityGroupIds": ["sg-0123456789abcdef0"]}


def test_eks_admits_the_deploy_runners_on_443_before_anything_uses_the_api(plan):
    network = {**AWS_NETWORK, "deployRunners": RUNNERS}
    monitor, _ = _plan(plan, "aws", "managed", network=network)
    rules = {r.name: r.inputs for r in monitor.of_type("aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule")}
    assert set(rules) == {"c-api-from-10-0-240-0-24", "c-api-from-sg-0123456789abcdef0"}
    by_cidr, by_group = rules["c-api-from-10-0-240-0-24"], rules["c-api-from-sg-0123456789abcdef0"]
    assert by_cidr["cidrIpv4"] == "10.0.240.0/24" and "referencedSecurityGroupId" not in by_cidr
    assert by_group["referencedSecurityGroupId"] == "sg-0123456789abcdef0"
    for rule in rules.values():
        assert (rule["ipProtocol"], rule["fromPort"], rule["toPort"]) == ("tcp", 443, 443)
        assert rule["securityGroupId"] == offline.COMPUTED  # the group EKS creates for the cluster

    def program():
        import pulumi_kubernetes as k8s

        spec = cfg.Cluster.model_validate({"kind": "managed", "kubernetesVersion": "1.35", "network": network})
        k8s.Provider("k", kubeconfig=Cluster("c", ClusterArgs(cloud="aws", cluster=spec)).kubeconfig)

    monitor = plan(program)
    rule_urns = {r.urn for r in monitor.of_type("aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule")}
    assert rule_urns <= set(monitor.named("k").property_dependencies["kubeconfig"])


def test_no_runner_source_no_rule(plan):
    monitor, _ = _plan(plan, "aws", "managed")
    assert not monitor.of_type("aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule")


CI_ROLE = "arn:aws:iam::123456789012:role/ml-platform-deploy"
ONCALL = "arn:aws:iam::123456789012:user/oncall"


def _admins(plan, admins):
    monitor, _ = _plan(plan, "aws", "managed", spec_overrides={"admins": admins})
    entries = {r.name: r for r in monitor.of_type("aws:eks/accessEntry:AccessEntry")}
    associations = {r.name: r for r in monitor.of_type("aws:eks/accessPolicyAssociation:AccessPolicyAssociation")}
    return monitor, entries, associations


def test_eks_cluster_admins_are_access_entries_named_by_their_principal(plan):
    """Not only the identity that created the cluster: each listed principal (the CI deploy role among them) is a
    cluster admin, under a name that is the principal's, so reordering the list plans the same resources."""
    monitor, entries, associations = _admins(plan, [CI_ROLE, ONCALL])
    assert set(entries) == set(associations)
    names = {entry.inputs["principalArn"]: name for name, entry in entries.items()}
    assert names[CI_ROLE].startswith("c-admin-role-ml-platform-deploy-")
    assert names[ONCALL].startswith("c-admin-user-oncall-")
    for name, association in associations.items():
        assert association.inputs["principalArn"] == entries[name].inputs["principalArn"]
        assert association.inputs["policyArn"] == "arn:aws:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy"
        assert association.inputs["accessScope"] == {"type": "cluster"}
        assert entries[name].inputs["type"] == "STANDARD"
    # The cluster creator stays an admin (EKS cannot change that after creation).
    access = monitor.named("c").inputs["accessConfig"]
    assert access == {"authenticationMode": "API", "bootstrapClusterCreatorAdminPermissions": True}
    _, reordered, _ = _admins(plan, [ONCALL, CI_ROLE])
    assert set(reordered) == set(entries)


def test_without_admins_only_the_cluster_creator_is_admin(plan):
    _, entries, associations = _admins(plan, [])
    assert entries == associations == {}


@pytest.mark.parametrize(
    ("change", "path", "reason"),
    [
        ({"cluster": {"admins": ["deploy"]}}, "cluster.admins[0]", "is not an IAM user or role ARN"),
        ({"cluster": {"admins": [CI_ROLE, CI_ROLE]}}, "cluster.admins[1]", "is listed twice"),
        (
            {"cluster": {"admins": [CI_ROLE]}, "teams": {"vision": {"groups": [CI_ROLE]}}},
            "cluster.admins[0]",
            "is also a member of team 'vision'",
        ),
    ],
)
def test_cluster_admins_config_is_checked(change, path, reason):
    raw = eks_stack(**{k: v for k, v in change.items() if k != "cluster"})
    raw["cluster"].update(change["cluster"])
    error = config_error(raw)
    assert error.path == f"ml-platform:{path}" and reason in error.reason


def test_cluster_admins_are_eks_only():
    raw = ack_stack()
    raw["cluster"]["admins"] = [CI_ROLE]
    error = config_error(raw)
    assert error.path == "ml-platform:cluster.admins" and "EKS access entries" in error.reason
