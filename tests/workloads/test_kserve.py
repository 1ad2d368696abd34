"""KServe servings as KServe 0.20 and the Gateway receive them: canaries, shadows, A/B by header, scaling, batching."""

import pytest
from support import ack_stack, config_error, oss_storage

from mlplatform import validation
from mlplatform.config import Serving, parse
from mlplatform.conventions import plain_json
from mlplatform.workloads.kserve import KServeServing, KServeServingArgs
from mlplatform.workloads.scheduling import GpuScheduling
from stacks.workloads import model_volumes

ISVC = "kubernetes:serving.kserve.io/v1beta1:InferenceService"
ROUTE = "kubernetes:gateway.networking.k8s.io/v1:HTTPRoute"
URIS = {
    "color:v1": "oss://models/color/v1/",
    "color:v2": "oss://models/color/v2/",
    "color:v3": "oss://models/color/v3/",
    "style:v1": "oss://models/style/v1/",
}
STORAGE = oss_storage(models="models", stack="prod")
GATEWAY_URL = "http://kserve-ingress-gateway-istio.kserve.svc.cluster.local"


def predictor(name: str = "v1", model: str = "color:v1", **fields) -> dict:
    return {"name": name, "model": model, **fields}


def kserve(*predictors: dict, **fields) -> dict:
    return {"backend": "kserve", "protocol": "tensorflow", "predictors": list(predictors), **fields}


def render(plan, servings: dict, gpu: GpuScheduling | None = None):
    parsed = {name: Serving.model_validate(raw) for name, raw in servings.items()}

    def program():
        volumes = model_volumes(parsed, {"models": "models"}, STORAGE)
        for name, serving in parsed.items():
            route = serving.route_by_header
            KServeServing(
                name,
                KServeServingArgs(
                    serving=serving,
                    namespace="models",
                    storage=STORAGE,
                    ingress_url=GATEWAY_URL,
                    ingress_host="gateway.example.com",
                    gpu=gpu or GpuScheduling(),
                    route_target=parsed[route.serving] if route else None,
                    model_volumes=volumes.get("models", {}),
                ),
            )

    return plan(program, stack="prod")


def rendered(monitor, kind: str, name: str) -> dict:
    [registration] = [r for r in monitor.of_type(kind) if r.inputs["metadata"]["name"] == name]
    obj = plain_json(registration.inputs)
    assert validation.validate(obj, strict=True) == []
    return obj


CANARY = kserve(
    predictor("v1", "color:v1", traffic=90, replicas=2, autoscaling={"minReplicas": 2, "maxReplicas": 10}),
    predictor("v2", "color:v2", traffic=10, replicas=2),
)


def test_canary_is_spec_canary_with_traffic_percent_and_the_route_splits_by_weight(plan):
    monitor = render(plan, {"color": CANARY})
    isvc = rendered(monitor, ISVC, "color")
    assert isvc["metadata"]["annotations"]["serving.kserve.io/deploymentMode"] == "Standard"
    stable, [canary] = isvc["spec"]["predictor"], isvc["spec"]["canary"]
    assert stable["name"] == "v1" and stable["model"]["storageUri"] == "pvc://model-color-v1"
    assert stable["model"]["modelFormat"] == {"name": "tensorflow"} and stable["model"]["protocolVersion"] == "v1"
    assert canary["trafficPercent"] == 10 and canary["predictor"]["name"] == "v2"
    assert canary["predictor"]["model"]["storageUri"] == "pvc://model-color-v2"
    assert canary["predictor"]["minReplicas"] == 2
    assert not {"maxReplicas", "autoScaling", "scaleTarget", "scaleMetric"} & set(canary["predictor"])
    assert canary["predictor"]["annotations"] == {
        "mlplatform.io/config-path": "servings.color.predictors[1]",
        "mlplatform.io/model-version": "color:v2",
    }
    route = rendered(monitor, ROUTE, "color")
    [rule] = route["spec"]["rules"]
    assert rule["backendRefs"] == [
        {"name": "color-v1-predictor", "port": 80, "weight": 90},
        {"name": "color-v2-predictor", "port": 80, "weight": 10},
    ]
    assert rule["matches"] == [{"path": {"type": "PathPrefix", "value": "/serving/models/color"}}]
    assert route["spec"]["parentRefs"][0]["name"] == "kserve-ingress-gateway"


def test_the_stable_keeps_its_replicas_after_kserve_takes_the_canaries_off(plan):
    # The controller subtracts the canaries' replicas from the stable's minReplicas; the platform adds them back.
    isvc = rendered(render(plan, {"color": CANARY}), ISVC, "color")
    stable = isvc["spec"]["predictor"]
    assert (stable["minReplicas"], stable["maxReplicas"]) == (4, 12)
    assert isvc["metadata"]["annotations"]["serving.kserve.io/autoscalerClass"] == "hpa"
    assert stable["autoScaling"]["metrics"] == [
        {"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 70}}}
    ]


def test_without_autoscaling_the_replicas_are_fixed(plan):
    isvc = rendered(render(plan, {"color": kserve(predictor(replicas=3))}), ISVC, "color")
    assert isvc["metadata"]["annotations"]["serving.kserve.io/autoscalerClass"] == "none"
    assert isvc["spec"]["predictor"]["minReplicas"] == 3 and "canary" not in isvc["spec"]


def test_a_shadow_is_a_dark_canary_the_route_mirrors_to(plan):
    serving = kserve(predictor(), predictor("shadow", "color:v3", shadow=True, traffic=20))
    monitor = render(plan, {"color": serving})
    [canary] = rendered(monitor, ISVC, "color")["spec"]["canary"]
    assert canary["trafficPercent"] == 0 and canary["predictor"]["minReplicas"] == 1
    [rule] = rendered(monitor, ROUTE, "color")["spec"]["rules"]
    assert rule["backendRefs"] == [{"name": "color-v1-predictor", "port": 80, "weight": 100}]
    mirror = next(f for f in rule["filters"] if f["type"] == "RequestMirror")
    assert mirror["requestMirror"] == {"backendRef": {"name": "color-shadow-predictor", "port": 80}, "percent": 20}


def test_batching_is_the_batcher_on_every_predictor(plan):
    batching = {"maxBatchSize": 32, "maxLatencyMs": 20}
    serving = kserve(
        predictor(traffic=50, batching=batching), predictor("v2", "color:v2", traffic=50, batching=batching)
    )
    isvc = rendered(render(plan, {"color": serving}), ISVC, "color")
    assert isvc["spec"]["predictor"]["batcher"] == {"maxBatchSize": 32, "maxLatency": 20}
    assert isvc["spec"]["canary"][0]["predictor"]["batcher"] == {"maxBatchSize": 32, "maxLatency": 20}


def test_header_ab_answers_at_the_target_url_and_rewrites_to_its_own_model(plan):
    style = kserve(predictor("v1", "style:v1"), routeByHeader={"header": "style: transfer", "serving": "color"})
    monitor = render(plan, {"color": kserve(predictor()), "style": style})
    [rule] = rendered(monitor, ROUTE, "style")["spec"]["rules"]
    assert rule["matches"] == [
        {
            "path": {"type": "Exact", "value": "/serving/models/color/v1/models/color:predict"},
            "headers": [{"type": "Exact", "name": "style", "value": "transfer"}],
        }
    ]
    rewrite = next(f for f in rule["filters"] if f["type"] == "URLRewrite")
    assert rewrite["urlRewrite"]["path"] == {"type": "ReplaceFullPath", "replaceFullPath": "/v1/models/style:predict"}
    assert rule["backendRefs"] == [{"name": "style-v1-predictor", "port": 80, "weight": 100}]
    outputs = {r.name: r.outputs for r in monitor.of_type("mlplatform:kserve:KServeServing")}
    assert outputs["style"]["endpoint"] == outputs["color"]["endpoint"]
    assert outputs["color"]["endpoint"] == f"{GATEWAY_URL}/serving/models/color/v1/models/color:predict"


def test_custom_image_gets_the_model_through_storage_uri_and_v2_paths(plan):
    serving = kserve(predictor(image="registry.example.com/color:v1"), protocol="v2")
    monitor = render(plan, {"color": serving})
    [container] = rendered(monitor, ISVC, "color")["spec"]["predictor"]["containers"]
    assert container["name"] == "kserve-container" and container["image"] == "registry.example.com/color:v1"
    assert container["env"] == [{"name": "STORAGE_URI", "value": "pvc://model-color-v1"}]
    [output] = [r.outputs for r in monitor.of_type("mlplatform:kserve:KServeServing")]
    assert output["endpoint"].endswith("/serving/models/color/v2/models/color/infer")


def test_each_model_version_is_a_read_only_bucket_volume_without_keys(plan):
    monitor = render(plan, {"color": CANARY})
    assert monitor.of_type("kubernetes:core/v1:Secret") == []  # no storage credentials anywhere
    claims = {
        r.inputs["metadata"]["name"]: r.inputs for r in monitor.of_type("kubernetes:core/v1:PersistentVolumeClaim")
    }
    assert set(claims) == {"model-color-v1", "model-color-v2"}
    assert all(claim["spec"]["accessModes"] == ["ReadOnlyMany"] for claim in claims.values())
    volumes = [r.inputs["spec"] for r in monitor.of_type("kubernetes:core/v1:PersistentVolume")]
    assert {v["csi"]["volumeAttributes"]["authType"] for v in volumes} == {"rrsa"}
    [account] = monitor.of_type("kubernetes:core/v1:ServiceAccount")
    assert account.inputs["metadata"]["name"] == "color"
    isvc = rendered(monitor, ISVC, "color")
    assert isvc["spec"]["predictor"]["serviceAccountName"] == "color"
    assert isvc["spec"]["canary"][0]["predictor"]["serviceAccountName"] == "color"


def test_gpu_predictor_asks_for_gpus_on_the_gpu_pool(plan):
    serving = kserve(predictor(resources={"cpu": "2", "memory": "4Gi", "gpu": 1}))
    stable = rendered(render(plan, {"color": serving}), ISVC, "color")["spec"]["predictor"]
    assert stable["model"]["resources"]["limits"]["nvidia.com/gpu"] == "1"
    assert stable["tolerations"][0]["key"] == "nvidia.com/gpu"
    assert stable["nodeSelector"] == {"mlplatform.io/accelerator": "nvidia-gpu"}


# ---------------------------------------------------------------- the webhook's rules as config errors


def stack_config(servings: dict) -> dict:
    return ack_stack(models=list(URIS), servings=servings)


@pytest.mark.parametrize(
    ("serving", "path", "reason"),
    [
        (
            kserve(
                predictor(traffic=90),
                predictor("v2", "color:v2", traffic=10, autoscaling={"minReplicas": 2, "maxReplicas": 3}),
            ),
            "predictors[1].autoscaling",
            "canaries run fixed replicas and set no autoscaling",
        ),
        (
            kserve(predictor(traffic=90), predictor("v1", "color:v2", traffic=10)),
            "predictors[1].name",
            "duplicate predictor name 'v1'",
        ),
        (
            kserve(predictor(traffic=90), predictor("v2", "color:v2", traffic=20)),
            "predictors",
            "traffic must sum to 100",
        ),
        (kserve(predictor(), protocol="seldon"), "protocol", "not seldon"),
        (
            kserve(predictor(server="MLFLOW_SERVER")),
            "predictors[0].server",
            "KServe runs MLFLOW_SERVER with protocol v2",
        ),
        (
            kserve(predictor(server="SKLEARN_SERVER", batching={"maxBatchSize": 8}), protocol="v2"),
            "predictors[0].batching",
            "use protocol tensorflow",
        ),
        (
            kserve(predictor(traffic=50, batching={"maxBatchSize": 8}), predictor("v2", "color:v2", traffic=50)),
            "predictors[1].batching",
            "inherits",
        ),
        (
            kserve(predictor(traffic=50), predictor("v2", "color:v2", traffic=50, image="me/color:v2")),
            "predictors[1].image",
            "both run a prepackaged server or both a custom image",
        ),
    ],
)
def test_kserve_webhook_rules_are_config_errors_with_a_path(serving, path, reason):
    error = config_error(stack_config({"color": serving}))
    assert error.path == f"ml-platform:servings.color.{path}"
    assert reason in error.reason


def test_a_header_route_stays_on_one_backend():
    style = {"routeByHeader": {"header": "style: transfer", "serving": "color"}, "predictors": [predictor()]}
    error = config_error(stack_config({"color": kserve(predictor()), "style": {"protocol": "tensorflow", **style}}))
    assert error.path == "ml-platform:servings.style.routeByHeader.serving"
    assert "served by kserve" in error.reason


def test_seldon_servings_are_unchanged_by_default():
    settings = parse(stack_config({"color": {"protocol": "tensorflow", "predictors": [predictor()]}}))
    assert settings.servings["color"].backend == "seldon"
