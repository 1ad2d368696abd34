"""The shipped stacks exercise KServe, the LLM serving and Trainer v2, valid against the upstream CRDs (strict)."""

from pathlib import Path

import pytest

from mlplatform import validation
from mlplatform.offline.preview import run_preview

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def prod():
    return run_preview("prod", ROOT)


@pytest.fixture(scope="module")
def dev():
    return run_preview("dev", ROOT)


def manifest(result, kind: str, name: str) -> dict:
    found = next(m for m in result.manifests if m["kind"] == kind and m["metadata"]["name"] == name)
    assert validation.validate(found, strict=True) == []  # nothing pruned, no webhook refusal
    return found


def releases(result) -> set[str]:
    return {r["inputs"]["name"] for r in result.resources if r["type"] == "kubernetes:helm.sh/v3:Release"}


def test_prod_serves_a_kserve_inference_service_with_a_canary(prod):
    isvc = manifest(prod, "InferenceService", "sentiment")
    assert isvc["metadata"]["annotations"]["serving.kserve.io/deploymentMode"] == "Standard"
    [canary] = isvc["spec"]["canary"]
    assert (canary["predictor"]["name"], canary["trafficPercent"]) == ("candidate", 5)
    route = manifest(prod, "HTTPRoute", "sentiment")
    assert [b["weight"] for b in route["spec"]["rules"][0]["backendRefs"]] == [95, 5]
    manifest(prod, "Gateway", "kserve-ingress-gateway")


def test_prod_serves_an_llm_on_gpus_that_scales_to_zero(prod):
    isvc = manifest(prod, "InferenceService", "assistant")
    predictor = isvc["spec"]["predictor"]
    assert predictor["model"]["resources"]["limits"]["nvidia.com/gpu"] == "2"
    assert predictor["minReplicas"] == 0
    scaled = manifest(prod, "ScaledObject", "assistant")
    assert scaled["spec"]["minReplicaCount"] == 0


def test_prod_installs_kserve_with_cert_manager_and_keda(prod):
    assert {"cert-manager", "kserve-crd", "kserve-resources", "kserve-runtime-configs", "keda"} <= releases(prod)


def test_dev_trains_with_a_trainjob_and_installs_trainer_v2(dev):
    job = manifest(dev, "TrainJob", "sentiment-training")
    assert job["spec"]["runtimeRef"]["name"] == "torch-distributed"
    assert "kubeflow-trainer" in releases(dev)
    manifest(dev, "TFJob", "color-training")  # v1 jobs keep working beside it


def test_prod_copies_the_llm_weights_from_dev_before_serving_them(prod):
    copy = next(r for r in prod.resources if r["urn"].endswith("::promote-qwen2-5-7b-instruct-v1-job"))
    llm = next(r for r in prod.resources if r["urn"].endswith("::assistant-inferenceservice"))
    assert copy["urn"] in llm.get("dependencies", [])
