"""The workspace: the disk StorageClass every claim names."""

import pytest

from mlplatform.infra.workspace import Workspace, WorkspaceArgs


def _program(cloud):
    def program():
        Workspace("ws", WorkspaceArgs(cloud=cloud))

    return program


@pytest.mark.parametrize(
    ("cloud", "provisioner"), [("alicloud", "diskplugin.csi.alibabacloud.com"), ("aws", "ebs.csi.aws.com")]
)
def test_every_cluster_gets_a_disk_class_that_binds_where_the_pod_runs(plan, cloud, provisioner):
    monitor = plan(_program(cloud))
    [storage_class] = monitor.of_type("kubernetes:storage.k8s.io/v1:StorageClass")
    assert storage_class.inputs["metadata"]["name"] == "ml-platform-disk"
    assert storage_class.inputs["provisioner"] == provisioner
    assert storage_class.inputs["volumeBindingMode"] == "WaitForFirstConsumer"


def test_the_disk_class_retains_disks_and_is_replaced_rather_than_patched(plan):
    """A disk outlives its claim. The API server refuses updates to a StorageClass's `reclaimPolicy` and
    `volumeBindingMode` (kubernetes `ValidateStorageClassUpdate`), which pulumi-kubernetes 4.34.2 would patch in place
    (its `forceNew` lists `parameters` and `provisioner` only): those two replace the class, the old one first."""
    [storage_class] = plan(_program("aws")).of_type("kubernetes:storage.k8s.io/v1:StorageClass")
    assert storage_class.inputs["reclaimPolicy"] == "Retain"
    assert set(storage_class.replace_on_changes) == {"reclaimPolicy", "volumeBindingMode"}
    assert storage_class.delete_before_replace
