"""A model serving on KServe 0.20 (Standard mode): one `InferenceService`, and the `HTTPRoute` that is its URL.

How each serving option reaches KServe (kserve/kserve v0.20.0; files under pkg/ unless said):
- Predictors: the first live predictor is the stable `spec.predictor` (named, so its Deployment and Service
  are `<serving>-<predictor>-predictor`); every other predictor is an entry of `spec.canary[]` with its
  `trafficPercent` (`apis/serving/v1beta1/inference_service.go` CanarySpec). The webhook
  (`inference_service_validation.go` validateCanarySpecs) wants the InferenceService annotated
  `serving.kserve.io/deploymentMode: Standard`, canary names unique and not the stable one's, percentages
  summing to at most 100, and no `maxReplicas`/`scaleTarget`/`scaleMetric`/`autoScaling` on a canary;
  config refuses what breaks these with the config path, and `mlplatform.validation.webhooks` checks
  the rendered object again.
- Replicas: the controller builds each canary by merging it onto the stable predictor, runs it at its
  `minReplicas`, and subtracts the canaries' replicas from the stable's `minReplicas`
  (`controller/v1beta1/inferenceservice/components/predictor.go`, buildCanaryPredictor and
  reconcilePredictor). The stable's min/max are therefore rendered with the canaries' replicas added, so
  the stable keeps the replicas its config asks for.
- Traffic: each predictor has its own Service; the HTTPRoute rendered here splits requests between them
  with weighted `backendRefs` (the config's integer percentages), so the split does not depend on how many
  replicas each side runs. A shadow is a canary at `trafficPercent: 0` (the CRD's "dark launch") that the
  route mirrors requests to (Gateway API `RequestMirror`, with `percent`).
- A/B by header: a serving with `routeByHeader` renders its rule on the other serving's URL: an exact match
  on that URL's predict path plus the header, rewritten to its own predict path (`ReplaceFullPath`). Gateway
  API ranks an exact path above a prefix and counts header matches, so at one URL requests with the header
  reach this serving and the others the target.
- Runtimes: prepackaged servers become `predictor.model.modelFormat` + `protocolVersion` (tensorflow = v1,
  TF Serving's REST API), auto-selected among the ClusterServingRuntimes of the kserve-runtime-configs
  chart; a custom image is `predictor.containers[kserve-container]` with the model URI in STORAGE_URI.
  Models come from the models bucket without keys, as Seldon servings do: each served version is the
  read-only bucket volume of that version in the serving's namespace, shared with the namespace's other servings
  of it (`volumes.py`: an RRSA-mounted OSS volume on ACK, Mountpoint for S3 with each serving's own Pod Identity
  on EKS) and the predictor's `storageUri` is `pvc://<claim>`, which KServe mounts
  at /mnt/models instead of downloading (`pkg/utils/storage.go` ParsePvcURI). The predictors run as the
  serving's ServiceAccount (`<serving>`), the one its Pod Identity is associated with.
- Autoscaling: `serving.kserve.io/autoscalerClass: hpa` with `autoScaling.metrics` (Resource cpu/memory,
  Utilization), else `none` (fixed replicas). Batching: `batcher.{maxBatchSize, maxLatency (ms)}`; the
  batcher reads v1 requests (`batcher/handler.go` decodes `instances`), so config allows it with protocol
  tensorflow only. Timeout: the predictor's `timeout` (seconds) and the route's `timeouts.request`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import pulumi
import pulumi_kubernetes as k8s

from mlplatform.config import Predictor, Serving
from mlplatform.config.kserve import KSERVE_FORMATS
from mlplatform.conventions import config_path_annotation
from mlplatform.rules import MODEL_VERSION_ANNOTATION
from mlplatform.workloads.identity import pod_identity
from mlplatform.workloads.scheduling import GpuScheduling, placement
from mlplatform.workloads.security import RUN_AS, container_security_context, pod_security_context, service_account
from mlplatform.workloads.volumes import BucketStorage, BucketVolume

API_VERSION = "serving.kserve.io/v1beta1"
DEPLOYMENT_MODE = "serving.kserve.io/deploymentMode"
AUTOSCALER_CLASS = "serving.kserve.io/autoscalerClass"
CONTAINER = "kserve-container"
# Port of every predictor Service KServe creates (constants.CommonDefaultHttpPort).
SERVICE_PORT = 80
URL_PREFIX = "/serving"
PROTOCOL_VERSIONS = {"tensorflow": "v1", "v2": "v2"}
GATEWAY_API_VERSION = "gateway.networking.k8s.io/v1"
# The label every object a KServe or LLM serving renders carries.
PART_OF = {"app.kubernetes.io/part-of": "ml-platform"}


@dataclass(frozen=True)
class GatewayRef:
    namespace: str = "kserve"
    name: str = "kserve-ingress-gateway"

    def parent_ref(self) -> dict:
        return {"group": "gateway.networking.k8s.io", "kind": "Gateway", "namespace": self.namespace, "name": self.name}


@dataclass(frozen=True)
class KServeServingArgs:
    """What a KServe serving needs from its config and from the platform; its name is the component's."""

    serving: Serving
    namespace: pulumi.Input[str]
    # The models bucket and how pods reach it without keys (RRSA volumes on ACK, Pod Identity on EKS).
    storage: BucketStorage
    # In-cluster URL of the Gateway (`http://kserve-ingress-gateway-istio.kserve.svc.cluster.local`) and its host.
    ingress_url: str
    ingress_host: pulumi.Input[str]
    gateway: GatewayRef = field(default_factory=GatewayRef)
    gpu: GpuScheduling = field(default_factory=GpuScheduling)
    # The serving whose URL a `routeByHeader` answers at (its config), for the predict path.
    route_target: Serving | None = None
    depends_on: Sequence[pulumi.Resource] = ()
    # Model version -> its read-only volume in the serving's namespace (`volumes.model_volume`), shared with the
    # namespace's other servings of it. Holds every version served (predictors, or an LLM's weights).
    model_volumes: Mapping[str, BucketVolume] = field(default_factory=dict)


def storage_uri(uri: str) -> str:
    """KServe's storage initializer reads OSS through the S3 API: `oss://b/p/` -> `s3://b/p/`."""
    scheme, _, rest = uri.partition("://")
    return f"s3://{rest}" if scheme == "oss" else uri


def predictor_service(name: str, predictor_name: str | None) -> str:
    """The Service KServe gives a predictor (constants.PredictorServiceName)."""
    return f"{name}-{predictor_name}-predictor" if predictor_name else f"{name}-predictor"


def predict_path(name: str, serving: Serving) -> str:
    """The model server's predict path; KServe's runtimes name the model after the InferenceService."""
    return f"/v1/models/{name}:predict" if serving.protocol == "tensorflow" else f"/v2/models/{name}/infer"


def url_prefix(namespace: str, name: str) -> str:
    return f"{URL_PREFIX}/{namespace}/{name}"


def endpoint_path(name: str, serving: Serving) -> str:
    """`/serving/<namespace>/<owner>/<predict path>`: the URL a serving answers (its target's, for an A/B)."""
    owner = serving.route_by_header.serving if serving.route_by_header else name
    return url_prefix(serving.namespace, owner) + predict_path(owner, serving)


def canaries(serving: Serving) -> list[Predictor]:
    stable = serving.stable
    return [p for p in serving.predictors if p is not stable]


def _weight(serving: Serving, predictor: Predictor) -> int:
    live = [p for p in serving.predictors if not p.shadow]
    return 100 if len(live) == 1 else predictor.traffic


def _uri(uris: Mapping[str, pulumi.Input[str]], predictor: Predictor) -> pulumi.Input[str]:
    """The predictor's model: `pvc://<claim>` of its model-version volume, or the `pvc://` URI it names."""
    return uris.get(predictor.name, predictor.model)


def predictor_spec(
    name: str,
    serving: Serving,
    predictor: Predictor,
    uri: pulumi.Input[str],
    gpu: GpuScheduling,
    service_account: pulumi.Input[str] | None = None,
) -> dict:
    """A predictor of the serving `name` as KServe reads it: name, model (runtime) or container, resources,
    placement, batcher; annotated with its config path (and model version)."""
    fits = placement(predictor.resources, gpu)
    # The predictor's inline pod fields take the pod securityContext; the runtime's container its own.
    spec: dict = {
        "name": predictor.name,
        **fits.pod_fields(),
        "securityContext": pod_security_context(RUN_AS["kserve"].with_user(predictor.run_as_user)),
        "automountServiceAccountToken": False,
    }
    if service_account is not None:
        spec["serviceAccountName"] = service_account
    if predictor.server:
        spec["model"] = {
            "modelFormat": {"name": KSERVE_FORMATS[predictor.server]},
            "protocolVersion": PROTOCOL_VERSIONS[serving.protocol],
            "storageUri": uri,
            "resources": fits.resources,
            "securityContext": container_security_context(),
        }
    else:
        container = {
            "name": CONTAINER,
            "image": predictor.image,
            "resources": fits.resources,
            "securityContext": container_security_context(),
        }
        # A custom container gets the storage initializer through STORAGE_URI (KServe's custom-container docs).
        container["env"] = [{"name": "STORAGE_URI", "value": uri}]
        spec["containers"] = [container]
    if predictor.batching:
        spec["batcher"] = {
            "maxBatchSize": predictor.batching.max_batch_size,
            "maxLatency": predictor.batching.max_latency_ms,
        }
    spec["annotations"] = config_path_annotation("servings", name, "predictors", serving.predictors.index(predictor))
    if predictor.is_model_version:
        spec["annotations"][MODEL_VERSION_ANNOTATION] = predictor.model
    return spec


def inference_service_spec(
    name: str,
    serving: Serving,
    uris: Mapping[str, pulumi.Input[str]],
    gpu: GpuScheduling,
    service_account: pulumi.Input[str] | None = None,
) -> tuple[dict, dict]:
    """(annotations, spec) of the InferenceService: the stable predictor and its canaries.

    `uris`: predictor name -> its `storageUri` (`pvc://<claim>` of its model-version volume)."""
    stable = serving.stable
    others = canaries(serving)
    extra = sum(p.replicas for p in others)  # what the controller takes off the stable's minReplicas
    spec_predictor = predictor_spec(name, serving, stable, _uri(uris, stable), gpu, service_account)
    spec_predictor["timeout"] = math.ceil(serving.timeout_ms / 1000)
    annotations = {DEPLOYMENT_MODE: "Standard"}
    if stable.autoscaling:
        scaling = stable.autoscaling
        annotations[AUTOSCALER_CLASS] = "hpa"
        spec_predictor["minReplicas"] = scaling.min_replicas + extra
        spec_predictor["maxReplicas"] = scaling.max_replicas + extra
        targets = {"cpu": scaling.cpu_utilization, "memory": scaling.memory_utilization}
        spec_predictor["autoScaling"] = {
            "metrics": [
                {
                    "type": "Resource",
                    "resource": {"name": metric, "target": {"type": "Utilization", "averageUtilization": target}},
                }
                for metric, target in targets.items()
                if target is not None
            ]
        }
    else:
        annotations[AUTOSCALER_CLASS] = "none"
        spec_predictor["minReplicas"] = stable.replicas + extra
    spec: dict = {"predictor": spec_predictor}
    if others:
        spec["canary"] = [
            _canary(name, serving, predictor, _uri(uris, predictor), gpu, service_account) for predictor in others
        ]
    return annotations, spec


def _canary(name: str, serving: Serving, predictor: Predictor, uri, gpu: GpuScheduling, service_account) -> dict:
    """A `spec.canary[]` entry: fixed replicas, its share of the traffic (0 for a shadow, which is mirrored)."""
    spec = {**predictor_spec(name, serving, predictor, uri, gpu, service_account), "minReplicas": predictor.replicas}
    if "model" in spec:
        # The canary schema requires the model container's name (the stable predictor's webhook forbids it
        # there); it is the name of the runtime's container the controller merges it into.
        spec["model"] = {"name": CONTAINER, **spec["model"]}
    return {"predictor": spec, "trafficPercent": 0 if predictor.shadow else _weight(serving, predictor)}


def route_timeout(milliseconds: int) -> str:
    """A Gateway API Duration (at most 5 digits per unit): `30000ms`, or whole seconds beyond that."""
    return f"{milliseconds}ms" if milliseconds < 100_000 else f"{math.ceil(milliseconds / 1000)}s"


def http_route_spec(name: str, serving: Serving, gateway: GatewayRef, route_target: Serving | None = None) -> dict:
    """The serving's URL on the Gateway: a weighted split over its predictors, a mirror to its shadow."""
    live = [p for p in serving.predictors if not p.shadow]
    backends = [
        {"name": predictor_service(name, p.name), "port": SERVICE_PORT, "weight": _weight(serving, p)} for p in live
    ]
    filters: list[dict] = []
    timeout = route_timeout(serving.timeout_ms)
    route = serving.route_by_header
    if route:
        key, value = (part.strip() for part in route.header.split(":", 1))
        target_path = url_prefix(serving.namespace, route.serving) + predict_path(
            route.serving, route_target or serving
        )
        match = {
            "path": {"type": "Exact", "value": target_path},
            "headers": [{"type": "Exact", "name": key, "value": value}],
        }
        filters.append(
            {
                "type": "URLRewrite",
                "urlRewrite": {"path": {"type": "ReplaceFullPath", "replaceFullPath": predict_path(name, serving)}},
            }
        )
    else:
        match = {"path": {"type": "PathPrefix", "value": url_prefix(serving.namespace, name)}}
        filters.append(
            {"type": "URLRewrite", "urlRewrite": {"path": {"type": "ReplacePrefixMatch", "replacePrefixMatch": "/"}}}
        )
    for shadow in (p for p in serving.predictors if p.shadow):
        filters.append(
            {
                "type": "RequestMirror",
                "requestMirror": {
                    "backendRef": {"name": predictor_service(name, shadow.name), "port": SERVICE_PORT},
                    "percent": shadow.traffic or 100,
                },
            }
        )
    rule = {"matches": [match], "filters": filters, "backendRefs": backends, "timeouts": {"request": timeout}}
    return {"parentRefs": [gateway.parent_ref()], "rules": [rule]}


def serving_identity(
    name: str, namespace: pulumi.Input[str], volumes: list[BucketVolume], storage: BucketStorage, parent
) -> list[pulumi.Resource]:
    """The serving's own ServiceAccount `<name>` and, on EKS, the Pod Identity that lets it read its volumes."""
    account, _ = service_account(name, namespace, parent)
    return [account, *pod_identity(name, namespace, name, [v.grant for v in volumes], storage.identity, parent)]


def serving_resource(
    parent: pulumi.Resource,
    name: str,
    kind: str,
    spec: pulumi.Input[dict],
    depends_on: Sequence[pulumi.Resource],
    namespace: pulumi.Input[str] | None,
    annotations: Mapping[str, str] | None = None,
    api_version: str = API_VERSION,
) -> k8s.apiextensions.CustomResource:
    """An object of the serving `name` (its component is `parent`): named like the serving, planned as
    `<name>-<kind, lower case>`, labelled part of the platform, annotated with its config path; cluster-scoped
    when `namespace` is None."""
    metadata: dict = {"name": name}
    if namespace is not None:
        metadata["namespace"] = namespace
    metadata["labels"] = dict(PART_OF)
    metadata["annotations"] = {**config_path_annotation("servings", name), **(annotations or {})}
    return k8s.apiextensions.CustomResource(
        f"{name}-{kind.lower()}",
        api_version=api_version,
        kind=kind,
        metadata=metadata,
        spec=spec,
        opts=pulumi.ResourceOptions(parent=parent, depends_on=list(depends_on)),
    )


class KServeServing(pulumi.ComponentResource):
    """Outputs `endpoint` (in-cluster, through the Gateway) and `public_endpoint` (the Gateway's address)."""

    def __init__(self, name: str, args: KServeServingArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("mlplatform:kserve:KServeServing", name, None, opts)
        serving = args.serving
        volumes = {p.name: args.model_volumes[p.model] for p in serving.predictors if p.is_model_version}
        used = list(dict.fromkeys(volumes.values()))  # two predictors of one version share its volume
        identity = serving_identity(name, args.namespace, used, args.storage, self)
        uris = {key: volume.claim_name.apply(lambda claim: f"pvc://{claim}") for key, volume in volumes.items()}
        annotations, spec = inference_service_spec(name, serving, uris, args.gpu, name)
        prerequisites = [*used, *identity, *args.depends_on]
        self.inference_service = serving_resource(
            self, name, "InferenceService", spec, prerequisites, args.namespace, annotations
        )
        route = http_route_spec(name, serving, args.gateway, args.route_target)
        self.http_route = serving_resource(
            self, name, "HTTPRoute", route, args.depends_on, args.namespace, api_version=GATEWAY_API_VERSION
        )
        path = endpoint_path(name, serving)
        self.endpoint = pulumi.Output.concat(args.ingress_url, path)
        self.public_endpoint = pulumi.Output.concat("http://", args.ingress_host, path)
        self.register_outputs({"endpoint": self.endpoint, "publicEndpoint": self.public_endpoint})
