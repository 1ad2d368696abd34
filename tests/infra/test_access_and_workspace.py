"""Bucket credentials stay secret from the cloud key to the Kubernetes Secret of every workload namespace."""

import json

import pytest

from mlplatform.infra.storage_access import StorageAccess, StorageAccessArgs
from mlplatform.infra.workspace import STORAGE_SECRET, Workspace, WorkspaceArgs
from mlplatform.offline.engine import SECRET_SIG, SIG_KEY


def _program(cloud):
    def program():
        access = StorageAccess("workloads", StorageAccessArgs(cloud=cloud, bucket_names=["data", "models"]))
        Workspace(
            "ws",
            WorkspaceArgs(
                cloud=cloud,
                namespaces=["training", "models"],
                storage_credentials={"KEY_ID": access.access_key_id, "KEY_SECRET": access.access_key_secret},
            ),
        )

    return program


def test_ram_user_may_only_touch_the_platform_buckets(plan):
    monitor = plan(_program("alicloud"))
    policy = json.loads(monitor.named("workloads-buckets").inputs["policyDocument"])
    resources = policy["Statement"][0]["Resource"]
    assert resources == ["acs:oss:*:*:data", "acs:oss:*:*:models", "acs:oss:*:*:data/*", "acs:oss:*:*:models/*"]
    assert monitor.named("workloads").type == "alicloud:ram/user:User"


def test_iam_user_may_only_touch_the_platform_buckets(plan):
    monitor = plan(_program("aws"))
    statements = json.loads(monitor.named("workloads-buckets").inputs["policy"])["Statement"]
    assert statements[0]["Resource"] == ["arn:aws:s3:::data", "arn:aws:s3:::models"]
    assert "s3:DeleteBucket" not in statements[1]["Action"]
    assert all(resource.startswith("arn:aws:s3:::") for s in statements for resource in s["Resource"])


def test_every_workload_namespace_gets_the_storage_secret_as_a_secret(plan):
    monitor = plan(_program("alicloud"))
    secrets = monitor.of_type("kubernetes:core/v1:Secret")
    assert sorted((s.inputs["metadata"]["namespace"], s.inputs["metadata"]["name"]) for s in secrets) == [
        ("models", STORAGE_SECRET),
        ("training", STORAGE_SECRET),
    ]
    for secret in secrets:
        assert secret.inputs["stringData"][SIG_KEY] == SECRET_SIG
    assert "KEY_SECRET" in secrets[0].inputs["stringData"]["value"]


@pytest.mark.parametrize(
    ("cloud", "provisioner"), [("alicloud", "diskplugin.csi.alibabacloud.com"), ("aws", "ebs.csi.aws.com")]
)
def test_every_cluster_gets_a_disk_class_that_binds_where_the_pod_runs(plan, cloud, provisioner):
    [storage_class] = plan(_program(cloud)).of_type("kubernetes:storage.k8s.io/v1:StorageClass")
    assert storage_class.inputs["metadata"]["name"] == "ml-platform-disk"
    assert storage_class.inputs["provisioner"] == provisioner
    assert storage_class.inputs["volumeBindingMode"] == "WaitForFirstConsumer"
