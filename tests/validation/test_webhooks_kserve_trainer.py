"""The KServe canary and Trainer runtime-reference webhook rules, on rendered objects (as the preview checks them)."""

import copy

import pytest

from mlplatform import validation

STABLE = {"name": "v1", "minReplicas": 4, "model": {"modelFormat": {"name": "tensorflow"}, "storageUri": "s3://m/v1/"}}


def isvc(*canaries: dict, mode: str = "Standard") -> dict:
    return {
        "apiVersion": "serving.kserve.io/v1beta1",
        "kind": "InferenceService",
        "metadata": {"name": "color", "namespace": "models", "annotations": {"serving.kserve.io/deploymentMode": mode}},
        "spec": {"predictor": copy.deepcopy(STABLE), "canary": list(canaries)},
    }


def canary(name: str = "v2", percent: int = 10, **predictor) -> dict:
    model = {"name": "kserve-container", "modelFormat": {"name": "tensorflow"}, "storageUri": f"s3://m/{name}/"}
    return {"predictor": {"name": name, "model": model, **predictor}, "trafficPercent": percent}


def test_a_valid_canary_passes_strict_validation():
    assert validation.validate(isvc(canary(), canary("v3", 0, minReplicas=1)), strict=True) == []


@pytest.mark.parametrize(
    ("obj", "problem"),
    [
        (isvc(canary(), canary()), "spec.canary[1].predictor.name: canary predictor.name 'v2' is duplicated"),
        (isvc(canary("v1")), "spec.canary[0].predictor.name: 'v1' conflicts with the stable predictor name"),
        (isvc(canary("v2", 60), canary("v3", 50)), "spec.canary: sum of trafficPercent values (110) must be <= 100"),
        (isvc(canary(maxReplicas=5)), "spec.canary[0].predictor.maxReplicas: must not be set"),
        (isvc(canary(minReplicas=9)), "spec.canary[0].predictor.minReplicas: 9 exceeds the stable predictor's"),
        (isvc(canary(), mode="Knative"), "canary is only supported in Standard deployment mode"),
    ],
)
def test_kserve_canary_webhook_rules(obj, problem):
    problems = validation.validate(obj)
    assert any(problem in found for found in problems), problems


def test_a_custom_container_with_storage_uri_is_a_stable_predictor_with_a_model():
    obj = isvc(canary())
    env = [{"name": "STORAGE_URI", "value": "pvc://model-color-v1"}]
    obj["spec"]["predictor"] = {
        "name": "v1",
        "containers": [{"name": "kserve-container", "image": "x/y:v1", "env": env}],
    }
    assert validation.validate(obj) == []
    obj["spec"]["predictor"]["containers"][0]["env"] = []
    [problem] = validation.validate(obj)
    assert "canary requires a stable predictor with a model" in problem
