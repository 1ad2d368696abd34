"""The policy pack started through its real entry point and queried over gRPC, as the Pulumi CLI does."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlplatform.offline.analyzer import PolicyPackError, wire_value
from mlplatform.offline.packrun import run_policy_pack

PACK = Path(__file__).resolve().parents[2] / "policies"
PROJECT = "ml-platform"
SIG_KEY, SECRET_SIG = "4dabf18193072939515e22adb298388d", "1b47061264138c4ac30d75fd1eb44270"
SECRET = {SIG_KEY: SECRET_SIG, "ciphertext": "[secret]"}
PATH = "mlplatform.io/config-path"  # the config entry the platform rendered an object (or predictor) from
POLICIES = {
    "serving-traffic-split",
    "images-pinned",
    "container-resources",
    "bucket-security",
    "prod-protection",
    "prod-serving-availability",
    "notebook-access",
    "prod-private-endpoints",
    "kubernetes-version",
    "gpu-node-cap",
    "no-plaintext-secrets",
    "promoted-model-versions",
    "budget",
    "kubernetes-end-of-support",
    "kubernetes-support-window",
    "private-api-endpoint",
    "namespaces-fenced",
    "no-access-keys",
    "serving-roles-read-only",
    "pod-hardening",
    "notebook-sso",
    "pod-identity-scoped",
}


def record(stack: str, type_: str, name: str, inputs: dict, outputs: dict | None = None) -> dict:
    """A resource as the offline preview writes it in stack.json (deployment v3)."""
    return {
        "urn": f"urn:pulumi:{stack}::{PROJECT}::mlplatform:serving:Serving${type_}::{name}",
        "type": type_,
        "custom": True,
        "id": "",
        "parent": "",
        "inputs": inputs,
        "outputs": outputs if outputs is not None else inputs,
        "protect": False,
        "retainOnDelete": False,
        "dependencies": [],
        "provider": "",
        "propertyDependencies": {},
    }


def color_serving(stack: str, image: str, env: list | None = None, version: str = "color:v1") -> dict:
    """`servings.color` as the platform renders it: one predictor, annotated with its config path."""
    model = {
        "name": "model",
        "image": image,
        "resources": {"requests": {"cpu": "1", "memory": "2Gi"}, "limits": {"cpu": "1", "memory": "2Gi"}},
        "env": env or [],
        "securityContext": {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}},
    }
    pod_security = {"runAsNonRoot": True, "runAsUser": 8888, "seccompProfile": {"type": "RuntimeDefault"}}
    predictor = {
        "name": "v1",
        "traffic": 100,
        "replicas": 2,
        "annotations": {"mlplatform.io/model-version": version, PATH: "servings.color.predictors[0]"},
        "graph": {"name": "model", "type": "MODEL", "modelUri": "04da6b54-80e4-46f7-96ec-b56ff0331ba9"},
        "componentSpecs": [
            {
                "hpaSpec": {"minReplicas": 2, "maxReplicas": 4},
                "spec": {"containers": [model], "securityContext": pod_security},
            }
        ],
    }
    metadata = {"name": "color", "namespace": "models", "annotations": {PATH: "servings.color"}}
    props = {"metadata": metadata, "spec": {"predictors": [predictor]}}
    return record(stack, "kubernetes:machinelearning.seldon.io/v1:SeldonDeployment", "color", props)


def fenced_models_namespace(stack: str) -> list[dict]:
    """The `models` namespace as a team fences it (the `namespaces-fenced` policy looks for these)."""
    labels = {"pod-security.kubernetes.io/enforce": "baseline"}
    return [
        record(stack, "kubernetes:core/v1:Namespace", "models", {"metadata": {"name": "models", "labels": labels}}),
        record(
            stack,
            "kubernetes:networking.k8s.io/v1:NetworkPolicy",
            "models-default-deny",
            {"metadata": {"name": "default-deny", "namespace": "models"}, "spec": {"podSelector": {}}},
        ),
        record(
            stack,
            "kubernetes:core/v1:ResourceQuota",
            "models-quota",
            {"metadata": {"name": "team-quota", "namespace": "models"}, "spec": {"hard": {"pods": "10"}}},
        ),
    ]


def dev_reference(stack: str, source: str = "dev", versions: tuple = ("color:v1", "color:v2")) -> dict:
    name = f"organization/ml-platform/{source}"
    outputs = {"name": name, "outputs": {"modelVersions": list(versions)}, "secretOutputNames": []}
    return record(stack, "pulumi:pulumi:StackReference", name, {"name": name}, outputs)


@pytest.fixture(scope="module")
def prod_with_latest():
    resources = [dev_reference("prod"), color_serving("prod", "team/color:latest"), *fenced_models_namespace("prod")]
    return run_policy_pack(PACK, "prod", PROJECT, resources)


def test_the_pack_lists_every_policy_mandatory_in_prod(prod_with_latest):
    assert {p.name for p in prod_with_latest.policies} == POLICIES
    # Every policy but the early warning of an ending Kubernetes version, which only ever advises.
    levels = {p.name: p.enforcement_level for p in prod_with_latest.policies}
    assert levels.pop("kubernetes-support-window") == "advisory"
    assert set(levels.values()) == {"mandatory"}
    assert prod_with_latest.config["prod-serving-availability"] == {
        "enforcementLevel": "mandatory",
        "minReplicas": 2,
        "allowScaleToZero": True,
    }


def test_an_image_tagged_latest_in_prod_is_a_mandatory_violation(prod_with_latest):
    [violation] = prod_with_latest.violations
    assert (violation.policy_name, violation.enforcement_level) == ("images-pinned", "mandatory")
    assert violation.resource_name == "color"
    assert "servings.color.predictors[0].image: image 'team/color:latest' uses the moving tag 'latest'" in (
        violation.message
    )
    assert prod_with_latest.has_mandatory
    assert prod_with_latest.format().splitlines()[:3] == [
        "Policies:",
        "    ❌ ml-platform-policies@v0.1.0 (local: policies)",
        "        - [mandatory]  images-pinned  (kubernetes:machinelearning.seldon.io/v1:SeldonDeployment: color)",
    ]
    assert prod_with_latest.to_json()["violations"][0]["policy_name"] == "images-pinned"


def test_a_compliant_prod_serving_has_no_violation_and_reads_are_not_analyzed():
    public = {"metadata": {"name": "ingress"}, "spec": {"type": "LoadBalancer"}}
    read = record("prod", "kubernetes:core/v1:Service", "ingress", public) | {"external": True}
    resources = [dev_reference("prod"), color_serving("prod", "team/color:v1"), read, *fenced_models_namespace("prod")]
    report = run_policy_pack(PACK, "prod", PROJECT, resources)
    assert report.violations == []
    assert not report.has_mandatory
    assert report.format().splitlines()[1] == "    ✅ ml-platform-policies@v0.1.0 (local: policies)"


def test_dev_reports_advisory_and_a_config_can_raise_or_disable_policies():
    resources = [
        color_serving("dev", "team/color:latest", env=[{"name": "AWS_SECRET_ACCESS_KEY", "value": SECRET}]),
        *fenced_models_namespace("dev"),
    ]
    report = run_policy_pack(PACK, "dev", PROJECT, resources, config={"images-pinned": "mandatory"})
    levels = {v.policy_name: v.enforcement_level for v in report.violations}
    assert levels == {"images-pinned": "mandatory", "no-plaintext-secrets": "advisory"}
    report = run_policy_pack(PACK, "dev", PROJECT, resources, config={"all": "disabled"})
    assert report.violations == []


@pytest.mark.parametrize("stack", ["prod", "prod-aws"])
def test_a_prod_stack_judges_promotion_by_the_stack_its_reference_reads(stack):
    """A plan like prod-aws's reads what it may serve from dev-aws, whatever the prod stack is called."""
    reference = dev_reference(stack, source="dev-aws", versions=("color:v1",))
    fenced = fenced_models_namespace(stack)
    passing = run_policy_pack(PACK, stack, PROJECT, [reference, color_serving(stack, "team/color:v1"), *fenced])
    assert passing.violations == []
    unpublished = color_serving(stack, "team/color:v1", version="color:v2")
    report = run_policy_pack(PACK, stack, PROJECT, [reference, unpublished, *fenced])
    [violation] = report.violations
    assert (violation.policy_name, violation.enforcement_level) == ("promoted-model-versions", "mandatory")
    assert violation.message.endswith(
        "servings.color.predictors[0].model: serves color:v2, which stack 'dev-aws' has not published (published: "
        "color:v1); train and publish it in dev-aws first, or list it in the policy's allowUnpublishedVersions "
        "(SeldonDeployment color predictor v1)."
    )


def test_numbers_from_the_pack_config_read_as_integers():
    resources = [dev_reference("prod"), color_serving("prod", "team/color:v1"), *fenced_models_namespace("prod")]
    report = run_policy_pack(PACK, "prod", PROJECT, resources, config={"prod-serving-availability": {"minReplicas": 3}})
    messages = [v.message for v in report.violations if v.policy_name == "prod-serving-availability"]
    assert messages and all("prod predictors run at least 3: set it to 3 or more" in m for m in messages)


def test_config_the_schema_rejects_is_an_error():
    with pytest.raises(PolicyPackError, match="prod-serving-availability: 0 is less than the minimum of 1"):
        run_policy_pack(PACK, "prod", PROJECT, [], config={"prod-serving-availability": {"minReplicas": 0}})


def test_a_pack_that_fails_to_start_surfaces_its_stderr(tmp_path):
    (tmp_path / "PulumiPolicy.yaml").write_text("runtime: python\nversion: 0.0.1\n")
    (tmp_path / "__main__.py").write_text("raise SystemExit('no policies here')\n")
    with pytest.raises(PolicyPackError, match=r"(?s)exited with code 1 before printing its port.*no policies here"):
        run_policy_pack(tmp_path, "dev", PROJECT, [])


def test_secrets_from_stack_json_go_to_the_pack_as_secret_values():
    assert wire_value({"data": SECRET}) == {"data": {SIG_KEY: SECRET_SIG, "value": "[secret]"}}
    shown = {SIG_KEY: SECRET_SIG, "plaintext": '{"user": "admin"}'}
    assert wire_value([shown]) == [{SIG_KEY: SECRET_SIG, "value": {"user": "admin"}}]
