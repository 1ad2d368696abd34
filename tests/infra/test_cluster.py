"""Clusters: ACK / ASK / ACK@Edge and EKS (with Fargate), their networks and the secret kubeconfig."""

import json

import pytest

from mlplatform import config as cfg
from mlplatform.infra.cluster import Cluster, ClusterArgs
from mlplatform.offline.engine import SECRET_SIG, SIG_KEY

NEW_NETWORK = {
    "cidr": "10.0.0.0/16",
    "zones": [{"zone": "z-a", "cidr": "10.0.1.0/24"}, {"zone": "z-b", "cidr": "10.0.2.0/24"}],
}


def _plan(plan, cloud, kind, network=NEW_NETWORK, **overrides):
    spec = cfg.Cluster.model_validate({"kind": kind, "kubernetesVersion": "1.31.1", "network": network})
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
    assert cluster.inputs["version"] == "1.31.1"
    assert cluster.inputs["workerVswitchIds"] == ["c-z-a-id", "c-z-b-id"]
    assert cluster.inputs["addons"] == [{"name": "ack-ai-installer"}]
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


def test_ack_edge_cluster(plan):
    monitor, _ = _plan(plan, "alicloud", "edge")
    cluster = monitor.named("c")
    assert cluster.type == "alicloud:cs/edgeKubernetes:EdgeKubernetes"
    assert cluster.inputs["workerInstanceTypes"] == ["ecs.g7.xlarge"]
    assert cluster.inputs["workerNumber"] == 1


@pytest.mark.parametrize("cloud", ["alicloud", "aws"])
def test_kubeconfig_is_a_secret_output(plan, cloud):
    def program():
        spec = cfg.Cluster.model_validate({"kind": "managed", "kubernetesVersion": "1.31", "network": NEW_NETWORK})
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


def test_eks_cluster_with_its_network_and_role(plan):
    monitor, _ = _plan(plan, "aws", "managed", control_plane_logs=("api", "audit"))
    subnets = monitor.of_type("aws:ec2/subnet:Subnet")
    assert sorted(s.inputs["availabilityZone"] for s in subnets) == ["z-a", "z-b"]
    assert len(monitor.of_type("aws:ec2/routeTableAssociation:RouteTableAssociation")) == 2
    cluster = monitor.named("c")
    assert cluster.type == "aws:eks/cluster:Cluster"
    assert cluster.inputs["vpcConfig"]["subnetIds"] == ["c-z-a-id", "c-z-b-id"]
    assert cluster.inputs["vpcConfig"]["endpointPublicAccess"] is False
    assert cluster.inputs["enabledClusterLogTypes"] == ["api", "audit"]
    role = monitor.named("c-cluster-role")
    assert json.loads(role.inputs["assumeRolePolicy"])["Statement"][0]["Principal"]["Service"] == "eks.amazonaws.com"
    attachment = monitor.named("c-cluster-role-AmazonEKSClusterPolicy")
    assert attachment.inputs["policyArn"] == "arn:aws:iam::aws:policy/AmazonEKSClusterPolicy"
    assert not monitor.of_type("aws:eks/fargateProfile:FargateProfile")


def test_eks_serverless_runs_namespaces_on_fargate(plan):
    monitor, _ = _plan(plan, "aws", "serverless")
    profile = monitor.named("c-fargate")
    assert [s["namespace"] for s in profile.inputs["selectors"]] == ["default", "models", "training"]
    assert profile.inputs["podExecutionRoleArn"] == "arn:aws:iam::000000000000:role/c-fargate-role"
