"""A large language model served on a GPU pool: KServe's Hugging Face server with the vLLM backend.

One `InferenceService` (serving.kserve.io/v1beta1, Standard mode) whose predictor runs the
`huggingface` model format (the `kserve-huggingfaceserver` ClusterServingRuntime of the
kserve-runtime-configs chart, v0.20.0) with:
- the weights from the models bucket, keyless as every serving's: the version's read-only bucket volume in the
  serving's namespace (`volumes.py`, shared with the namespace's other servings of it) given as
  `storageUri: pvc://<claim>`, which KServe mounts at /mnt/models, the server's default `--model_dir`
  (huggingfaceserver `__main__.py`), and `HF_HUB_OFFLINE=1`, so nothing is downloaded from the Hugging Face Hub
  at run time;
- `--backend=vllm` and `--tensor-parallel-size=<gpus>` (a vLLM engine argument, which the server's
  FlexibleArgumentParser takes): the model is split across the GPUs of one node;
- the GPUs as `nvidia.com/gpu` requests = limits, with the GPU pool's toleration and node selector.

Scale to zero: the InferenceService is annotated `serving.kserve.io/autoscalerClass: external` (KServe creates
no autoscaler, `pkg/constants/constants.go` AutoscalerClassExternal) and a KEDA `ScaledObject` (keda.sh/v1alpha1)
scales the predictor Deployment `<name>-predictor` between `minReplicaCount` (0) and `maxReplicaCount` on the
request rate the Gateway reports to Prometheus for that Service (Istio's `istio_requests_total`, which the
Gateway also counts while no replica runs, so it is what wakes the serving). KEDA activates the Deployment
(0 -> 1) above `activationThreshold` and removes the last replica after `cooldownPeriod` without requests.

Cold start: while scaled to zero the route has no endpoint and answers 503; the first request only starts the
scale-up. A replica then waits for a GPU node (minutes when the pool itself scaled to zero), pulls the server
image, copies the weights from the bucket (unless a LocalModelCache holds them on the node) and loads them into
GPU memory. Clients retry with backoff; docs/kserve.md explains the cost.

Optional `LocalModelCache` (serving.kserve.io/v1alpha1, cluster-scoped): the weights are kept on the local disks
of a LocalModelNodeGroup, and an InferenceService whose `storageUri` equals the cache's `sourceModelUri`
mounts that copy instead of downloading. KServe's download job runs the storage initializer on the source URI
(`controller/v1alpha1/localmodelnode/controller.go`), which cannot be a `pvc://`: with a cache both name the
bucket URI (`s3://`, OSS through its S3 API), read with the credentials of the node group's job service account.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import pulumi

from mlplatform.config import Serving
from mlplatform.conventions import config_path_annotation
from mlplatform.rules import MODEL_VERSION_ANNOTATION, model_prefix
from mlplatform.workloads.kserve import (
    AUTOSCALER_CLASS,
    DEPLOYMENT_MODE,
    GATEWAY_API_VERSION,
    SERVICE_PORT,
    GatewayRef,
    KServeServingArgs,
    predictor_service,
    route_timeout,
    serving_identity,
    serving_resource,
    storage_uri,
    url_prefix,
)
from mlplatform.workloads.scheduling import GpuScheduling, placement
from mlplatform.workloads.security import RUN_AS, container_security_context, pod_security_context

# The OpenAI-compatible chat endpoint of KServe's huggingfaceserver.
CHAT_PATH = "/openai/v1/chat/completions"
POLLING_SECONDS = 15
CACHE_API_VERSION = "serving.kserve.io/v1alpha1"
KEDA_API_VERSION = "keda.sh/v1alpha1"


def scales(serving: Serving) -> bool:
    """KEDA drives the replicas: it scales to zero, or between a minimum and a larger maximum."""
    scaling = serving.llm.scaling
    return scaling.min_replicas == 0 or scaling.max_replicas > scaling.min_replicas


def inference_service_spec(
    name: str, serving: Serving, uri: pulumi.Input[str], gpu: GpuScheduling, service_account=None
) -> tuple[dict, dict]:
    """(annotations, spec) of the LLM's InferenceService."""
    llm = serving.llm
    fits = placement(llm.resources, gpu)
    args = ["--backend=vllm", f"--tensor-parallel-size={llm.gpus}"]
    if llm.max_model_len:
        args.append(f"--max_model_len={llm.max_model_len}")
    model: dict = {
        "modelFormat": {"name": "huggingface"},
        "storageUri": uri,
        "args": args,
        "env": [{"name": "HF_HUB_OFFLINE", "value": "1"}],
        "resources": fits.resources,
        "securityContext": container_security_context(),
    }
    if llm.image:
        model["image"] = llm.image
    predictor: dict = {
        "minReplicas": llm.scaling.min_replicas,
        "maxReplicas": llm.scaling.max_replicas,
        "timeout": math.ceil(serving.timeout_ms / 1000),
        "annotations": {**config_path_annotation("servings", name, "llm"), MODEL_VERSION_ANNOTATION: llm.model},
        "model": model,
        **fits.pod_fields(),
        "securityContext": pod_security_context(RUN_AS["kserve"]),
        "automountServiceAccountToken": False,
    }
    if service_account is not None:
        predictor["serviceAccountName"] = service_account
    annotations = {DEPLOYMENT_MODE: "Standard", AUTOSCALER_CLASS: "external" if scales(serving) else "none"}
    return annotations, {"predictor": predictor}


def request_rate_query(name: str, namespace: str) -> str:
    """Requests per second the Gateway sends to the predictor Service (Istio standard metrics)."""
    service = predictor_service(name, None)
    return (
        f'sum(rate(istio_requests_total{{destination_service_name="{service}",'
        f'destination_service_namespace="{namespace}"}}[1m]))'
    )


def scaled_object_spec(name: str, serving: Serving, prometheus: str) -> dict:
    """KEDA ScaledObject over the predictor Deployment, on the Gateway's request rate read from `prometheus`."""
    scaling = serving.llm.scaling
    return {
        "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": predictor_service(name, None)},
        "minReplicaCount": scaling.min_replicas,
        "maxReplicaCount": scaling.max_replicas,
        "pollingInterval": POLLING_SECONDS,
        "cooldownPeriod": scaling.idle_minutes * 60,
        "triggers": [
            {
                "type": "prometheus",
                "metadata": {
                    "serverAddress": prometheus,
                    "query": request_rate_query(name, serving.namespace),
                    "threshold": str(scaling.requests_per_second),
                    "activationThreshold": "0",
                },
            }
        ],
    }


def http_route_spec(name: str, serving: Serving, gateway: GatewayRef) -> dict:
    return {
        "parentRefs": [gateway.parent_ref()],
        "rules": [
            {
                "matches": [{"path": {"type": "PathPrefix", "value": url_prefix(serving.namespace, name)}}],
                "filters": [
                    {
                        "type": "URLRewrite",
                        "urlRewrite": {"path": {"type": "ReplacePrefixMatch", "replacePrefixMatch": "/"}},
                    }
                ],
                "backendRefs": [{"name": predictor_service(name, None), "port": SERVICE_PORT}],
                "timeouts": {"request": route_timeout(serving.timeout_ms)},
            }
        ],
    }


@dataclass(frozen=True)
class LlmServingArgs(KServeServingArgs):
    # The Prometheus HTTP API the KEDA trigger queries: the one installed with KEDA (`Keda.prometheus_address`,
    # mlplatform/infra/keda.py), which scrapes the Gateway. Read only when the replicas vary (`scales`).
    prometheus_address: str = field(kw_only=True)


class LlmServing(pulumi.ComponentResource):
    """Outputs `endpoint` (the OpenAI-compatible chat URL in-cluster) and `public_endpoint`."""

    def __init__(self, name: str, args: LlmServingArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("mlplatform:llm:LlmServing", name, None, opts)
        serving = args.serving
        llm = serving.llm
        volume = args.model_volumes[llm.model]
        identity = serving_identity(name, args.namespace, [volume], args.storage, self)
        prerequisites: list[pulumi.Resource] = [volume, *identity, *args.depends_on]
        uri: pulumi.Input[str] = volume.claim_name.apply(lambda claim: f"pvc://{claim}")
        if llm.cache:
            uri = args.storage.uri(args.storage.models_bucket, f"{model_prefix(llm.model)}/").apply(storage_uri)
        self.cache = None
        if llm.cache:
            cache = {"sourceModelUri": uri, "modelSize": llm.cache.size, "nodeGroups": [llm.cache.node_group]}
            # Cluster-scoped: no namespace.
            self.cache = serving_resource(
                self, name, "LocalModelCache", cache, args.depends_on, None, api_version=CACHE_API_VERSION
            )
            prerequisites.append(self.cache)
        annotations, spec = inference_service_spec(name, serving, uri, args.gpu, name)
        self.inference_service = serving_resource(
            self, name, "InferenceService", spec, prerequisites, args.namespace, annotations
        )
        self.scaled_object = None
        if scales(serving):
            scaling = scaled_object_spec(name, serving, args.prometheus_address)
            self.scaled_object = serving_resource(
                self,
                name,
                "ScaledObject",
                scaling,
                [self.inference_service],
                args.namespace,
                api_version=KEDA_API_VERSION,
            )
        route = http_route_spec(name, serving, args.gateway)
        self.http_route = serving_resource(
            self, name, "HTTPRoute", route, args.depends_on, args.namespace, api_version=GATEWAY_API_VERSION
        )
        path = url_prefix(serving.namespace, name) + CHAT_PATH
        self.endpoint = pulumi.Output.concat(args.ingress_url, path)
        self.public_endpoint = pulumi.Output.concat("http://", args.ingress_host, path)
        self.register_outputs({"endpoint": self.endpoint, "publicEndpoint": self.public_endpoint})
