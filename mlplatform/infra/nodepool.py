"""An autoscaling CPU or GPU node pool: an ACK node pool or an EKS managed node group.

GPU pools carry a taint so that only workloads asking for a GPU land there, and a label that those
workloads select. GPU sharing is declared on the nodes: ACK cGPU through the `ack.node.gpu.schedule`
label (its scheduler and isolation come with the `ack-ai-installer` add-on the stack installs), NVIDIA
time-slicing on EKS through the device plugin's config (installed by the operators component).
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_alicloud as alicloud
import pulumi_aws as aws

from mlplatform import config as cfg
from mlplatform.conventions import CGPU_LABEL, GPU_NODE_LABEL, GPU_TAINT
from mlplatform.infra.aws_iam import service_role

NODE_POLICIES = ("AmazonEKSWorkerNodePolicy", "AmazonEKS_CNI_Policy", "AmazonEC2ContainerRegistryReadOnly")


@dataclass(frozen=True)
class NodePoolArgs:
    cloud: str
    pool: cfg.NodePool
    cluster_id: pulumi.Input[str]  # ACK cluster id, or the EKS cluster name
    subnet_ids: pulumi.Input[list[str]]
    tags: dict[str, str] | None = None


def node_labels(pool: cfg.NodePool) -> dict[str, str]:
    labels = dict(pool.labels)
    if pool.gpu:
        labels[GPU_NODE_LABEL[0]] = GPU_NODE_LABEL[1]
    if pool.gpu_sharing == "cgpu":
        labels[CGPU_LABEL[0]] = CGPU_LABEL[1]
    return labels


class NodePool(pulumi.ComponentResource):
    """Output `pool_id`: the ACK node pool id or the EKS node group id."""

    pool_id: pulumi.Output[str]

    def __init__(self, name: str, args: NodePoolArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("mlplatform:nodepool:NodePool", name, None, opts)
        pool = args.pool
        desired = pool.desired_size if pool.desired_size is not None else pool.min_size
        if args.cloud == "alicloud":
            resource = alicloud.cs.NodePool(
                name,
                cluster_id=args.cluster_id,
                node_pool_name=name,
                vswitch_ids=args.subnet_ids,
                instance_types=list(pool.instance_types),
                # Several instance types and spot: keep capacity when one type runs out.
                multi_az_policy="BALANCE",
                spot_strategy="SpotAsPriceGo" if pool.spot else "NoSpot",
                system_disk_category="cloud_essd",
                system_disk_size=pool.disk_size_gb,
                scaling_config=alicloud.cs.NodePoolScalingConfigArgs(
                    enable=True, min_size=pool.min_size, max_size=pool.max_size
                ),
                labels=[alicloud.cs.NodePoolLabelArgs(key=k, value=v) for k, v in node_labels(pool).items()],
                taints=[alicloud.cs.NodePoolTaintArgs(key=GPU_TAINT[0], value=GPU_TAINT[1], effect=GPU_TAINT[2])]
                if pool.gpu
                else None,
                tags=args.tags,
                opts=pulumi.ResourceOptions(parent=self),
            )
        else:
            role = service_role(f"{name}-node-role", "ec2.amazonaws.com", NODE_POLICIES, self)
            resource = aws.eks.NodeGroup(
                name,
                cluster_name=args.cluster_id,
                node_group_name=name,
                node_role_arn=role.arn,
                subnet_ids=args.subnet_ids,
                instance_types=list(pool.instance_types),
                capacity_type="SPOT" if pool.spot else "ON_DEMAND",
                ami_type="AL2023_x86_64_NVIDIA" if pool.gpu else "AL2023_x86_64_STANDARD",
                disk_size=pool.disk_size_gb,
                scaling_config=aws.eks.NodeGroupScalingConfigArgs(
                    min_size=pool.min_size, max_size=pool.max_size, desired_size=desired
                ),
                labels=node_labels(pool),
                taints=[aws.eks.NodeGroupTaintArgs(key=GPU_TAINT[0], value=GPU_TAINT[1], effect="NO_SCHEDULE")]
                if pool.gpu
                else None,
                # The cluster autoscaler discovers node groups by these tags.
                tags={**(args.tags or {}), "k8s.io/cluster-autoscaler/enabled": "true"},
                opts=pulumi.ResourceOptions(parent=self, ignore_changes=["scalingConfig.desiredSize"]),
            )
        self.pool_id = resource.id
        self.register_outputs({"pool_id": self.pool_id})
