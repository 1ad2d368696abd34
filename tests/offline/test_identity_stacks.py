"""No stored keys in any shipped stack: RRSA roles on ACK, Pod Identity on EKS, OSS volumes mounted with RRSA."""

import json

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


def _walk(node):
    if isinstance(node, dict):
        yield node
        for value in node.values():
            yield from _walk(value)
    elif isinstance(node, list):
        for value in node:
            yield from _walk(value)


def _claims_and_accounts(manifest: dict) -> tuple[set[str], set[str]]:
    """The claims a workload's pods mount (volumes, Seldon/KServe `pvc://` URIs) and the accounts they run as."""
    claims, accounts = set(), set()
    for node in _walk(manifest.get("spec", {})):
        if "claimName" in node:
            claims.add(node["claimName"])
        if isinstance(node.get("serviceAccountName"), str):
            accounts.add(node["serviceAccountName"])
        for value in node.values():
            if isinstance(value, str) and value.startswith("pvc://"):
                claims.add(value.removeprefix("pvc://").split("/")[0])
    return claims, accounts


def oss_mounts(planned) -> list[tuple[str, str, str, list[str] | str]]:
    """(namespace, account, claim, the `oidc:sub` its volume's RAM role trusts) for every OSS claim a workload's
    pods mount: claim -> PersistentVolume (`claimRef`) -> its role (the volume depends on it)."""
    roles = {r["urn"]: r for r in of_type(planned, "alicloud:ram/role:Role")}
    volumes = {}
    for volume in of_type(planned, "kubernetes:core/v1:PersistentVolume"):
        ref = volume["inputs"]["spec"]["claimRef"]
        [role] = [roles[urn] for urn in volume["dependencies"] if urn in roles]
        trust = json.loads(role["inputs"]["assumeRolePolicyDocument"])["Statement"][0]
        volumes[(ref["namespace"], ref["name"])] = trust["Condition"]["StringEquals"]["oidc:sub"]
    mounts = []
    for manifest in (m for m in planned.manifests if m["kind"] in WORKLOAD_KINDS):
        namespace = manifest["metadata"]["namespace"]
        claims, accounts = _claims_and_accounts(manifest)
        for claim in claims & {name for ns, name in volumes if ns == namespace}:
            assert accounts, manifest["metadata"]["name"]
            mounts += [(namespace, account, claim, volumes[(namespace, claim)]) for account in sorted(accounts)]
    return mounts


FUSE_POD = "system:serviceaccount:ack-csi-fuse:csi-fuse-ossfs"


def untrusted(mounts, serverless: bool) -> list[tuple[str, str]]:
    """(claim, account) of each mount whose role does not trust what mounts it: on ASK the ECI pod's own account
    (and not the FUSE pod's), on ACK managed the CSI plugin's FUSE pod alone (mlplatform/workloads/identity.py)."""
    wrong = []
    for namespace, account, claim, trusted in mounts:
        subjects = [trusted] if isinstance(trusted, str) else trusted
        pod = f"system:serviceaccount:{namespace}:{account}"
        if (pod not in subjects or FUSE_POD in subjects) if serverless else subjects != [FUSE_POD]:
            wrong.append((claim, account))
    return wrong


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_every_oss_volume_role_trusts_the_identity_that_mounts_it_on_its_cluster_kind(shipped, stack):
    planned = shipped(stack)
    mounts = oss_mounts(planned)
    assert mounts
    serverless = stack == "dev"  # dev is ASK, prod ACK managed
    assert untrusted(mounts, serverless) == []
    # The violating cases: the other kind's trust.
    assert untrusted(mounts, not serverless)
    assert untrusted([(ns, account, claim, FUSE_POD) for ns, account, claim, _ in mounts], True)
    volumes = [m["spec"]["csi"]["volumeAttributes"] for m in planned.manifests if m["kind"] == "PersistentVolume"]
    for attributes in volumes:
        if serverless:  # the ECI path takes both ARNs as they are (alibaba-cloud-csi-driver v1.37.1 CheckRRSAParams)
            assert {"roleArn", "oidcProviderArn"} <= set(attributes) and "roleName" not in attributes
        else:
            assert "roleName" in attributes and "roleArn" not in attributes
