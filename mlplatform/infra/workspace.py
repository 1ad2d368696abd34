"""The cluster-wide ground workloads stand on: the disk StorageClass their claims name.

No credentials live here: workloads reach the buckets through workload identity (mlplatform/workloads/identity.py).
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s

from mlplatform.conventions import DISK_STORAGE_CLASS

# The block-storage CSI provisioner of each cloud, with a volume type every zone offers:
# - Alibaba disk CSI plugin `diskplugin.csi.alibabacloud.com`, ESSD PL1 (`cloud_essd`, 20 GiB at least), as ACK's
#   own `alicloud-disk-essd` class (help.aliyun.com/zh/ack/ack-managed-and-ack-dedicated/user-guide/storage-class);
#   ASK has no default StorageClass ("Use a dynamically provisioned disk volume", ACK Serverless docs).
# - AWS EBS CSI driver `ebs.csi.aws.com`, encrypted gp3 (docs.aws.amazon.com/eks/latest/userguide/ebs-csi.html).
# WaitForFirstConsumer creates the disk in the zone of the pod that first mounts it.
DISK_PROVISIONERS = {
    "alicloud": ("diskplugin.csi.alibabacloud.com", {"type": "cloud_essd"}),
    "aws": ("ebs.csi.aws.com", {"type": "gp3", "encrypted": "true"}),
}


@dataclass(frozen=True)
class WorkspaceArgs:
    cloud: str


class Workspace(pulumi.ComponentResource):
    """The StorageClass `DISK_STORAGE_CLASS`. (Workload namespaces were created here before teams; each team's
    Namespace now aliases its old name under this component, so existing stacks keep their namespaces.)"""

    def __init__(self, name: str, args: WorkspaceArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("mlplatform:workspace:Workspace", name, None, opts)
        provisioner, parameters = DISK_PROVISIONERS[args.cloud]
        k8s.storage.v1.StorageClass(
            f"{name}-disk",
            metadata={"name": DISK_STORAGE_CLASS},
            provisioner=provisioner,
            parameters=parameters,
            reclaim_policy="Delete",
            allow_volume_expansion=True,
            volume_binding_mode="WaitForFirstConsumer",
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.register_outputs({"storage_class": DISK_STORAGE_CLASS})
