import json

import pulumi
import pulumi_kubernetes as k8s
import pytest
from support import ack_stack, config_error, oss_storage

from mlplatform import validation as conformance
from mlplatform.config import Seldon, Serving
from mlplatform.workloads.scheduling import GpuScheduling
from mlplatform.workloads.serving import ModelServing, ModelServingArgs, incoming_header_routes
from stacks.workloads import model_volumes

SDEP = "kubernetes:machinelearning.seldon.io/v1:SeldonDeployment"
INGRESS_URL = "http://emissary-ingress.emissary.svc.cluster.local"
URIS = ("color:v1", "color:v2", "style:v1")
STORAGE = oss_storage("mlp-datasets", "mlp-models", stack="prod")


def render(plan, servings: dict, ingress: str = "ambassador", gpu: GpuScheduling | None = None):
    """Plan the servings as the stack layer would, check every rendered object, return the monitor."""
    parsed = {name: Serving.model_validate(raw) for name, raw in servings.items()}

    def program():
        provider = k8s.Provider("cluster", kubeconfig="kubeconfig")
        on_cluster = pulumi.ResourceOptions(providers=[provider])
        namespaces = {serving.namespace: serving.namespace for serving in parsed.values()}
        volumes = model_volumes(parsed, namespaces, STORAGE, on_cluster)
        for name, serving in parsed.items():
            component = ModelServing(
                name,
                ModelServingArgs(
                    serving=serving,
                    namespace=serving.namespace,
                    storage=STORAGE,
                    seldon=Seldon(ingress=ingress),
                    ingress_url=INGRESS_URL,
                    ingress_host=pulumi.Output.from_input("47.251.36.228"),
                    gpu=gpu or GpuScheduling(),
                    header_routes=incoming_header_routes(parsed, name),
                    model_volumes=volumes.get(serving.namespace, {}),
                ),
                opts=on_cluster,
            )
            pulumi.export(f"{name}-endpoint", component.endpoint)
            pulumi.export(f"{name}-public", component.public_endpoint)

    monitor = plan(program)
    objects = [r.inputs for r in monitor.registrations.values() if r.type.startswith("kubernetes:") and r.custom]
    assert conformance.validate_all(objects) == {}
    return monitor


def seldon_deployment(monitor, name: str) -> dict:
    return next(r.inputs for r in monitor.of_type(SDEP) if r.inputs["metadata"]["name"] == name)


def container(predictor: dict) -> dict:
    (only,) = predictor["componentSpecs"][0]["spec"]["containers"]
    return only


def outputs(monitor) -> dict:
    return monitor.of_type("pulumi:pulumi:Stack")[0].outputs


COLOR_CANARY = {
    "protocol": "tensorflow",
    "predictors": [
        {"name": "v1", "model": "color:v1", "traffic": 90, "replicas": 2},
        {"name": "v2", "model": "color:v2", "traffic": 10},
    ],
}


def test_canary_split_is_integer_traffic_with_model_uris_and_version_annotations(plan):
    sdep = seldon_deployment(render(plan, {"color": COLOR_CANARY}), "color")
    assert sdep["apiVersion"] == "machinelearning.seldon.io/v1"
    assert sdep["metadata"] == {
        "name": "color",
        "namespace": "models",
        "labels": {"app.kubernetes.io/part-of": "ml-platform"},
        # `pulumi up` waits until Seldon reports the serving Available, and fails if a model never loads.
        "annotations": {
            "mlplatform.io/config-path": "servings.color",
            "pulumi.com/waitFor": "jsonpath={.status.state}=Available",
            "pulumi.com/timeoutSeconds": "900",
        },
    }
    assert sdep["spec"]["protocol"] == "tensorflow"
    v1, v2 = sdep["spec"]["predictors"]
    assert (v1["name"], v1["traffic"], v1["replicas"]) == ("v1", 90, 2)
    assert (v2["name"], v2["traffic"], v2["replicas"]) == ("v2", 10, 1)
    assert all(isinstance(p["traffic"], int) for p in (v1, v2))
    # Each model version is a read-only bucket volume (its own RRSA role): Seldon loads it from the claim.
    assert v1["graph"] == {"name": "color", "implementation": "TENSORFLOW_SERVER", "modelUri": "pvc://model-color-v1"}
    assert v2["annotations"] == {
        "mlplatform.io/config-path": "servings.color.predictors[1]",
        "mlplatform.io/model-version": "color:v2",
    }
    assert "shadow" not in v1


def test_servings_read_their_model_versions_through_read_only_roles(plan):
    monitor = render(plan, {"color": COLOR_CANARY})
    volumes = {
        v.inputs["metadata"]["name"]: v.inputs["spec"] for v in monitor.of_type("kubernetes:core/v1:PersistentVolume")
    }
    assert volumes["models-model-color-v1"]["csi"]["volumeAttributes"]["path"] == "/color/v1/"
    assert volumes["models-model-color-v1"]["accessModes"] == ["ReadOnlyMany"]
    roles = {r.inputs["roleName"]: r.inputs for r in monitor.of_type("alicloud:ram/role:Role")}
    assert roles["mlp-prod-models-model-color-v1"]["tags"] == {"mlplatform.io/purpose": "serving"}
    for policy in monitor.of_type("alicloud:ram/policy:Policy"):
        document = json.loads(policy.inputs["policyDocument"])
        assert document["Statement"][1]["Action"] == ["oss:GetObject"]
    sdep = seldon_deployment(monitor, "color")
    assert "envSecretRefName" not in sdep["spec"]["predictors"][0]["graph"]


def test_the_only_live_predictor_takes_all_traffic_and_a_shadow_mirrors_it(plan):
    serving = {
        "predictors": [
            {"name": "main", "model": "color:v1", "server": "SKLEARN_SERVER"},
            {"name": "candidate", "model": "color:v2", "server": "SKLEARN_SERVER", "shadow": True},
        ]
    }
    main, candidate = seldon_deployment(render(plan, {"color": serving}), "color")["spec"]["predictors"]
    assert main["traffic"] == 100 and "shadow" not in main
    assert candidate["shadow"] is True and candidate["traffic"] == 100


def test_custom_image_from_a_pvc_runs_as_a_model_container_without_storage_secret(plan):
    serving = {"predictors": [{"name": "main", "model": "pvc://color-model/model/v1", "image": "fogdong/color:v1"}]}
    (predictor,) = seldon_deployment(render(plan, {"color": serving}), "color")["spec"]["predictors"]
    assert predictor["graph"] == {"name": "color", "type": "MODEL", "modelUri": "pvc://color-model/model/v1"}
    assert container(predictor)["name"] == "color"
    assert container(predictor)["image"] == "fogdong/color:v1"
    assert predictor["annotations"] == {"mlplatform.io/config-path": "servings.color.predictors[0]"}


@pytest.mark.parametrize(
    ("protocol", "server", "path"),
    [
        ("tensorflow", "TENSORFLOW_SERVER", "/seldon/models/color/v1/models/color:predict"),
        ("seldon", "SKLEARN_SERVER", "/seldon/models/color/api/v1.0/predictions"),
        ("v2", "TRITON_SERVER", "/seldon/models/color/v2/models/color/infer"),
    ],
)
def test_protocol_sets_the_spec_and_the_endpoint_urls(plan, protocol, server, path):
    serving = {"protocol": protocol, "predictors": [{"name": "main", "model": "color:v1", "server": server}]}
    monitor = render(plan, {"color": serving})
    assert seldon_deployment(monitor, "color")["spec"]["protocol"] == protocol
    assert outputs(monitor)["color-endpoint"] == INGRESS_URL + path
    assert outputs(monitor)["color-public"] == "http://47.251.36.228" + path


def test_autoscaling_is_an_autoscaling_v2_hpa_spec(plan):
    serving = {
        "predictors": [
            {
                "name": "main",
                "model": "color:v1",
                "server": "SKLEARN_SERVER",
                "autoscaling": {"minReplicas": 1, "maxReplicas": 10, "cpuUtilization": 70, "memoryUtilization": 80},
            }
        ]
    }
    (predictor,) = seldon_deployment(render(plan, {"color": serving}), "color")["spec"]["predictors"]
    assert predictor["componentSpecs"][0]["hpaSpec"] == {
        "minReplicas": 1,
        "maxReplicas": 10,
        "metricsv2": [
            {
                "type": "Resource",
                "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 70}},
            },
            {
                "type": "Resource",
                "resource": {"name": "memory", "target": {"type": "Utilization", "averageUtilization": 80}},
            },
        ],
    }


def test_tensorflow_serving_batching_keeps_the_server_args_and_mounts_its_parameters(plan):
    serving = {
        "protocol": "tensorflow",
        "predictors": [
            {
                "name": "v1",
                "model": "color:v1",
                "resources": {"cpu": "2500m"},
                "batching": {"maxBatchSize": 32, "maxLatencyMs": 20},
            }
        ],
    }
    monitor = render(plan, {"color": serving})
    (predictor,) = seldon_deployment(monitor, "color")["spec"]["predictors"]
    server = container(predictor)
    assert server["name"] == "color"
    assert server["args"] == [
        "--port=9500",
        "--rest_api_port=9000",
        "--model_name=color",
        "--model_base_path=/mnt/models",
        "--enable_batching",
        "--batching_parameters_file=/etc/tfserving-batching/batching_parameters.txt",
    ]
    assert {(p["name"], p["containerPort"]) for p in server["ports"]} == {("http", 9000), ("grpc", 9500)}
    assert server["volumeMounts"] == [{"name": "batching", "mountPath": "/etc/tfserving-batching", "readOnly": True}]
    assert predictor["componentSpecs"][0]["spec"]["volumes"] == [
        {
            "name": "batching",
            "configMap": {
                "name": "color-batching",
                "items": [{"key": "v1-batching_parameters.txt", "path": "batching_parameters.txt"}],
            },
        }
    ]
    parameters = monitor.named("color-batching").inputs
    assert parameters["metadata"] == {"name": "color-batching", "namespace": "models"}
    assert parameters["data"]["v1-batching_parameters.txt"].splitlines() == [
        "max_batch_size { value: 32 }",
        "batch_timeout_micros { value: 20000 }",
        "num_batch_threads { value: 3 }",
        "max_enqueued_batches { value: 3 }",
    ]
    sdep = next(r for r in monitor.of_type(SDEP))
    assert monitor.named("color-batching").urn in sdep.dependencies


def test_one_batching_config_map_per_serving_with_a_key_per_predictor(plan):
    batching = {"maxBatchSize": 32, "maxLatencyMs": 20}
    serving = {
        "protocol": "tensorflow",
        "predictors": [
            {"name": "v1", "model": "color:v1", "traffic": 90, "batching": batching},
            {"name": "v2", "model": "color:v2", "traffic": 10, "batching": {**batching, "maxBatchSize": 64}},
        ],
    }
    monitor = render(plan, {"color": serving})
    config_maps = [r for r in monitor.of_type("kubernetes:core/v1:ConfigMap") if r.name.endswith("-batching")]
    assert [r.name for r in config_maps] == ["color-batching"]
    data = config_maps[0].inputs["data"]
    assert sorted(data) == ["v1-batching_parameters.txt", "v2-batching_parameters.txt"]
    assert "max_batch_size { value: 64 }" in data["v2-batching_parameters.txt"]
    sdep = seldon_deployment(monitor, "color")
    for predictor in sdep["spec"]["predictors"]:
        (volume,) = [v for v in predictor["componentSpecs"][0]["spec"]["volumes"] if v["name"] == "batching"]
        assert volume["configMap"]["items"] == [
            {"key": f"{predictor['name']}-batching_parameters.txt", "path": "batching_parameters.txt"}
        ]
    assert conformance.validate(sdep, strict=True) == []


def test_batching_behind_seldons_tensorflow_proxy_goes_on_the_tfserving_container(plan):
    serving = {"predictors": [{"name": "v1", "model": "color:v1", "batching": {"maxBatchSize": 8}}]}
    (predictor,) = seldon_deployment(render(plan, {"color": serving}), "color")["spec"]["predictors"]
    server = container(predictor)
    assert server["name"] == "tfserving"
    assert server["args"][:3] == ["--port=2000", "--rest_api_port=2001", "--model_name=color"]
    assert "ports" not in server


def test_mlserver_batching_is_adaptive_batching_env(plan):
    serving = {
        "protocol": "v2",
        "predictors": [
            {
                "name": "v1",
                "model": "color:v1",
                "server": "XGBOOST_SERVER",
                "batching": {"maxBatchSize": 16, "maxLatencyMs": 50},
            }
        ],
    }
    (predictor,) = seldon_deployment(render(plan, {"color": serving}), "color")["spec"]["predictors"]
    assert container(predictor)["env"] == [
        {"name": "MLSERVER_MODEL_MAX_BATCH_SIZE", "value": "16"},
        {"name": "MLSERVER_MODEL_MAX_BATCH_TIME", "value": "0.05"},
    ]


def test_timeout_reaches_the_executor_and_the_ingress(plan):
    serving = {**COLOR_CANARY, "timeoutMs": 10000}
    annotations = seldon_deployment(render(plan, {"color": serving}), "color")["spec"]["annotations"]
    assert annotations == {"seldon.io/rest-timeout": "10000", "seldon.io/grpc-timeout": "10000"}


STYLE = {
    "protocol": "tensorflow",
    "timeoutMs": 10000,
    "routeByHeader": {"header": "style: transfer", "serving": "color"},
    "predictors": [{"name": "v1", "model": "style:v1"}],
}


def test_header_route_with_ambassador_moves_the_mappings_under_the_other_url(plan):
    monitor = render(plan, {"color": COLOR_CANARY, "style": STYLE})
    style = seldon_deployment(monitor, "style")
    assert style["spec"]["annotations"]["seldon.io/ambassador-service-name"] == "color"
    assert style["spec"]["annotations"]["seldon.io/ambassador-header"] == "style: transfer"
    # Same model path at the shared URL: the style model is served under the colour serving's graph name.
    assert style["spec"]["predictors"][0]["graph"]["name"] == "color"
    assert outputs(monitor)["style-endpoint"] == outputs(monitor)["color-endpoint"]
    assert "seldon.io/ambassador-header" not in seldon_deployment(monitor, "color")["spec"]["annotations"]
    assert not monitor.of_type("kubernetes:networking.istio.io/v1beta1:VirtualService")


def test_header_route_with_istio_is_a_virtual_service_older_than_the_target_serving(plan):
    monitor = render(plan, {"color": COLOR_CANARY, "style": STYLE}, ingress="istio")
    (route,) = monitor.of_type("kubernetes:networking.istio.io/v1beta1:VirtualService")
    assert route.inputs["metadata"] == {"name": "color-header-routes", "namespace": "models"}
    assert route.inputs["spec"] == {
        "hosts": ["*"],
        "gateways": ["istio-system/seldon-gateway"],
        "http": [
            {
                "name": "style-by-header",
                "match": [{"uri": {"prefix": "/seldon/models/color/"}, "headers": {"style": {"exact": "transfer"}}}],
                "rewrite": {"uri": "/"},
                "route": [
                    {
                        "destination": {"host": "style-v1.models.svc.cluster.local", "port": {"number": 8000}},
                        "weight": 100,
                    }
                ],
                "timeout": "10s",
            }
        ],
    }
    color = next(r for r in monitor.of_type(SDEP) if r.inputs["metadata"]["name"] == "color")
    assert route.urn in color.dependencies
    assert color.inputs["spec"]["annotations"]["seldon.io/istio-gateway"] == "istio-system/seldon-gateway"
    assert "seldon.io/ambassador-header" not in seldon_deployment(monitor, "style")["spec"]["annotations"]


def test_gpu_requests_equal_limits_and_land_on_the_gpu_pool(plan):
    serving = {
        "protocol": "v2",
        "predictors": [
            {"name": "main", "model": "color:v1", "server": "TRITON_SERVER", "resources": {"cpu": "2", "gpu": 1}}
        ],
    }
    gpu = GpuScheduling(taint_key="nvidia.com/gpu", taint_value=None, node_selector={"pool": "gpu"})
    (predictor,) = seldon_deployment(render(plan, {"color": serving}, gpu=gpu), "color")["spec"]["predictors"]
    pod = predictor["componentSpecs"][0]["spec"]
    assert pod["containers"][0]["resources"] == {
        "requests": {"cpu": "2", "memory": "2Gi", "nvidia.com/gpu": "1"},
        "limits": {"cpu": "2", "memory": "2Gi", "nvidia.com/gpu": "1"},
    }
    assert pod["tolerations"] == [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}]
    assert pod["nodeSelector"] == {"pool": "gpu"}


def test_shared_gpu_memory_is_the_cgpu_resource(plan):
    serving = {"predictors": [{"name": "main", "model": "style:v1", "resources": {"memory": "4Gi", "gpuMemoryGb": 4}}]}
    (predictor,) = seldon_deployment(render(plan, {"style": serving}), "style")["spec"]["predictors"]
    resources = predictor["componentSpecs"][0]["spec"]["containers"][0]["resources"]
    assert resources["limits"] == {"cpu": "1", "memory": "4Gi", "aliyun.com/gpu-mem": "4"}


def test_cpu_only_predictor_has_no_gpu_placement(plan):
    (predictor, _) = seldon_deployment(render(plan, {"color": COLOR_CANARY}), "color")["spec"]["predictors"]
    pod = predictor["componentSpecs"][0]["spec"]
    assert "tolerations" not in pod and "nodeSelector" not in pod


# ---------------------------------------------------------------- config errors


def stack_config(servings: dict) -> dict:
    return ack_stack(models=list(URIS), servings=servings)


def predictor(**fields) -> dict:
    return {"name": "main", "model": "color:v1", **fields}


@pytest.mark.parametrize(
    ("serving", "path", "reason"),
    [
        (
            {"protocol": "v2", "predictors": [predictor(server="TRITON_SERVER", batching={"maxBatchSize": 8})]},
            "predictors[0].batching",
            "config.pbtxt",
        ),
        (
            {"predictors": [predictor(server="SKLEARN_SERVER", batching={"maxBatchSize": 8})]},
            "predictors[0].batching",
            "use protocol v2",
        ),
        (
            {"predictors": [predictor(image="me/model:v1", batching={"maxBatchSize": 8})]},
            "predictors[0].batching",
            "custom image",
        ),
        ({"predictors": [predictor(server="TRITON_SERVER")]}, "predictors[0].server", "does not serve protocol seldon"),
        (
            {"protocol": "v2", "predictors": [predictor(), predictor(name="b", traffic=100)]},
            "predictors[0].server",
            "TENSORFLOW_SERVER does not serve protocol v2; use seldon or tensorflow",
        ),
        (
            {"protocol": "tensorflow", "predictors": [predictor(server="SKLEARN_SERVER")]},
            "predictors[0].server",
            "use seldon or v2",
        ),
        ({"predictors": [predictor(traffic=50)]}, "predictors[0].traffic", "takes all traffic"),
        (
            {"predictors": [predictor(), predictor(name="s1", shadow=True), predictor(name="s2", shadow=True)]},
            "predictors[2].shadow",
            "one shadow",
        ),
    ],
)
def test_server_protocol_and_batching_mistakes_are_config_errors(serving, path, reason):
    error = config_error(stack_config({"color": serving}))
    assert error.path == f"ml-platform:servings.color.{path}"
    assert reason in error.reason


def test_header_route_needs_the_same_protocol_and_namespace():
    style = {"routeByHeader": {"header": "style: transfer", "serving": "color"}, "predictors": [predictor()]}
    error = config_error(
        stack_config({"color": {"protocol": "tensorflow", "predictors": [predictor()]}, "style": style})
    )
    assert error.path == "ml-platform:servings.style.routeByHeader.serving"
    assert "same protocol and namespace" in error.reason


def test_header_with_a_second_colon_is_rejected():
    style = {"routeByHeader": {"header": "style: a:b", "serving": "color"}, "predictors": [predictor()]}
    error = config_error(stack_config({"color": {"predictors": [predictor()]}, "style": style}))
    assert error.path == "ml-platform:servings.style.routeByHeader.header"
