"""The shipped AWS stacks (dev-aws, prod-aws) plan like the ACK ones, with what a first EKS deploy needs."""

import pytest
from support import eks_stack

from mlplatform import rules, validation


@pytest.fixture(params=["dev-aws", "prod-aws"])
def planned(request, shipped):
    return shipped(request.param)


def of_type(result, type_: str) -> list[dict]:
    return [r for r in result.resources if r["type"] == type_]


def test_the_aws_stacks_plan_and_every_object_validates(planned):
    assert planned.validation.problems == []
    assert planned.outputs["environment"] == planned.stack.removesuffix("-aws")
    [cluster] = of_type(planned, "aws:eks/cluster:Cluster")
    assert cluster["inputs"]["version"] == "1.35"
    assert not of_type(planned, "aws:eks/fargateProfile:FargateProfile")


def test_eks_nodes_are_private_behind_nat(planned):
    subnets = of_type(planned, "aws:ec2/subnet:Subnet")
    private = [s for s in subnets if s["inputs"]["tags"].get("kubernetes.io/role/internal-elb") == "1"]
    public = [s for s in subnets if s["inputs"]["tags"].get("kubernetes.io/role/elb") == "1"]
    assert private and len(private) == len(public)
    nats = of_type(planned, "aws:ec2/natGateway:NatGateway")
    assert len(nats) == (len(private) if planned.stack == "prod-aws" else 1)
    [cluster] = of_type(planned, "aws:eks/cluster:Cluster")
    assert cluster["inputs"]["vpcConfig"]["endpointPublicAccess"] is False


def test_eks_gets_its_addons_and_a_node_autoscaler(planned):
    addons = {r["inputs"]["addonName"] for r in of_type(planned, "aws:eks/addon:Addon")}
    assert {
        "vpc-cni",
        "coredns",
        "kube-proxy",
        "eks-pod-identity-agent",
        "aws-ebs-csi-driver",
        "aws-mountpoint-s3-csi-driver",
    } <= addons
    releases = {r["inputs"]["chart"] for r in of_type(planned, "kubernetes:helm.sh/v3:Release")}
    assert "oci://public.ecr.aws/karpenter/karpenter" in releases
    pools = [m for m in planned.manifests if m["kind"] == "NodePool"]
    assert {p["metadata"]["name"] for p in pools} == {f"{planned.stack}-cpu", f"{planned.stack}-gpu"}


def test_every_load_balancer_service_on_eks_is_internal(planned):
    services = [m for m in planned.manifests if m["kind"] == "Service" and m["spec"].get("type") == "LoadBalancer"]
    for service in services:
        assert rules.is_internal_load_balancer(service["metadata"].get("annotations", {})), service["metadata"]
    for release in of_type(planned, "kubernetes:helm.sh/v3:Release"):
        service = (release["inputs"].get("values") or {}).get("service") or {}
        if service.get("type", "ClusterIP") == "LoadBalancer":
            assert rules.is_internal_load_balancer(service.get("annotations", {})), release["urn"]


def test_every_claim_names_a_storage_class_or_a_volume(planned):
    for claim in (m for m in planned.manifests if m["kind"] == "PersistentVolumeClaim"):
        assert claim["spec"].get("storageClassName") or claim["spec"].get("volumeName"), claim["metadata"]
    assert validation.validate_all(planned.manifests) == {}


def test_an_image_mirror_rewrites_every_workload_image():
    from mlplatform import config as cfg
    from stacks.workloads import through_mirror

    raw = eks_stack(
        operators={"imageRegistry": "registry.example.com/mirror"},
        models=["color:v1"],
        trainingJobs={
            "t": {"framework": "pytorch", "image": "pytorch/pytorch:2.5", "model": "color:v2", "roles": {"Master": {}}}
        },
        notebooks={"n": {"image": "kubeflownotebookswg/jupyter:v1.9.2"}},
        servings={"s": {"predictors": [{"name": "p", "model": "color:v1", "image": "ghcr.io/acme/server:1.0"}]}},
        webServices={"w": {"image": "nginx:1.27", "port": 80}},
    )
    settings = through_mirror(cfg.parse(raw))
    assert settings.training_jobs["t"].image == "registry.example.com/mirror/pytorch/pytorch:2.5"
    assert settings.notebooks["n"].image == "registry.example.com/mirror/kubeflownotebookswg/jupyter:v1.9.2"
    assert settings.servings["s"].predictors[0].image == "registry.example.com/mirror/acme/server:1.0"
    assert settings.web_services["w"].image == "registry.example.com/mirror/library/nginx:1.27"
