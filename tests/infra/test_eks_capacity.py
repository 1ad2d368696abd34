"""EKS capacity: the add-ons with their Pod Identity roles, and Karpenter with its IAM and interruption queue."""

import json

import pulumi

from mlplatform.infra.eks_addons import EksAddons, EksAddonsArgs
from mlplatform.infra.karpenter import Karpenter, KarpenterArgs


def releases(monitor) -> dict:
    return {r.name: r for r in monitor.of_type("kubernetes:helm.sh/v3:Release")}


def test_every_addon_a_first_deploy_needs_with_pod_identity_where_a_driver_needs_it(plan):
    def program():
        EksAddons("a", EksAddonsArgs(cluster_name="c"))

    monitor = plan(program)
    addons = {r.inputs["addonName"]: r for r in monitor.of_type("aws:eks/addon:Addon")}
    assert set(addons) == {
        "vpc-cni",
        "kube-proxy",
        "coredns",
        "eks-pod-identity-agent",
        "aws-ebs-csi-driver",
        "aws-mountpoint-s3-csi-driver",
    }
    # The teams' NetworkPolicies are enforced only with the VPC CNI's network policy agent on.
    assert json.loads(addons["vpc-cni"].inputs["configurationValues"]) == {"enableNetworkPolicy": "true"}
    agent = addons["eks-pod-identity-agent"].urn
    [association] = addons["aws-ebs-csi-driver"].inputs["podIdentityAssociations"]
    assert association["serviceAccount"] == "ebs-csi-controller-sa"
    for driver in ("aws-ebs-csi-driver", "aws-mountpoint-s3-csi-driver"):
        assert agent in addons[driver].dependencies
    # S3 volumes mount with each workload's own identity: the Mountpoint driver holds no bucket permission.
    assert "podIdentityAssociations" not in addons["aws-mountpoint-s3-csi-driver"].inputs
    assert not monitor.of_type("aws:iam/rolePolicy:RolePolicy")
    trust = json.loads(monitor.named("a-ebs-csi").inputs["assumeRolePolicy"])["Statement"][0]
    assert trust["Principal"] == {"Service": "pods.eks.amazonaws.com"}
    assert trust["Action"] == ["sts:AssumeRole", "sts:TagSession"]


def test_karpenter_is_installed_with_its_roles_and_spot_interruption_queue(plan):
    def program():
        Karpenter(
            "k", KarpenterArgs(cluster_name="c", cluster_arn="arn:aws:eks:us-west-2:1:cluster/c", region="us-west-2")
        )

    monitor = plan(program)
    release = releases(monitor)["k-controller"]
    assert release.inputs["chart"] == "oci://public.ecr.aws/karpenter/karpenter"
    assert release.inputs["version"] == "1.14.1"
    assert release.inputs["timeout"] >= 600
    assert release.inputs["values"]["settings"]["clusterName"] == "c"
    association = next(iter(monitor.of_type("aws:eks/podIdentityAssociation:PodIdentityAssociation")))
    assert (association.inputs["namespace"], association.inputs["serviceAccount"]) == ("kube-system", "karpenter")
    assert association.urn in release.dependencies
    entry = next(iter(monitor.of_type("aws:eks/accessEntry:AccessEntry")))
    assert entry.inputs["type"] == "EC2_LINUX"
    patterns = [json.loads(r.inputs["eventPattern"]) for r in monitor.of_type("aws:cloudwatch/eventRule:EventRule")]
    assert {"detail-type": ["EC2 Spot Instance Interruption Warning"], "source": ["aws.ec2"]} in patterns
    [policy] = [json.loads(r.inputs["policy"]) for r in monitor.of_type("aws:iam/rolePolicy:RolePolicy")]
    terminate = next(s for s in policy["Statement"] if s["Sid"] == "AllowScopedDeletion")
    assert terminate["Condition"] == {
        "StringEquals": {"aws:ResourceTag/kubernetes.io/cluster/c": "owned"},
        "StringLike": {"aws:ResourceTag/karpenter.sh/nodepool": "*"},
    }
    pulumi.log.info("ok")


def test_karpenter_crds_come_from_their_own_chart_that_upgrades_and_keeps_them(plan):
    """Helm installs a chart's `crds/` once and never upgrades them: the controller chart skips its CRDs, and the
    `karpenter-crd` chart (same registry, same version) installs them as templates first, annotated to be kept."""

    def program():
        Karpenter(
            "k", KarpenterArgs(cluster_name="c", cluster_arn="arn:aws:eks:us-west-2:1:cluster/c", region="us-west-2")
        )

    monitor = plan(program)
    controller, crds = releases(monitor)["k-controller"], releases(monitor)["k-crd"]
    assert crds.inputs["chart"] == "oci://public.ecr.aws/karpenter/karpenter-crd"
    assert (crds.inputs["name"], crds.inputs["namespace"]) == ("karpenter-crd", "kube-system")
    assert crds.inputs["version"] == controller.inputs["version"] == "1.14.1"
    assert crds.inputs["values"] == {"additionalAnnotations": {"helm.sh/resource-policy": "keep"}}
    assert controller.inputs["skipCrds"] is True
    assert "skipCrds" not in crds.inputs
    assert crds.urn in controller.dependencies
