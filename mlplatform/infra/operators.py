"""The operators ML workloads need, installed at the versions of `mlplatform/pins.py` into their own namespaces.

- Seldon Core v1 (1.17.1, its last Apache-2.0 release) from its Helm chart, with an ingress it supports on
  Kubernetes >= 1.22: Emissary-ingress 4 (Seldon writes `getambassador.io/v2` Mappings, so the chart runs
  with `ambassador.version: v2` and Emissary's CRD chart with `enableLegacyVersions: true`, whose conversion
  webhook serves v2) or Istio (a Gateway Seldon's VirtualServices bind to; `base` and `istiod` come from
  `mlplatform/infra/istio.py`, the one owner of Istio's control plane, and this component adds the `gateway`
  release). Seldon's CRD is kept when the release is uninstalled (`crd.annotations`), and its prepackaged
  TensorFlow server runs `tensorflowServerImage`.
- The ingress's own Service stays ClusterIP (what `ingress_url` names in the cluster; chart values
  `service.type`: Emissary 4.1.0 `charts/emissary-ingress/values.yaml`, Istio 1.31 `manifests/charts/gateway/
  values.yaml`) and this component owns a LoadBalancer Service with the cloud's internal annotations in front of
  the same pods (selectors as the charts' `service.yaml` render them: Emissary `app.kubernetes.io/name`,
  `app.kubernetes.io/instance` and `profile: main`; the Istio gateway `app` and `istio`). Its address
  (`ingress_host`) is an output of that Service, which pulumi-kubernetes creates only once the cloud assigned it
  (`provider/pkg/await/service.go`), never a read of the chart's Service, which may not exist during a preview.
- The Kubeflow training-operator v1.9.x: it publishes no Helm chart, so its own kustomize overlay is
  applied from the release tag (`manifests/overlays/standalone?ref=v1.9.x`), the install its README gives.
- Kubeflow's notebook controller, from its standalone overlay at the release tag, for Notebook resources
  (without Kubeflow's gateway: notebooks keep Jupyter's own authentication, see mlplatform/notebook.py).
- On EKS, the NVIDIA device plugin, with time-slicing when a pool shares GPUs and the `mixed` MIG strategy when a
  pool splits them with MIG (mlplatform/infra/nodepool.py). ACK installs its
  GPU device plugin itself, and cGPU comes with the `ack-ai-installer` cluster add-on.

Every Helm release waits up to `HELM_TIMEOUT_SECONDS` (image pulls from far registries are slow), and with
`operators.imageRegistry` set every image a chart runs is pulled through that mirror: the values that name
images are chart-specific, read from each chart's values.yaml at the pinned version (`mlplatform/images.py`,
`mirror_values`). pulumi-kubernetes 4.34.2's `kustomize.v2.Directory` takes no `images:` overrides (its inputs
are `directory`, `namespace`, `resourcePrefix`, `skipAwait`), so the overlays' objects are rewritten by a
transform (`mirror_overlay`): Pulumi applies `transforms` to the children a remote component registers
(Pulumi, "Resource options: transforms"). The training-operator also starts images of its own (a PyTorchJob
worker's init container, an MPIJob launcher's kubectl delivery), which its flags point at the mirror.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s

from mlplatform import config as cfg
from mlplatform import images, pins
from mlplatform.conventions import GPU_TAINT, NVIDIA_GPU_PRESENT_LABEL, mirrored
from mlplatform.infra import helm
from mlplatform.infra.istio import ISTIO_NAMESPACE
from mlplatform.workloads.addresses import load_balancer_address, load_balancer_service

SELDON_NAMESPACE = "seldon-system"
EMISSARY_NAMESPACE = "emissary"

# Keeps the CRD (and so every SeldonDeployment) when the release is uninstalled or replaced.
HELM_KEEP = helm.HELM_KEEP


@dataclass(frozen=True)
class OperatorsArgs:
    cloud: str
    operators: cfg.Operators
    # NVIDIA time-slicing replicas per GPU on EKS; None when no pool shares GPUs that way.
    time_slicing_replicas: int | None = None
    install_gpu_plugin: bool = False
    # EKS: a pool splits its GPUs with MIG, so the device plugin offers MIG instances (`migStrategy: mixed`).
    mig: bool = False
    # Annotations that keep the ingress load balancer private (the cloud's "internal" switch).
    internal_lb_annotations: dict[str, str] | None = None
    # Istio's control plane (mlplatform/infra/istio.py), which the istio ingress's gateway release runs on.
    istio: Sequence[pulumi.Resource] = ()


def ingress_service_url(seldon: cfg.Seldon) -> str:
    """In-cluster address of the ingress that fronts Seldon's model endpoints."""
    if seldon.ingress == "ambassador":
        return f"http://emissary-ingress.{EMISSARY_NAMESPACE}.svc.cluster.local"
    return f"http://istio-ingressgateway.{ISTIO_NAMESPACE}.svc.cluster.local"


def split_image(image: str) -> tuple[str, str]:
    """tensorflow/serving:2.20.0-gpu -> ("tensorflow/serving", "2.20.0-gpu"): how Seldon's server table holds it."""
    repository, _, tag = image.rpartition(":")
    return repository, tag


def seldon_values(seldon: cfg.Seldon, registry: str | None = None) -> dict:
    """The seldon-core-operator chart values (keys from its 1.17.1 values.yaml)."""
    values: dict = {
        "usageMetrics": {"enabled": False},
        # `crd.forceV1` is not set: the 1.17.1 templates test `crd.forcev1` (lower-case v), so the
        # documented key has no effect; the v1 CRD is chosen by the cluster version (>= 1.18) anyway.
        "crd": {"create": True, "annotations": dict(HELM_KEEP)},
        "ambassador": {"enabled": seldon.ingress == "ambassador", "version": "v2", "singleNamespace": False},
        "istio": {"enabled": seldon.ingress == "istio"},
    }
    if seldon.ingress == "istio":
        values["istio"]["gateway"] = seldon.istio_gateway
    tf_image, tf_version = split_image(seldon.tensorflow_server_image)
    # The configured TensorFlow image replaces the chart's (2.1.0, CPU only), through the mirror as every image.
    tensorflow = {"image": mirrored(tf_image, registry), "defaultImageVersion": tf_version}
    values["predictor_servers"] = {"TENSORFLOW_SERVER": {"protocols": {"tensorflow": tensorflow}}}
    return images.merged(images.mirror_values(images.SELDON, registry), values)


def mirror_overlay(registry: str, overlay: images.Overlay):
    """A transform that pulls every container of an overlay's objects through `registry` (and points the images
    its operator starts there too)."""

    def transform(args: pulumi.ResourceTransformArgs) -> pulumi.ResourceTransformResult | None:
        if not any(True for _ in images.containers(args.props)):
            return None
        return pulumi.ResourceTransformResult(images.mirror_containers(args.props, registry, overlay), args.opts)

    return transform


class Operators(pulumi.ComponentResource):
    """Output `ready`: every install, for workloads to depend on; `ingress_url`: where models answer."""

    def __init__(self, name: str, args: OperatorsArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("mlplatform:operators:Operators", name, None, opts)
        self._name = name
        self._args = args
        self._registry = args.operators.image_registry
        seldon = args.operators.seldon
        ingress, self.ingress_host = self._emissary() if seldon.ingress == "ambassador" else self._istio(seldon)
        seldon_namespace = self._namespace(SELDON_NAMESPACE)
        self.seldon = self._release(
            "seldon-core",
            pins.SELDON.chart,
            seldon.version,
            seldon_namespace.metadata.name,
            pins.SELDON.repo,
            seldon_values(seldon, self._registry),
            depends_on=ingress,
        )
        self.training_operator = self._overlay(images.TRAINING_OPERATOR, args.operators.training_operator.version)
        self.notebook_controller = self._overlay(images.NOTEBOOK_CONTROLLER, args.operators.notebook_controller_version)
        self.ready: list[pulumi.Resource] = [self.seldon, self.training_operator, self.notebook_controller, *ingress]
        if args.install_gpu_plugin:
            self.ready.append(self._nvidia_device_plugin())
        self.ingress_url = ingress_service_url(seldon)
        self.register_outputs({"ingress_url": self.ingress_url, "ingress_host": self.ingress_host})

    def _namespace(self, name: str) -> k8s.core.v1.Namespace:
        return helm.namespace(f"{self._name}-{name}", name, self)

    def _overlay(self, overlay: images.Overlay, version: str) -> k8s.kustomize.v2.Directory:
        transforms = [mirror_overlay(self._registry, overlay)] if self._registry else None
        return k8s.kustomize.v2.Directory(
            f"{self._name}-{overlay.name}",
            directory=overlay.url.format(version=version),
            opts=pulumi.ResourceOptions(parent=self, transforms=transforms),
        )

    def _release(
        self, release, chart, version, namespace_name, repo, values, depends_on=(), resource_name=None, **options
    ):
        name = resource_name or f"{self._name}-{release}"
        return helm.pinned_release(
            name, release, chart, version, namespace_name, values, self, repo, depends_on or (), **options
        )

    def _load_balancer(
        self, service: str, namespace: pulumi.Input[str], selector: dict[str, str], ports: list[dict], after: list
    ) -> pulumi.Output[str]:
        """The LoadBalancer Service in front of the ingress pods (`<chart's Service>-lb`); returns its address."""
        owned = load_balancer_service(
            f"{self._name}-ingress-lb",
            f"{service}-lb",
            namespace,
            selector,
            ports,
            dict(self._args.internal_lb_annotations or {}),
            self,
            after,
        )
        return owned.status.apply(load_balancer_address)

    def _emissary(self) -> tuple[list[pulumi.Resource], pulumi.Output[str]]:
        # Emissary 4: the CRDs (and the apiext conversion webhook that serves Seldon's v2 Mappings) are a chart
        # of their own, installed first into Emissary's namespace (its doc.yaml release namespace).
        namespace = self._namespace(EMISSARY_NAMESPACE)
        crd_values: dict = {"enableLegacyVersions": True, "emissary": {"namespace": EMISSARY_NAMESPACE}}
        values: dict = {"createDefaultListeners": True, "service": {"type": "ClusterIP"}}
        crd_values |= images.mirror_values(images.EMISSARY_CRDS, self._registry)
        values |= images.mirror_values(images.EMISSARY, self._registry)
        crds = self._release(
            "emissary-crds",
            pins.EMISSARY_CRDS.chart,
            pins.EMISSARY_CRDS.version,
            namespace.metadata.name,
            None,
            crd_values,
            # Its CRDs are templates it cannot annotate `keep` (emissary-ingress/emissary@v4.1.0
            # charts/emissary-crds values.yaml): retained, so moving Seldon to Istio leaves every Mapping.
            retain_on_delete=True,
        )
        release = self._release(
            "emissary-ingress",
            pins.EMISSARY.chart,
            self._args.operators.seldon.emissary_version,
            namespace.metadata.name,
            None,
            values,
            depends_on=[crds],
        )
        # The chart's Service: ports http 80 -> 8080 and https 443 -> 8443 (Emissary's default Listeners).
        ports = [
            {"name": "http", "port": 80, "targetPort": 8080, "protocol": "TCP"},
            {"name": "https", "port": 443, "targetPort": 8443, "protocol": "TCP"},
        ]
        selector = {"app.kubernetes.io/name": "emissary-ingress", "app.kubernetes.io/instance": "emissary-ingress"}
        host = self._load_balancer(
            "emissary-ingress", namespace.metadata.name, selector | {"profile": "main"}, ports, [release]
        )
        return [crds, release], host

    def _istio(self, seldon: cfg.Seldon) -> tuple[list[pulumi.Resource], pulumi.Output[str]]:
        installed: list[pulumi.Resource] = [
            self._release(
                "istio-ingressgateway",
                "gateway",
                pins.ISTIO.version,
                ISTIO_NAMESPACE,
                pins.ISTIO.repo,
                {"service": {"type": "ClusterIP"}, "labels": {"istio": "ingressgateway"}},
                depends_on=list(self._args.istio),
                resource_name=f"{self._name}-istio-gateway",
            )
        ]
        gateway_namespace, gateway_name = seldon.istio_gateway.split("/", 1)
        installed.append(
            k8s.apiextensions.CustomResource(
                f"{self._name}-seldon-gateway",
                api_version="networking.istio.io/v1beta1",
                kind="Gateway",
                metadata=k8s.meta.v1.ObjectMetaArgs(name=gateway_name, namespace=gateway_namespace),
                spec={
                    "selector": {"istio": "ingressgateway"},
                    "servers": [{"port": {"number": 80, "name": "http", "protocol": "HTTP"}, "hosts": ["*"]}],
                },
                opts=pulumi.ResourceOptions(parent=self, depends_on=list(installed)),
            )
        )
        # The gateway chart's Service ports (status-port is the proxies' health check, not for clients).
        ports = [
            {"name": "http2", "port": 80, "targetPort": 80, "protocol": "TCP"},
            {"name": "https", "port": 443, "targetPort": 443, "protocol": "TCP"},
        ]
        selector = {"app": "istio-ingressgateway", "istio": "ingressgateway"}
        return installed, self._load_balancer("istio-ingressgateway", ISTIO_NAMESPACE, selector, ports, installed)

    def _nvidia_device_plugin(self) -> k8s.helm.v3.Release:
        # The chart's default affinity admits a node with NFD's NVIDIA PCI label, the Tegra CPU vendor label or
        # `nvidia.com/gpu.present=true`; without NFD only the last exists, so GPU pools carry it and the
        # DaemonSet selects it. The toleration matches the taint our GPU pools carry.
        values: dict = {
            "nodeSelector": {NVIDIA_GPU_PRESENT_LABEL[0]: NVIDIA_GPU_PRESENT_LABEL[1]},
            "tolerations": [{"key": GPU_TAINT[0], "operator": "Exists", "effect": GPU_TAINT[2]}],
        }
        values |= images.mirror_values(images.NVIDIA_DEVICE_PLUGIN, self._registry)
        if self._args.mig:
            # `mixed`: each MIG instance as `nvidia.com/mig-<profile>`, a GPU without MIG mode as `nvidia.com/gpu`, so
            # one plugin serves MIG and whole-GPU pools alike (README v0.20.0, MIG_STRATEGY). With a strategy other
            # than none the chart adds CAP_SYS_ADMIN and NVIDIA_MIG_MONITOR_DEVICES to the plugin (_helpers.tpl
            # `requiresCapSysAdmin`, `addMigMonitorDevices`), which watching MIG devices needs.
            values["migStrategy"] = "mixed"
        if self._args.time_slicing_replicas:
            replicas = self._args.time_slicing_replicas
            values["config"] = {
                "map": {
                    "default": (
                        "version: v1\nsharing:\n  timeSlicing:\n    resources:\n"
                        f"      - name: nvidia.com/gpu\n        replicas: {replicas}\n"
                    )
                },
                "default": "default",
            }
        return self._release(
            "nvidia-device-plugin",
            pins.NVIDIA_DEVICE_PLUGIN.chart,
            self._args.operators.nvidia_device_plugin_version,
            "kube-system",
            pins.NVIDIA_DEVICE_PLUGIN.repo,
            values,
        )
