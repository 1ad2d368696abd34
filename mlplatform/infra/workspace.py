"""The cluster-wide ground workloads stand on: the disk StorageClass their claims name.

The class keeps the disks it provisions (`reclaimPolicy: Retain`): a notebook's home outlives its claim, whether
the claim goes because the notebook is renamed, removed or moved to another team, or with its namespace. A
StorageClass's `parameters`, `provisioner`, `reclaimPolicy` and `volumeBindingMode` cannot be updated
(kubernetes `pkg/apis/storage/validation/validation.go` `ValidateStorageClassUpdate`); pulumi-kubernetes 4.34.2
replaces the class on a change of the first two only (`provider/pkg/provider/diff.go` `forceNew`), so the other
two are named in `replace_on_changes`, and the class is deleted before it is replaced (the new one has the same
name). Replacing the class touches no volume: a PersistentVolume takes its reclaim policy from the class when
it is provisioned, and a claim names its class by a name that does not change (`DISK_STORAGE_CLASS`), so no
claim depends on the class resource and none is replaced with it (pulumi/pulumi `step_generator.go`
`calculateDependentReplacements` replaces only dependents whose inputs come from the replaced resource).
Volumes provisioned while the class said `Delete` keep `Delete` until patched (docs/operations.md).

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


RECLAIM_POLICY = "Retain"
# StorageClass fields immutable in the API server that pulumi-kubernetes 4.34.2 does not replace on (module doc).
IMMUTABLE_UNLISTED = ("reclaimPolicy", "volumeBindingMode")


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
            # The disk outlives its claim: user data is never deleted with a notebook (or its namespace).
            reclaim_policy=RECLAIM_POLICY,
            allow_volume_expansion=True,
            volume_binding_mode="WaitForFirstConsumer",
            # Fields the API server refuses to update and pulumi-kubernetes would otherwise try to patch in place;
            # the replacement keeps the class's name, so the old class goes first.
            opts=pulumi.ResourceOptions(
                parent=self, replace_on_changes=list(IMMUTABLE_UNLISTED), delete_before_replace=True
            ),
        )
        self.register_outputs({"storage_class": DISK_STORAGE_CLASS})
