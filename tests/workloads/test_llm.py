"""LLM servings: the Hugging Face server with vLLM on GPUs, weights from the bucket, KEDA scaling to zero."""

import re

import pytest
from support import ack_stack, config_error, oss_storage

from mlplatform import validation
from mlplatform.config import Serving
from mlplatform.conventions import plain_json
from mlplatform.workloads.llm import LlmServing, LlmServingArgs, request_rate_query
from stacks.workloads import model_volumes

ISVC = "kubernetes:serving.kserve.io/v1beta1:InferenceService"
SCALED_OBJECT = "kubernetes:keda.sh/v1alpha1:ScaledObject"
URIS = {"qwen:2.5-7b": "oss://models/qwen/2.5-7b/"}
STORAGE = oss_storage(models="models", stack="prod")
# The Prometheus installed with KEDA (mlplatform/infra/keda.py `prometheus_address`).
PROMETHEUS = "http://keda-prometheus-server.monitoring.svc.cluster.local:80"
# Istio's standard metrics and their labels (istio.io/latest/docs/reference/config/metrics/, "Istio Standard
# Metrics"): what the Gateway's proxy exports on its merged metrics port.
ISTIO_METRICS = {
    "istio_requests_total",
    "istio_request_duration_milliseconds",
    "istio_request_bytes",
    "istio_response_bytes",
    "istio_request_messages_total",
    "istio_response_messages_total",
    "istio_tcp_sent_bytes_total",
    "istio_tcp_received_bytes_total",
    "istio_tcp_connections_opened_total",
    "istio_tcp_connections_closed_total",
}
ISTIO_LABELS = {
    "reporter",
    "source_workload",
    "source_workload_namespace",
    "source_principal",
    "source_app",
    "source_version",
    "destination_workload",
    "destination_workload_namespace",
    "destination_principal",
    "destination_app",
    "destination_version",
    "destination_service",
    "destination_service_name",
    "destination_service_namespace",
    "request_protocol",
    "response_code",
    "grpc_response_status",
    "connection_security_policy",
    "response_flags",
    "source_cluster",
    "destination_cluster",
}


def llm(**fields) -> dict:
    spec = {
        "model": "qwen:2.5-7b",
        "gpus": 2,
        "scaling": {"minReplicas": 0, "maxReplicas": 2},
        **fields,
    }
    return {"backend": "kserve", "kind": "llm", "llm": spec}


def render(plan, raw: dict):
    serving = Serving.model_validate(raw)

    def program():
        volumes = model_volumes({"chat": serving}, {"models": "models"}, STORAGE)
        LlmServing(
            "chat",
            LlmServingArgs(
                serving=serving,
                namespace="models",
                storage=STORAGE,
                ingress_url="http://gateway",
                ingress_host="gateway.example.com",
                model_volumes=volumes["models"],
                prometheus_address=PROMETHEUS,
            ),
        )

    return plan(program, stack="prod")


def only(monitor, kind: str) -> dict:
    [registration] = monitor.of_type(kind)
    obj = plain_json(registration.inputs)
    assert validation.validate(obj, strict=True) == []
    return obj


def test_llm_runs_vllm_on_the_node_gpus_with_weights_from_the_bucket(plan):
    isvc = only(render(plan, llm()), ISVC)
    predictor = isvc["spec"]["predictor"]
    model = predictor["model"]
    assert model["modelFormat"] == {"name": "huggingface"}
    # The read-only bucket volume of the version (its name digests the version's '.'), no keys.
    assert model["storageUri"] == "pvc://model-qwen-2-5-7b-09323a08"
    assert model["args"] == ["--backend=vllm", "--tensor-parallel-size=2"]
    assert {"name": "HF_HUB_OFFLINE", "value": "1"} in model["env"]  # no hub download at run time
    assert model["resources"]["requests"]["nvidia.com/gpu"] == "2" == model["resources"]["limits"]["nvidia.com/gpu"]
    assert predictor["tolerations"][0]["key"] == "nvidia.com/gpu"
    assert predictor["nodeSelector"] == {"mlplatform.io/accelerator": "nvidia-gpu"}
    assert predictor["annotations"] == {
        "mlplatform.io/config-path": "servings.chat.llm",
        "mlplatform.io/model-version": "qwen:2.5-7b",
    }


def test_scale_to_zero_is_a_keda_scaled_object_on_the_predictor_deployment(plan):
    monitor = render(plan, llm())
    isvc = only(monitor, ISVC)
    assert isvc["metadata"]["annotations"]["serving.kserve.io/autoscalerClass"] == "external"
    assert isvc["spec"]["predictor"]["minReplicas"] == 0
    scaled = only(monitor, SCALED_OBJECT)["spec"]
    assert scaled["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": "chat-predictor"}
    assert (scaled["minReplicaCount"], scaled["maxReplicaCount"], scaled["cooldownPeriod"]) == (0, 2, 900)
    [trigger] = scaled["triggers"]
    assert trigger["type"] == "prometheus" and trigger["metadata"]["serverAddress"] == PROMETHEUS
    assert 'destination_service_name="chat-predictor"' in trigger["metadata"]["query"]


def test_fixed_replicas_need_no_keda(plan):
    monitor = render(plan, llm(scaling={"minReplicas": 1, "maxReplicas": 1}))
    assert only(monitor, ISVC)["metadata"]["annotations"]["serving.kserve.io/autoscalerClass"] == "none"
    assert monitor.of_type(SCALED_OBJECT) == []


def test_local_model_cache_holds_the_same_uri_the_predictor_reads(plan):
    monitor = render(plan, llm(cache={"nodeGroup": "gpu-nvme", "size": "40Gi"}))
    cache = only(monitor, "kubernetes:serving.kserve.io/v1alpha1:LocalModelCache")
    assert cache["spec"] == {
        "sourceModelUri": "s3://models/qwen/2.5-7b/",
        "modelSize": "40Gi",
        "nodeGroups": ["gpu-nvme"],
    }
    assert only(monitor, ISVC)["spec"]["predictor"]["model"]["storageUri"] == cache["spec"]["sourceModelUri"]


def test_the_endpoint_is_the_openai_chat_url(plan):
    monitor = render(plan, llm())
    [output] = [r.outputs for r in monitor.of_type("mlplatform:llm:LlmServing")]
    assert output["endpoint"] == "http://gateway/serving/models/chat/openai/v1/chat/completions"


def stack_config(servings: dict, gpu_pool: bool = True) -> dict:
    pools = {"gpu": {"instanceTypes": ["ecs.gn7i-c16g1.4xlarge"], "minSize": 0, "maxSize": 2, "gpu": True}}
    return ack_stack(nodePools=pools if gpu_pool else {}, models=list(URIS), servings=servings)


@pytest.mark.parametrize(
    ("serving", "path", "reason"),
    [
        ({**llm(), "backend": "seldon"}, "backend", "runs on KServe"),
        ({"backend": "kserve", "kind": "llm"}, "llm", "needs llm"),
        (
            llm(scaling={"minReplicas": 0, "maxReplicas": 1, "prometheusAddress": "http://prometheus:9090"}),
            "llm.scaling.prometheusAddress",
            "the platform installs the Prometheus KEDA queries",
        ),
        (llm(scaling={"minReplicas": 3, "maxReplicas": 2}), "llm.scaling.minReplicas", "greater than maxReplicas"),
        (
            {**llm(), "predictors": [{"name": "v1", "model": "qwen:2.5-7b"}]},
            "predictors",
            "has no predictors",
        ),
    ],
)
def test_llm_config_mistakes_are_config_errors(serving, path, reason):
    error = config_error(stack_config({"chat": serving}))
    assert error.path == f"ml-platform:servings.chat.{path}"
    assert reason in error.reason


def test_an_llm_needs_a_gpu_pool():
    error = config_error(stack_config({"chat": llm()}, gpu_pool=False))
    assert error.path == "ml-platform:servings.chat.llm"
    assert "no node pool has gpu: true" in error.reason


def unknown_series(query: str) -> list[str]:
    """The metric names and label names of `query` that Istio's standard metrics do not have."""
    unknown = []
    for metric, matchers in re.findall(r"([a-z_]+)\{([^}]*)\}", query):
        unknown += [metric] if metric not in ISTIO_METRICS else []
        unknown += [label for label in re.findall(r"([a-z_]+)=", matchers) if label not in ISTIO_LABELS]
    return unknown


def test_the_trigger_queries_a_metric_and_labels_istio_exports():
    query = request_rate_query("chat", "models")
    assert "istio_requests_total{" in query
    assert unknown_series(query) == []
    # Violating: a misspelt metric or label is caught.
    assert unknown_series(query.replace("istio_requests_total", "istio_request_total")) == ["istio_request_total"]
    assert unknown_series(query.replace("destination_service_name=", "destination_svc=")) == ["destination_svc"]
