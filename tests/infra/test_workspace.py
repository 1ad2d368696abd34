"""The workspace: workload namespaces and the disk StorageClass every claim names; no stored credentials."""

import pytest

from mlplatform.infra.workspace import Workspace, WorkspaceArgs


def _program(cloud):
    def program():
        Workspace("ws", WorkspaceArgs(cloud=cloud, namespaces=["training", "models"]))

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


def test_namespaces_hold_no_credentials(plan):
    monitor = plan(_program("alicloud"))
    assert sorted(n.inputs["metadata"]["name"] for n in monitor.of_type("kubernetes:core/v1:Namespace")) == [
        "models",
        "training",
    ]
    assert not monitor.of_type("kubernetes:core/v1:Secret")
