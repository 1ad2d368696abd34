"""An autoscaling CPU or GPU node pool: an ACK node pool, or a Karpenter NodePool on EKS.

GPU pools carry a taint so that only workloads asking for a GPU land there, and a label that those
workloads select. GPU sharing is declared on the nodes: ACK cGPU through the `ack.node.gpu.schedule`
label (its scheduler and isolation come with the `ack-ai-installer` add-on the stack installs), NVIDIA
time-slicing on EKS through the device plugin's config (installed by the operators component).

MIG on EKS (`gpuSharing: mig`): the device plugin runs with the `mixed` MIG strategy (operators component), which
offers every MIG instance on a node as `nvidia.com/mig-<profile>` (k8s-device-plugin v0.20.0 README, MIG_STRATEGY);
the plugin does not partition GPUs. The pool's EC2NodeClass partitions them when the node boots (`mig_user_data`):
Karpenter runs the shell part of an AL2023 node's `userData` (MIME multi-part) beside its own NodeConfig before the
kubelet starts (karpenter.sh/docs/concepts/nodeclasses, `spec.userData`, AL2023), and the script enables MIG mode and
creates GPU instances with their compute instances as the NVIDIA MIG User Guide does ("Getting Started with MIG":
`nvidia-smi -i <gpu> -mig 1`, `nvidia-smi mig -cgi <profile> -C`), as many of the profile as each GPU holds. NVIDIA's
declarative alternative, the GPU operator's MIG manager (`nvidia.com/mig.config` node labels), needs the GPU operator,
which the platform does not install (docs/gpu.md).
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_alicloud as alicloud
import pulumi_kubernetes as k8s

from mlplatform import config as cfg
from mlplatform.conventions import (
    CGPU_LABEL,
    GPU_NODE_LABEL,
    GPU_TAINT,
    NVIDIA_GPU_PRESENT_LABEL,
    config_path_annotation,
)


@dataclass(frozen=True)
class KarpenterNodes:
    """EKS: what a Karpenter NodePool and its EC2NodeClass need from the cluster and the Karpenter install."""

    node_role_name: pulumi.Input[str]
    subnet_ids: pulumi.Input[list[str]]
    security_group_id: pulumi.Input[str]
    cluster_name: pulumi.Input[str]


@dataclass(frozen=True)
class NodePoolArgs:
    cloud: str
    pool: cfg.NodePool
    cluster_id: pulumi.Input[str]  # the ACK cluster id, or the EKS cluster name
    subnet_ids: pulumi.Input[list[str]]
    tags: dict[str, str] | None = None
    # EKS: pools are Karpenter NodePools (Kubernetes objects; give a kubernetes provider in the options).
    karpenter: KarpenterNodes | None = None
    # The pool's key in config `nodePools` (`gpu`): the ACK pool's tag and the Karpenter objects' annotation name
    # `nodePools.gpu`, which policy verdicts lead with.
    config_name: str | None = None

    def config_path(self) -> dict[str, str]:
        return config_path_annotation("nodePools", self.config_name) if self.config_name else {}


def node_labels(pool: cfg.NodePool, cloud: str) -> dict[str, str]:
    labels = dict(pool.labels)
    if pool.gpu:
        labels[GPU_NODE_LABEL[0]] = GPU_NODE_LABEL[1]
    if pool.gpu and cloud == "aws":
        # The NVIDIA device plugin chart's default affinity schedules it only on nodes carrying this label
        # (or node-feature-discovery's PCI labels), values.yaml of NVIDIA/k8s-device-plugin v0.17+.
        labels[NVIDIA_GPU_PRESENT_LABEL[0]] = NVIDIA_GPU_PRESENT_LABEL[1]
    if pool.gpu_sharing == "cgpu":
        labels[CGPU_LABEL[0]] = CGPU_LABEL[1]
    return labels


def mig_user_data(profile: str) -> str:
    """The EC2NodeClass `userData` of a MIG pool: a MIME multi-part shell script that splits every GPU of the node
    into as many `profile` instances as it holds (creating one more fails once the GPU is full)."""
    script = (
        "#!/bin/bash\n"
        "set -eu\n"
        f"# Split every GPU into MIG instances of {profile} (ml-platform gpuSharing: mig) before the kubelet starts.\n"
        "for gpu in $(nvidia-smi --query-gpu=index --format=csv,noheader); do\n"
        '  nvidia-smi -i "$gpu" -mig 1\n'
        f'  while nvidia-smi mig -i "$gpu" -cgi {profile} -C; do :; done\n'
        "done\n"
    )
    return (
        'MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary="//"\n\n'
        f'--//\nContent-Type: text/x-shellscript; charset="us-ascii"\n\n{script}--//--\n'
    )


def scaling_type(pool: cfg.NodePool) -> str:
    """ACK's node autoscaler groups pools by kind: `gpushare` (cGPU), `gpu`, `spot` or `cpu`."""
    if pool.gpu_sharing == "cgpu":
        return "gpushare"
    if pool.gpu:
        return "gpu"
    return "spot" if pool.spot else "cpu"


class NodePool(pulumi.ComponentResource):
    """Output `pool_id`: the ACK node pool id, or the name of the Karpenter NodePool on EKS."""

    pool_id: pulumi.Output[str]

    def __init__(self, name: str, args: NodePoolArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("mlplatform:nodepool:NodePool", name, None, opts)
        if args.cloud == "alicloud":
            self.pool_id = self._ack(name, args)
        else:
            self.pool_id = self._karpenter(name, args)
        self.register_outputs({"pool_id": self.pool_id})

    def _ack(self, name: str, args: NodePoolArgs) -> pulumi.Output[str]:
        """An ACK node pool the cluster autoscaler resizes between minSize and maxSize (`scaling_config`)."""
        pool = args.pool
        spot = (
            # Spot first, on-demand when spot runs out: compensate_with_on_demand works with COST_OPTIMIZED
            # (alicloud.cs.NodePool docs, pulumi-alicloud 4.0.0).
            {
                "spot_strategy": "SpotAsPriceGo",
                "multi_az_policy": "COST_OPTIMIZED",
                "on_demand_base_capacity": "0",
                "on_demand_percentage_above_base_capacity": "0",
                "spot_instance_pools": min(len(pool.instance_types), 10),
                "compensate_with_on_demand": True,
            }
            if pool.spot
            else {"spot_strategy": "NoSpot", "multi_az_policy": "BALANCE"}
        )
        resource = alicloud.cs.NodePool(
            name,
            cluster_id=args.cluster_id,
            node_pool_name=name,
            vswitch_ids=args.subnet_ids,
            instance_types=list(pool.instance_types),
            system_disk_category="cloud_essd",
            system_disk_size=pool.disk_size_gb,
            scaling_config=alicloud.cs.NodePoolScalingConfigArgs(
                enable=True, min_size=pool.min_size, max_size=pool.max_size, type=scaling_type(pool)
            ),
            labels=[alicloud.cs.NodePoolLabelArgs(key=k, value=v) for k, v in node_labels(pool, "alicloud").items()],
            taints=[alicloud.cs.NodePoolTaintArgs(key=GPU_TAINT[0], value=GPU_TAINT[1], effect=GPU_TAINT[2])]
            if pool.gpu
            else None,
            tags={**(args.tags or {}), **args.config_path()} or None,
            opts=pulumi.ResourceOptions(parent=self),
            **spot,
        )
        return resource.id

    def _karpenter(self, name: str, args: NodePoolArgs) -> pulumi.Output[str]:
        """A Karpenter NodePool (karpenter.sh/v1) and its EC2NodeClass (karpenter.k8s.aws/v1), v1.14 CRDs."""
        pool, nodes = args.pool, args.karpenter
        class_spec = {
            "role": nodes.node_role_name,
            # The EKS-optimized AL2023 AMI (the NVIDIA variant on GPU instance types, chosen by Karpenter).
            "amiSelectorTerms": [{"alias": "al2023@latest"}],
            "subnetSelectorTerms": pulumi.Output.from_input(nodes.subnet_ids).apply(
                lambda ids: [{"id": subnet} for subnet in ids]
            ),
            "securityGroupSelectorTerms": [{"id": nodes.security_group_id}],
            "blockDeviceMappings": [
                {
                    "deviceName": "/dev/xvda",
                    "ebs": {"volumeSize": f"{pool.disk_size_gb}Gi", "volumeType": "gp3", "encrypted": True},
                }
            ],
            "tags": dict(args.tags or {}),
        }
        if pool.gpu_sharing == "mig" and pool.mig_profile:
            class_spec["userData"] = mig_user_data(pool.mig_profile)
        node_class = self._karpenter_object(name, "nodeclass", "karpenter.k8s.aws/v1", "EC2NodeClass", class_spec, args)
        capacity = ["spot", "on-demand"] if pool.spot else ["on-demand"]
        template_spec: dict = {
            "nodeClassRef": {"group": "karpenter.k8s.aws", "kind": "EC2NodeClass", "name": name},
            "requirements": [
                {"key": "node.kubernetes.io/instance-type", "operator": "In", "values": list(pool.instance_types)},
                # Karpenter prefers spot when both are allowed and falls back to on-demand.
                {"key": "karpenter.sh/capacity-type", "operator": "In", "values": capacity},
            ],
        }
        if pool.gpu:
            template_spec["taints"] = [{"key": GPU_TAINT[0], "value": GPU_TAINT[1], "effect": GPU_TAINT[2]}]
        pool_spec = {
            "template": {"metadata": {"labels": node_labels(pool, "aws")}, "spec": template_spec},
            "limits": {"nodes": pool.max_size},
            # A GPU node is reclaimed only once empty: consolidation would evict running training pods.
            "disruption": {
                "consolidationPolicy": "WhenEmpty" if pool.gpu else "WhenEmptyOrUnderutilized",
                "consolidateAfter": "5m",
            },
        }
        node_pool = self._karpenter_object(
            name, "nodepool", "karpenter.sh/v1", "NodePool", pool_spec, args, [node_class]
        )
        return node_pool.metadata.apply(lambda metadata: metadata["name"])

    def _karpenter_object(
        self,
        name: str,
        role: str,
        api_version: str,
        kind: str,
        spec: dict,
        args: NodePoolArgs,
        depends_on: list | None = None,
    ) -> k8s.apiextensions.CustomResource:
        """A cluster-scoped Karpenter object named like the pool, planned as `<name>-<role>`."""
        path = args.config_path()
        return k8s.apiextensions.CustomResource(
            f"{name}-{role}",
            api_version=api_version,
            kind=kind,
            metadata={"name": name, **({"annotations": path} if path else {})},
            spec=spec,
            opts=pulumi.ResourceOptions(parent=self, depends_on=depends_on),
        )
