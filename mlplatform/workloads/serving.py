"""A model serving: one Seldon Core v1 `SeldonDeployment`, shaped the way the 1.17 operator reads it.

How each config option reaches the model server (checked against the operator's source, v1.17.1):
- Canary and shadow: predictor `traffic` (integers) and `shadow: true`. The only live predictor gets
  `traffic: 100` (the webhook accepts 0 or 100 there; 100 says what happens). A shadow mirrors
  `traffic` percent of the requests, all of them when `traffic` is 0.
- Resources, GPUs and batching go on a `componentSpecs` container named like the graph node: the
  operator merges a container of that name into the prepackaged server's container. The exception is
  TENSORFLOW_SERVER with protocol seldon, where the graph container is Seldon's REST proxy and the
  model runs in a container the operator names `tfserving`; that is the one we size.
- Batching: TensorFlow Serving takes `--enable_batching --batching_parameters_file`; the operator only
  writes the server's args when the container has none, so ours repeat its port/model arguments and
  add the batching ones, with the parameters files in one ConfigMap per serving (a key per predictor,
  each predictor's pod mounting its key as the file via the volume's `items`). MLServer (protocol v2) takes
  adaptive batching from MLSERVER_MODEL_MAX_BATCH_SIZE / MLSERVER_MODEL_MAX_BATCH_TIME, which the
  operator merges into its env. Combinations that cannot batch fail in config validation.
- Autoscaling: `hpaSpec.metricsv2` (autoscaling/v2 metrics; the operator creates an autoscaling/v2 HPA).
- Timeout: `seldon.io/rest-timeout` / `seldon.io/grpc-timeout` (ms) in `spec.annotations`; the operator
  copies them to the executor and uses the REST one as the Ambassador Mapping timeout.
- A/B by header (this serving answers another serving's URL for requests carrying `name: value`):
  * Ambassador: `seldon.io/ambassador-service-name` puts this serving's Mappings under the other
    serving's prefix and `seldon.io/ambassador-header` makes them match only with the header; Emissary
    ranks a Mapping with a header match above the plain one, so both live at one URL.
  * Istio: Seldon's own VirtualServices cannot match headers, and Istio merges the VirtualServices
    bound to one gateway host in creation order. The target serving therefore renders the header rules
    (one VirtualService, routing to the source serving's predictor services) and its SeldonDeployment
    depends on it, so its rules are older than the VirtualService Seldon creates for the target.
  Both servings name their graph node after the target, so the model path in the URL
  (`/v1/models/<graph>:predict`) is the same for either model server.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import pulumi
import pulumi_kubernetes as k8s

from mlplatform.config import Batching, Predictor, Seldon, Serving
from mlplatform.conventions import config_path_annotation
from mlplatform.rules import MODEL_VERSION_ANNOTATION
from mlplatform.workloads.identity import pod_identity
from mlplatform.workloads.scheduling import GpuScheduling, placement
from mlplatform.workloads.security import RUN_AS, harden_pod, service_account
from mlplatform.workloads.volumes import BucketStorage, BucketVolume

# Where Seldon's storage initializer puts the model for the server (DefaultModelLocalMountPath).
MODEL_PATH = "/mnt/models"
# Seldon's executor (the predictor service's port) and the ports it gives TensorFlow Serving.
EXECUTOR_HTTP_PORT = 8000
# Image pulls and model downloads on a fresh node (GPU images are several GB) take minutes.
SERVING_READY_TIMEOUT_S = 900
TFSERVING_CONTAINER = "tfserving"
# Behind Seldon's proxy (protocol seldon) the operator's fixed ports; with protocol tensorflow the
# graph container's own ports, which we pin to the operator's first ports so our args match them.
TFSERVING_PORTS = {"seldon": {"http": 2001, "grpc": 2000}, "tensorflow": {"http": 9000, "grpc": 9500}}
BATCHING_DIR = "/etc/tfserving-batching"
BATCHING_FILE = "batching_parameters.txt"


@dataclass(frozen=True)
class HeaderRouteSource:
    """Another serving (`name`) that takes this serving's requests carrying its route header."""

    name: str
    serving: Serving


def incoming_header_routes(servings: Mapping[str, Serving], target: str) -> list[HeaderRouteSource]:
    """The servings whose `routeByHeader` points at `target`, for `ModelServingArgs.header_routes`."""
    return [
        HeaderRouteSource(name, serving)
        for name, serving in servings.items()
        if serving.route_by_header and serving.route_by_header.serving == target
    ]


@dataclass
class ModelServingArgs:
    """What a serving needs from its config and from the platform; the serving's name is the component's."""

    serving: Serving
    namespace: pulumi.Input[str]
    # The models bucket and how pods reach it without keys (RRSA roles on ACK, the serving's Pod Identity on EKS).
    storage: BucketStorage
    seldon: Seldon
    # In-cluster ingress URL (`http://emissary-ingress.emissary.svc.cluster.local`) and its public host.
    ingress_url: str
    ingress_host: pulumi.Input[str]
    gpu: GpuScheduling = field(default_factory=GpuScheduling)
    # Servings that answer this serving's URL by header (Istio renders their routes here).
    header_routes: Sequence[HeaderRouteSource] = ()
    depends_on: Sequence[pulumi.Resource] = ()
    # Model version -> its read-only volume in the serving's namespace (`volumes.model_volume`), shared with the
    # namespace's other servings of it; the model server loads it from `pvc://<claim>`. Holds every version served.
    model_volumes: Mapping[str, BucketVolume] = field(default_factory=dict)


def graph_name(name: str, serving: Serving) -> str:
    """The graph node (and model) name: the URL owner's name, so A/B servings share one model path."""
    return serving.route_by_header.serving if serving.route_by_header else name


def endpoint_path(name: str, serving: Serving) -> str:
    """`/seldon/<namespace>/<name>/<protocol's predict path>` of the URL a serving answers."""
    owner = graph_name(name, serving)
    predict = {
        "seldon": "/api/v1.0/predictions",
        "tensorflow": f"/v1/models/{owner}:predict",
        "v2": f"/v2/models/{owner}/infer",
    }[serving.protocol]
    return f"/seldon/{serving.namespace}/{owner}{predict}"


def predictor_traffic(serving: Serving, predictor: Predictor) -> int:
    """Percent of requests a predictor gets (a shadow: gets a copy of); the only live predictor gets all."""
    if predictor.shadow:
        return predictor.traffic or 100
    live = [p for p in serving.predictors if not p.shadow]
    return 100 if len(live) == 1 else predictor.traffic


def tfserving_batching_parameters(batching: Batching, cpu: str) -> str:
    """TensorFlow Serving's batching parameters (text protobuf), one batch thread per requested core."""
    threads = max(1, math.ceil(_cores(cpu)))
    # For online serving TF Serving advises queueing about as many batches as there are threads:
    # a longer queue only adds latency.
    return (
        f"max_batch_size {{ value: {batching.max_batch_size} }}\n"
        f"batch_timeout_micros {{ value: {batching.max_latency_ms * 1000} }}\n"
        f"num_batch_threads {{ value: {threads} }}\n"
        f"max_enqueued_batches {{ value: {threads} }}\n"
    )


def batching_key(predictor: Predictor) -> str:
    """The predictor's key in the serving's batching ConfigMap."""
    return f"{predictor.name}-{BATCHING_FILE}"


def _cores(cpu: str) -> float:
    return float(cpu[:-1]) / 1000 if cpu.endswith("m") else float(cpu)


class ModelServing(pulumi.ComponentResource):
    """Outputs `endpoint` (in-cluster, through the ingress) and `public_endpoint` (the ingress's public host)."""

    def __init__(self, name: str, args: ModelServingArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("mlplatform:serving:ModelServing", name, None, opts)
        self._name = name
        self._args = args
        serving = args.serving
        prerequisites: list[pulumi.Resource] = list(args.depends_on)
        # One ConfigMap holds every TF Serving predictor's batching parameters (one key each).
        self.batching_configs: list[k8s.core.v1.ConfigMap] = self._batching_config()
        # The shared volumes of the versions served; the serving's own identity (EKS) carries their read grants.
        self.model_volumes: list[BucketVolume] = list(
            dict.fromkeys(args.model_volumes[version] for _, version in serving.served_versions())
        )
        # The serving's own ServiceAccount (named like it), for every predictor's pods; cloud identity binds to it.
        self.service_account, self._account = service_account(name, args.namespace, parent=self)
        prerequisites.append(self.service_account)
        predictors = [self._predictor(index, predictor) for index, predictor in enumerate(serving.predictors)]
        prerequisites += self.batching_configs
        identity = pod_identity(
            name, args.namespace, name, [v.grant for v in self.model_volumes], args.storage.identity, self
        )
        prerequisites += [*self.model_volumes, *identity]
        self.header_route_service = self._header_routes() if args.seldon.ingress == "istio" else None
        if self.header_route_service:
            prerequisites.append(self.header_route_service)
        self.seldon_deployment = k8s.apiextensions.CustomResource(
            f"{name}-seldondeployment",
            api_version="machinelearning.seldon.io/v1",
            kind="SeldonDeployment",
            metadata={
                "name": name,
                "namespace": args.namespace,
                "labels": {"app.kubernetes.io/part-of": "ml-platform"},
                # `pulumi up` fails when a model never loads, instead of reporting a serving that does not
                # serve: Seldon sets status.state to Available, Creating or Failed (seldon_deployment_status.go).
                "annotations": {
                    **config_path_annotation("servings", name),
                    "pulumi.com/waitFor": "jsonpath={.status.state}=Available",
                    "pulumi.com/timeoutSeconds": str(SERVING_READY_TIMEOUT_S),
                },
            },
            spec={"protocol": serving.protocol, "annotations": self._annotations(), "predictors": predictors},
            opts=pulumi.ResourceOptions(parent=self, depends_on=prerequisites),
        )
        path = endpoint_path(name, serving)
        self.endpoint = pulumi.Output.concat(args.ingress_url, path)
        self.public_endpoint = pulumi.Output.concat("http://", args.ingress_host, path)
        self.register_outputs({"endpoint": self.endpoint, "publicEndpoint": self.public_endpoint})

    def _annotations(self) -> dict[str, str]:
        serving = self._args.serving
        timeout = str(serving.timeout_ms)
        annotations = {"seldon.io/rest-timeout": timeout, "seldon.io/grpc-timeout": timeout}
        if self._args.seldon.ingress == "istio":
            annotations["seldon.io/istio-gateway"] = self._args.seldon.istio_gateway
        elif serving.route_by_header:
            annotations["seldon.io/ambassador-service-name"] = serving.route_by_header.serving
            annotations["seldon.io/ambassador-header"] = serving.route_by_header.header
        return annotations

    def _predictor(self, index: int, predictor: Predictor) -> dict:
        serving = self._args.serving
        graph: dict = {"name": graph_name(self._name, serving)}
        if predictor.server:
            graph["implementation"] = predictor.server
        else:
            graph["type"] = "MODEL"
        if predictor.is_model_version:
            volume = self._args.model_volumes[predictor.model]
            # Seldon's storage initializer copies from the claim (mounted at /mnt/pvc): no storage credentials.
            graph["modelUri"] = volume.claim_name.apply(lambda claim: f"pvc://{claim}")
        else:
            graph["modelUri"] = predictor.model
        rendered: dict = {
            "name": predictor.name,
            "replicas": predictor.replicas,
            "traffic": predictor_traffic(serving, predictor),
            "graph": graph,
            "componentSpecs": [self._component_spec(predictor)],
        }
        if predictor.shadow:
            rendered["shadow"] = True
        rendered["annotations"] = config_path_annotation("servings", self._name, "predictors", index)
        if predictor.is_model_version:
            rendered["annotations"][MODEL_VERSION_ANNOTATION] = predictor.model
        return rendered

    def _component_spec(self, predictor: Predictor) -> dict:
        protocol = self._args.serving.protocol
        fits = placement(predictor.resources, self._args.gpu)
        behind_proxy = predictor.server == "TENSORFLOW_SERVER" and protocol == "seldon"
        container: dict = {
            "name": TFSERVING_CONTAINER if behind_proxy else graph_name(self._name, self._args.serving),
            "resources": fits.resources,
        }
        if predictor.image:
            container["image"] = predictor.image
        pod: dict = {"containers": [container], **fits.pod_fields()}
        if predictor.batching and predictor.server == "TENSORFLOW_SERVER":
            self._tfserving_batching(predictor, container, pod)
        elif predictor.batching:
            container["env"] = [
                {"name": "MLSERVER_MODEL_MAX_BATCH_SIZE", "value": str(predictor.batching.max_batch_size)},
                {"name": "MLSERVER_MODEL_MAX_BATCH_TIME", "value": str(predictor.batching.max_latency_ms / 1000)},
            ]
        # Our securityContext replaces the operator's default (`defaultUserID`, createDeploymentWithoutEngine) and
        # the prepackaged server's (seldondeployment_prepackaged_servers.go keeps a container's own). No probes:
        # the operator gives each graph container TCP readiness/liveness probes on its port when it has none
        # (seldondeployment_controller.go createContainerService, v1.17.1), custom images included.
        component: dict = {"spec": harden_pod(pod, RUN_AS["seldon"].with_user(predictor.run_as_user), self._account)}
        if predictor.autoscaling:
            component["hpaSpec"] = self._hpa(predictor)
        return component

    def _batching_config(self) -> list[k8s.core.v1.ConfigMap]:
        """`<serving>-batching`: key `<predictor>-batching_parameters.txt` per TF Serving predictor that batches."""
        data = {
            batching_key(predictor): tfserving_batching_parameters(predictor.batching, predictor.resources.cpu)
            for predictor in self._args.serving.predictors
            if predictor.batching and predictor.server == "TENSORFLOW_SERVER"
        }
        if not data:
            return []
        name = f"{self._name}-batching"
        return [
            k8s.core.v1.ConfigMap(
                name,
                metadata={"name": name, "namespace": self._args.namespace},
                data=data,
                opts=pulumi.ResourceOptions(parent=self),
            )
        ]

    def _tfserving_batching(self, predictor: Predictor, container: dict, pod: dict) -> None:
        """Batching flags on TF Serving, with the args the operator would otherwise have written."""
        protocol = self._args.serving.protocol
        ports = TFSERVING_PORTS[protocol]
        config_map = self.batching_configs[0]
        container["args"] = [
            f"--port={ports['grpc']}",
            f"--rest_api_port={ports['http']}",
            f"--model_name={graph_name(self._name, self._args.serving)}",
            f"--model_base_path={MODEL_PATH}",
            "--enable_batching",
            f"--batching_parameters_file={BATCHING_DIR}/{BATCHING_FILE}",
        ]
        if protocol == "tensorflow":
            container["ports"] = [
                {"name": port_name, "containerPort": number, "protocol": "TCP"} for port_name, number in ports.items()
            ]
        container["volumeMounts"] = [{"name": "batching", "mountPath": BATCHING_DIR, "readOnly": True}]
        # Only this predictor's key, as the file the flag names (ConfigMapVolumeSource `items`).
        items = [{"key": batching_key(predictor), "path": BATCHING_FILE}]
        pod["volumes"] = [{"name": "batching", "configMap": {"name": config_map.metadata.name, "items": items}}]

    @staticmethod
    def _hpa(predictor: Predictor) -> dict:
        scaling = predictor.autoscaling
        targets = {"cpu": scaling.cpu_utilization, "memory": scaling.memory_utilization}
        return {
            "minReplicas": scaling.min_replicas,
            "maxReplicas": scaling.max_replicas,
            "metricsv2": [
                {
                    "type": "Resource",
                    "resource": {"name": resource, "target": {"type": "Utilization", "averageUtilization": target}},
                }
                for resource, target in targets.items()
                if target is not None
            ],
        }

    def _header_routes(self) -> k8s.apiextensions.CustomResource | None:
        """Istio rules sending this serving's requests that carry a route header to the source serving."""
        if not self._args.header_routes:
            return None
        namespace = self._args.serving.namespace
        rules = []
        for source in self._args.header_routes:
            key, value = (part.strip() for part in source.serving.route_by_header.header.split(":", 1))
            live = [p for p in source.serving.predictors if not p.shadow]
            rules.append(
                {
                    "name": f"{source.name}-by-header",
                    "match": [
                        {
                            "uri": {"prefix": f"/seldon/{namespace}/{self._name}/"},
                            "headers": {key.lower(): {"exact": value}},
                        }
                    ],
                    "rewrite": {"uri": "/"},
                    "route": [
                        {
                            "destination": {
                                "host": f"{source.name}-{p.name}.{namespace}.svc.cluster.local",
                                "port": {"number": EXECUTOR_HTTP_PORT},
                            },
                            "weight": predictor_traffic(source.serving, p),
                        }
                        for p in live
                    ],
                    "timeout": f"{source.serving.timeout_ms / 1000:g}s",
                }
            )
        return k8s.apiextensions.CustomResource(
            f"{self._name}-header-routes",
            api_version="networking.istio.io/v1beta1",
            kind="VirtualService",
            metadata={"name": f"{self._name}-header-routes", "namespace": self._args.namespace},
            spec={"hosts": ["*"], "gateways": [self._args.seldon.istio_gateway], "http": rules},
            opts=pulumi.ResourceOptions(parent=self),
        )
