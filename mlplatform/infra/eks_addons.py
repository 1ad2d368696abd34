"""The EKS add-ons a cluster needs before workloads run, each with its IAM through EKS Pod Identity.

EKS user guide, "AWS add-ons" (docs.aws.amazon.com/eks/latest/userguide/workloads-add-ons-available-eks.html):
- `vpc-cni`, `kube-proxy`, `coredns`: pod networking, Services and DNS (CoreDNS needs nodes to run on);
- `eks-pod-identity-agent`: hands Pod Identity credentials to pods (every role below relies on it);
- `aws-ebs-csi-driver`: disk volumes (notebook workspaces), with `AmazonEBSCSIDriverPolicy` for its
  controller's service account `ebs-csi-controller-sa` (docs.aws.amazon.com/eks/latest/userguide/ebs-csi.html);
- `aws-mountpoint-s3-csi-driver`: the `s3.csi.aws.com` volumes training and serving mount. The volumes
  use pod-level credentials (`authenticationSource: pod`, each workload's own Pod Identity role, see
  mlplatform/workloads/identity.py), so the driver itself holds no bucket permission
  (docs.aws.amazon.com/eks/latest/userguide/s3-csi.html; mountpoint-s3-csi-driver v2 CONFIGURATION.md).
Versions are left to EKS, which installs the default version for the cluster's Kubernetes version.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field

import pulumi
import pulumi_aws as aws

from mlplatform.infra.aws_iam import pod_identity_role

EBS_CSI_POLICY = "arn:aws:iam::aws:policy/service-role/AmazonEBSCSIDriverPolicy"
# The add-on's controller runs in kube-system as this account (EKS user guide, "Use Kubernetes volume storage
# with Amazon EBS": the Pod Identity association names `kube-system` / `ebs-csi-controller-sa`).
EBS_CSI_SERVICE_ACCOUNT = "ebs-csi-controller-sa"


@dataclass(frozen=True)
class EksAddonsArgs:
    cluster_name: pulumi.Input[str]
    # What must exist first: the nodes that CoreDNS and the CSI controllers run on.
    depends_on: Sequence[pulumi.Resource] = field(default_factory=tuple)


class EksAddons(pulumi.ComponentResource):
    """Output `ready`: the add-ons, for anything that needs DNS, volumes or Pod Identity to depend on."""

    ready: list[pulumi.Resource]

    def __init__(self, name: str, args: EksAddonsArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("mlplatform:eks_addons:EksAddons", name, None, opts)
        after_nodes = pulumi.ResourceOptions(parent=self, depends_on=list(args.depends_on))

        def addon(addon_name: str, options: pulumi.ResourceOptions, **extra) -> aws.eks.Addon:
            return aws.eks.Addon(
                f"{name}-{addon_name}",
                cluster_name=args.cluster_name,
                addon_name=addon_name,
                resolve_conflicts_on_create="OVERWRITE",
                resolve_conflicts_on_update="OVERWRITE",
                opts=options,
                **extra,
            )

        # The VPC CNI enforces the teams' NetworkPolicies only with its network policy agent switched on
        # (EKS user guide, "Limit Pod traffic with Kubernetes network policies": enableNetworkPolicy).
        cni = addon(
            "vpc-cni",
            pulumi.ResourceOptions(parent=self),
            configuration_values=json.dumps({"enableNetworkPolicy": "true"}),
        )
        network = [cni, addon("kube-proxy", pulumi.ResourceOptions(parent=self))]
        agent = addon("eks-pod-identity-agent", after_nodes)
        dns = addon("coredns", after_nodes)
        with_identity = pulumi.ResourceOptions(parent=self, depends_on=[*args.depends_on, agent])
        ebs_role = pod_identity_role(
            f"{name}-ebs-csi",
            (args.cluster_name, "kube-system", EBS_CSI_SERVICE_ACCOUNT),
            policy_arns=(EBS_CSI_POLICY,),
            parent=self,
        )
        ebs = addon(
            "aws-ebs-csi-driver",
            with_identity,
            pod_identity_associations=[
                aws.eks.AddonPodIdentityAssociationArgs(role_arn=ebs_role.arn, service_account=EBS_CSI_SERVICE_ACCOUNT)
            ],
        )
        s3 = addon("aws-mountpoint-s3-csi-driver", with_identity)
        self.ready = [*network, agent, dns, ebs, s3]
        self.register_outputs({})
