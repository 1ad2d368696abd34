"""No stored keys in any shipped stack: RRSA roles on ACK, Pod Identity on EKS, OSS volumes mounted with RRSA."""

import pytest

from mlplatform import rules

STACKS = ["dev", "prod", "dev-aws", "prod-aws"]
CLOUD_KEY_NAMES = {"akId", "akSecret", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"}


@pytest.fixture(params=STACKS)
def planned(request, shipped):
    return shipped(request.param)


def of_type(result, type_: str) -> list[dict]:
    return [r for r in result.resources if r["type"] == type_]


def test_no_access_key_and_no_secret_with_cloud_keys(planned):
    types = {r["type"] for r in planned.resources}
    assert not {"alicloud:ram/accessKey:AccessKey", "aws:iam/accessKey:AccessKey"} & types
    assert not {"alicloud:ram/user:User", "aws:iam/user:User"} & types
    for secret in (m for m in planned.manifests if m["kind"] == "Secret"):
        keys = {*secret.get("data", {}), *secret.get("stringData", {})}
        assert not keys & CLOUD_KEY_NAMES, secret["metadata"]


def test_workload_identity_is_there_and_bucket_volumes_use_it(planned):
    volumes = [m for m in planned.manifests if m["kind"] == "PersistentVolume"]
    assert volumes
    if planned.stack in ("dev", "prod"):
        assert of_type(planned, "alicloud:ram/role:Role")
        for volume in volumes:
            assert volume["spec"]["csi"]["volumeAttributes"]["authType"] == "rrsa"
    else:
        assert of_type(planned, "aws:eks/podIdentityAssociation:PodIdentityAssociation")
        for volume in volumes:
            assert volume["spec"]["csi"]["volumeAttributes"]["authenticationSource"] == "pod"


def test_serving_roles_cannot_write_and_prod_roles_cannot_delete(planned):
    documents = [r["inputs"].get("policyDocument") or r["inputs"].get("policy") for r in planned.resources]
    documents = [d for d in documents if isinstance(d, str) and "Statement" in d]
    assert documents
    if planned.outputs["environment"] == "prod":
        assert not any("DeleteObject" in document for document in documents)
    serving_roles = [
        r for r in planned.resources if r["inputs"].get("tags", {}).get("mlplatform.io/purpose") == "serving"
    ]
    assert serving_roles or planned.stack.startswith("dev")
    assert rules.MODEL_VERSION_ANNOTATION  # servings still annotate their versions for the promotion policy


WORKLOAD_KINDS = {
    "Deployment",
    "Job",
    "SeldonDeployment",
    "InferenceService",
    "Notebook",
    "TFJob",
    "PyTorchJob",
    "XGBoostJob",
    "MPIJob",
    "TrainJob",
}


def test_every_namespace_holding_a_workload_is_fenced(planned):
    workload_namespaces = {m["metadata"].get("namespace") for m in planned.manifests if m["kind"] in WORKLOAD_KINDS}
    namespaces = {m["metadata"]["name"]: m for m in planned.manifests if m["kind"] == "Namespace"}
    for namespace in workload_namespaces - {None}:
        kinds = {m["kind"] for m in planned.manifests if m["metadata"].get("namespace") == namespace}
        assert {"NetworkPolicy", "ResourceQuota"} <= kinds, namespace
        labels = namespaces[namespace]["metadata"].get("labels", {})
        assert labels.get("pod-security.kubernetes.io/enforce") in ("restricted", "baseline"), namespace
