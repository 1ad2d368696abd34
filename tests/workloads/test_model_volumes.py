"""Model volumes: one read-only volume per namespace and model version, which every serving there mounts."""

import json
from dataclasses import replace

from support import RRSA_PROVIDER, oss_storage, s3_storage

from mlplatform.config import Seldon, Serving
from mlplatform.conventions import COMPUTED
from mlplatform.workloads.kserve import KServeServing, KServeServingArgs
from mlplatform.workloads.llm import LlmServing
from mlplatform.workloads.serving import ModelServing, ModelServingArgs
from mlplatform.workloads.volumes import model_claim_name
from stacks.workloads import model_volumes

PV = "kubernetes:core/v1:PersistentVolume"
PVC = "kubernetes:core/v1:PersistentVolumeClaim"
SDEP = "kubernetes:machinelearning.seldon.io/v1:SeldonDeployment"
ISVC = "kubernetes:serving.kserve.io/v1beta1:InferenceService"
RAM_ROLE = "alicloud:ram/role:Role"


def seldon(*versions: str) -> dict:
    """A Seldon TF Serving serving with one predictor per version, splitting the traffic evenly."""
    predictors = [
        {"name": f"p{index}", "model": version, "server": "TENSORFLOW_SERVER"} for index, version in enumerate(versions)
    ]
    if len(predictors) > 1:
        for predictor in predictors:
            predictor["traffic"] = 100 // len(predictors)
        predictors[0]["traffic"] += 100 % len(predictors)
    return {"protocol": "tensorflow", "predictors": predictors}


# A KServe serving of color:v1 beside the Seldon ones.
KSERVE_COLOR_V1 = {
    "backend": "kserve",
    "protocol": "tensorflow",
    "predictors": [{"name": "v1", "model": "color:v1", "server": "TENSORFLOW_SERVER"}],
}


def placed(raw: dict, namespace: str = "models") -> Serving:
    """The serving in `namespace` (a team's, e.g. `vision-models`), as the stack layer places it."""
    return Serving.model_validate(raw).model_copy(update={"namespace": namespace})


def color_and(others: dict[str, Serving]) -> dict[str, Serving]:
    """`color` (color:v1 and color:v2) and `color-ab` (color:v1) in `models`, and `others`."""
    return {"color": placed(seldon("color:v1", "color:v2")), "color-ab": placed(seldon("color:v1")), **others}


def plan_servings(plan, servings: dict[str, Serving], storage):
    """Plan the servings with their namespaces' shared volumes, as the stack layer does."""

    def program():
        volumes = model_volumes(servings, {s.namespace: s.namespace for s in servings.values()}, storage)
        for name, serving in servings.items():
            shared = volumes.get(serving.namespace, {})
            if serving.backend == "seldon":
                arguments = ModelServingArgs(
                    serving, serving.namespace, storage, Seldon(), "http://ingress", "ingress", model_volumes=shared
                )
                ModelServing(name, arguments)
            else:
                component = LlmServing if serving.kind == "llm" else KServeServing
                arguments = KServeServingArgs(
                    serving, serving.namespace, storage, "http://gateway", "gateway", model_volumes=shared
                )
                component(name, arguments)

    return plan(program, stack="prod")


def names(monitor, type_: str) -> list[str]:
    return sorted(r.inputs["metadata"]["name"] for r in monitor.of_type(type_))


def model_uris(monitor) -> dict[str, list[str]]:
    """Serving -> the model URI of each of its predictors (Seldon and KServe)."""
    uris = {
        r.inputs["metadata"]["name"]: [p["graph"]["modelUri"] for p in r.inputs["spec"]["predictors"]]
        for r in monitor.of_type(SDEP)
    }
    for isvc in monitor.of_type(ISVC):
        spec = isvc.inputs["spec"]
        predictors = [spec["predictor"], *(canary["predictor"] for canary in spec.get("canary", []))]
        uris[isvc.inputs["metadata"]["name"]] = [p["model"]["storageUri"] for p in predictors]
    return uris


def test_servings_of_a_version_in_one_namespace_share_one_volume_and_one_role(plan):
    servings = color_and({"color-kserve": placed(KSERVE_COLOR_V1)})
    monitor = plan_servings(plan, servings, oss_storage(models="mlp-models", stack="prod"))
    assert names(monitor, PV) == ["models-model-color-v1", "models-model-color-v2"]
    assert names(monitor, PVC) == ["model-color-v1", "model-color-v2"]
    roles = sorted(r.inputs["roleName"] for r in monitor.of_type(RAM_ROLE))
    assert roles == ["mlp-prod-models-model-color-v1", "mlp-prod-models-model-color-v2"]
    assert model_uris(monitor) == {
        "color": ["pvc://model-color-v1", "pvc://model-color-v2"],
        "color-ab": ["pvc://model-color-v1"],
        "color-kserve": ["pvc://model-color-v1"],
    }
    # Every serving waits for the volumes it mounts, which no serving owns.
    volume = monitor.component("models-model-color-v1")
    assert volume.parent.endswith("pulumi:pulumi:Stack::ml-platform-prod")
    for workload in (*monitor.of_type(SDEP), *monitor.of_type(ISVC)):
        assert any("models-model-color-v1" in urn for urn in workload.dependencies), workload.name


def test_a_serving_of_the_version_in_another_team_namespace_gets_its_own_volume(plan):
    servings = {
        "color": placed(seldon("color:v1")),
        "vision-color": placed(seldon("color:v1"), "vision-models"),
    }
    monitor = plan_servings(plan, servings, oss_storage(models="mlp-models", stack="prod"))
    assert names(monitor, PV) == ["models-model-color-v1", "vision-models-model-color-v1"]
    claims = {(r.inputs["metadata"]["namespace"], r.inputs["metadata"]["name"]) for r in monitor.of_type(PVC)}
    assert claims == {("models", "model-color-v1"), ("vision-models", "model-color-v1")}
    volumes = {r.inputs["metadata"]["name"]: r.inputs["spec"] for r in monitor.of_type(PV)}
    # Each PersistentVolume binds only its own namespace's claim.
    assert volumes["vision-models-model-color-v1"]["claimRef"] == {
        "namespace": "vision-models",
        "name": "model-color-v1",
    }
    roles = sorted(r.inputs["roleName"] for r in monitor.of_type(RAM_ROLE))
    assert roles == ["mlp-prod-models-model-color-v1", "mlp-prod-vision-models-model-color-v1"]


def test_the_role_of_a_shared_volume_reads_only_its_version(plan):
    servings = {"color": placed(seldon("color:v1", "color:v2"))}
    monitor = plan_servings(plan, servings, oss_storage(models="mlp-models", stack="prod"))
    [role] = [r for r in monitor.of_type(RAM_ROLE) if r.inputs["roleName"] == "mlp-prod-models-model-color-v1"]
    assert role.inputs["tags"] == {"mlplatform.io/purpose": "serving"}
    [policy] = [
        r
        for r in monitor.of_type("alicloud:ram/policy:Policy")
        if r.inputs["policyName"] == "mlp-prod-models-model-color-v1"
    ]
    bucket, objects = json.loads(policy.inputs["policyDocument"])["Statement"]
    assert bucket["Resource"] == ["acs:oss:*:*:mlp-models"]
    assert objects == {
        "Effect": "Allow",
        "Action": ["oss:GetObject"],
        "Resource": ["acs:oss:*:*:mlp-models/color/v1/*"],
    }
    [volume] = [
        r.inputs["spec"] for r in monitor.of_type(PV) if r.inputs["metadata"]["name"] == "models-model-color-v1"
    ]
    assert volume["csi"]["volumeAttributes"]["path"] == "/color/v1/"
    assert volume["csi"]["readOnly"] is True


def test_on_eks_each_serving_identity_reads_exactly_its_versions(plan):
    llm = {"backend": "kserve", "kind": "llm", "llm": {"model": "color:v2", "gpus": 1}}
    monitor = plan_servings(plan, color_and({"assistant": placed(llm)}), s3_storage(models="mlp-models", stack="prod"))
    # The volumes are shared and carry no role: Mountpoint mounts with each pod's own credentials.
    assert len(monitor.of_type(PV)) == 2
    assert {r.inputs["name"] for r in monitor.of_type("aws:iam/role:Role")} == {
        "mlp-prod-color",
        "mlp-prod-color-ab",
        "mlp-prod-assistant",
    }
    readable = {}
    for policy in monitor.of_type("aws:iam/rolePolicy:RolePolicy"):
        statements = json.loads(policy.inputs["policy"])["Statement"]
        gets = [s for s in statements if "s3:GetObject" in s["Action"]]
        assert all(s["Action"] == ["s3:GetObject"] for s in gets)  # read-only
        readable[policy.name.removesuffix("-buckets")] = sorted(r for s in gets for r in s["Resource"])
    assert readable == {
        "color": ["arn:aws:s3:::mlp-models/color/v1/*", "arn:aws:s3:::mlp-models/color/v2/*"],
        "color-ab": ["arn:aws:s3:::mlp-models/color/v1/*"],
        "assistant": ["arn:aws:s3:::mlp-models/color/v2/*"],
    }
    associations = {
        r.inputs["serviceAccount"] for r in monitor.of_type("aws:eks/podIdentityAssociation:PodIdentityAssociation")
    }
    assert associations == {"color", "color-ab", "assistant"}


def test_claim_names_read_as_the_version_and_never_collide():
    assert model_claim_name("color:v1") == "model-color-v1"
    assert model_claim_name("qwen2-5-7b-instruct:v1") == "model-qwen2-5-7b-instruct-v1"
    # Names that would read alike, capitals, '.' and '_' (not in RAM policy names) get a digest of the version.
    assert model_claim_name("a-b:c") != model_claim_name("a:b-c")
    assert model_claim_name("color:V3") != model_claim_name("color:v3") == "model-color-v3"
    assert model_claim_name("color:rc_1").startswith("model-color-rc-1-")
    long = model_claim_name(f"{'x' * 70}:v1")
    assert len(long) == 63 and long.startswith("model-xxx")


def on_ask(storage):
    """`storage` as an ASK stack hands it over: every pod an ECI, mounting its OSS volumes itself."""
    return replace(storage, identity=replace(storage.identity, mounts_in_pod=True))


def trusted(monitor, role_name: str) -> list[str] | str:
    [role] = [r for r in monitor.of_type(RAM_ROLE) if r.inputs["roleName"] == role_name]
    [statement] = json.loads(role.inputs["assumeRolePolicyDocument"])["Statement"]
    assert statement["Principal"] == {"Federated": [RRSA_PROVIDER]}
    assert statement["Condition"]["StringEquals"]["oidc:aud"] == "sts.aliyuncs.com"
    return statement["Condition"]["StringEquals"]["oidc:sub"]


def volume_attributes(monitor, name: str) -> dict:
    [spec] = [r.inputs["spec"] for r in monitor.of_type(PV) if r.inputs["metadata"]["name"] == name]
    return spec["csi"]["volumeAttributes"]


def test_on_ask_a_shared_volume_role_trusts_the_accounts_of_the_servings_that_mount_it(plan):
    # ECI: the OSS driver mounts in each pod's sandbox with that pod's own token (identity.py), not csi-fuse-ossfs.
    servings = color_and({"color-kserve": placed(KSERVE_COLOR_V1)})
    monitor = plan_servings(plan, servings, on_ask(oss_storage(models="mlp-models", stack="prod")))
    assert trusted(monitor, "mlp-prod-models-model-color-v1") == [
        "system:serviceaccount:models:color",
        "system:serviceaccount:models:color-ab",
        "system:serviceaccount:models:color-kserve",
    ]
    # Only `color` serves color:v2: the others' pods cannot assume its role.
    assert trusted(monitor, "mlp-prod-models-model-color-v2") == "system:serviceaccount:models:color"
    attributes = volume_attributes(monitor, "models-model-color-v1")
    # With both ARNs the driver derives nothing from the sandbox (CheckRRSAParams/GetRRSAConfig, v1.37.1).
    assert attributes["authType"] == "rrsa"
    assert attributes["oidcProviderArn"] == RRSA_PROVIDER
    assert attributes["roleArn"] == COMPUTED
    assert "roleName" not in attributes


def test_on_ack_managed_a_volume_role_trusts_only_the_csi_fuse_pod_as_before(plan):
    servings = color_and({})
    monitor = plan_servings(plan, servings, oss_storage(models="mlp-models", stack="prod"))
    assert trusted(monitor, "mlp-prod-models-model-color-v1") == "system:serviceaccount:ack-csi-fuse:csi-fuse-ossfs"
    attributes = volume_attributes(monitor, "models-model-color-v1")
    assert attributes["roleName"] == "mlp-prod-models-model-color-v1"
    assert not {"roleArn", "oidcProviderArn"} & set(attributes)
    # The ASK check above fails on this plan: the FUSE pod's account is not a serving's.
    assert "system:serviceaccount:models:color" not in trusted(monitor, "mlp-prod-models-model-color-v1")
