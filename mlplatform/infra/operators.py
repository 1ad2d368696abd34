"""The operators ML workloads need, installed at pinned versions into their own namespaces.

- Seldon Core v1 (default 1.17.1, its last Apache-2.0 release) from its Helm chart, with an ingress it
  supports on Kubernetes >= 1.22: Emissary-ingress 3 (Seldon writes `getambassador.io/v2` Mappings,
  so the chart runs with `ambassador.version: v2`) or Istio (a Gateway Seldon's VirtualServices bind to).
- The Kubeflow training-operator v1.9.x: it publishes no Helm chart, so its own kustomize overlay is
  applied from the release tag (`manifests/overlays/standalone?ref=v1.9.x`), the install its README gives.
- Kubeflow's notebook controller, from its standalone overlay at the release tag, for Notebook resources
  (without Kubeflow's gateway: notebooks keep Jupyter's own authentication, see mlplatform/notebook.py).
- On EKS, the NVIDIA device plugin, with time-slicing when a pool shares GPUs. ACK installs its
  GPU device plugin itself, and cGPU comes with the `ack-ai-installer` cluster add-on.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s

from mlplatform import config as cfg
from mlplatform.conventions import GPU_NODE_LABEL, GPU_TAINT

SELDON_REPO = "https://storage.googleapis.com/seldon-charts"
EMISSARY_REPO = "https://app.getambassador.io"
ISTIO_REPO = "https://istio-release.storage.googleapis.com/charts"
ISTIO_VERSION = "1.23.4"
NVIDIA_REPO = "https://nvidia.github.io/k8s-device-plugin"
NOTEBOOK_CONTROLLER_OVERLAY = (
    "https://github.com/kubeflow/notebooks//components/notebook-controller/config/overlays/standalone?ref={version}"
)
TRAINING_OPERATOR_OVERLAY = "https://github.com/kubeflow/trainer//manifests/overlays/standalone?ref={version}"
EMISSARY_CRDS = "https://app.getambassador.io/yaml/emissary/{app_version}/emissary-crds.yaml"

SELDON_NAMESPACE = "seldon-system"
EMISSARY_NAMESPACE = "emissary"
ISTIO_NAMESPACE = "istio-system"


@dataclass(frozen=True)
class OperatorsArgs:
    cloud: str
    operators: cfg.Operators
    # NVIDIA time-slicing replicas per GPU on EKS; None when no pool shares GPUs that way.
    time_slicing_replicas: int | None = None
    install_gpu_plugin: bool = False
    # Annotations that keep the ingress load balancer private (the cloud's "internal" switch).
    internal_lb_annotations: dict[str, str] | None = None


def ingress_service_url(seldon: cfg.Seldon) -> str:
    """In-cluster address of the ingress that fronts Seldon's model endpoints."""
    if seldon.ingress == "ambassador":
        return f"http://emissary-ingress.{EMISSARY_NAMESPACE}.svc.cluster.local"
    return f"http://istio-ingressgateway.{ISTIO_NAMESPACE}.svc.cluster.local"


class Operators(pulumi.ComponentResource):
    """Output `ready`: every install, for workloads to depend on; `ingress_url`: where models answer."""

    def __init__(self, name: str, args: OperatorsArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("mlplatform:operators:Operators", name, None, opts)
        self._name = name
        self._args = args
        seldon = args.operators.seldon
        ingress = self._emissary(seldon) if seldon.ingress == "ambassador" else self._istio(seldon)
        seldon_namespace = self._namespace(SELDON_NAMESPACE)
        self.seldon = self._release(
            "seldon-core",
            "seldon-core-operator",
            seldon.version,
            seldon_namespace.metadata.name,
            SELDON_REPO,
            self._seldon_values(seldon),
            depends_on=ingress,
        )
        self.training_operator = k8s.kustomize.v2.Directory(
            f"{name}-training-operator",
            directory=TRAINING_OPERATOR_OVERLAY.format(version=args.operators.training_operator.version),
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.notebook_controller = k8s.kustomize.v2.Directory(
            f"{name}-notebook-controller",
            directory=NOTEBOOK_CONTROLLER_OVERLAY.format(version=args.operators.notebook_controller_version),
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.ready: list[pulumi.Resource] = [self.seldon, self.training_operator, self.notebook_controller, *ingress]
        if args.install_gpu_plugin:
            self.ready.append(self._nvidia_device_plugin())
        self.ingress_url = ingress_service_url(seldon)
        self.register_outputs({"ingress_url": self.ingress_url})

    def _namespace(self, namespace: str) -> k8s.core.v1.Namespace:
        return k8s.core.v1.Namespace(
            f"{self._name}-{namespace}",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=namespace),
            opts=pulumi.ResourceOptions(parent=self),
        )

    def _release(
        self,
        release: str,
        chart: str,
        version: str,
        namespace: pulumi.Input[str],
        repo: str,
        values: dict,
        depends_on: list[pulumi.Resource] | None = None,
        resource_name: str | None = None,
    ) -> k8s.helm.v3.Release:
        """A pinned chart from its repository, rolled back whole if it does not become ready (atomic)."""
        return k8s.helm.v3.Release(
            resource_name or f"{self._name}-{release}",
            name=release,
            chart=chart,
            version=version,
            namespace=namespace,
            repository_opts=k8s.helm.v3.RepositoryOptsArgs(repo=repo),
            values=values,
            atomic=True,
            opts=pulumi.ResourceOptions(parent=self, depends_on=depends_on),
        )

    @staticmethod
    def _seldon_values(seldon: cfg.Seldon) -> dict:
        values: dict = {
            "usageMetrics": {"enabled": False},
            "crd": {"create": True},
            "ambassador": {"enabled": seldon.ingress == "ambassador", "version": "v2", "singleNamespace": False},
            "istio": {"enabled": seldon.ingress == "istio"},
        }
        if seldon.ingress == "istio":
            values["istio"]["gateway"] = seldon.istio_gateway
        return values

    def _service_values(self) -> dict:
        return {"type": "LoadBalancer", "annotations": dict(self._args.internal_lb_annotations or {})}

    def _emissary(self, seldon: cfg.Seldon) -> list[pulumi.Resource]:
        # Emissary 3 keeps its CRDs (and their conversion webhook) out of the chart.
        crds = k8s.yaml.v2.ConfigFile(
            f"{self._name}-emissary-crds",
            file=EMISSARY_CRDS.format(app_version=seldon.emissary_version),
            opts=pulumi.ResourceOptions(parent=self),
        )
        namespace = self._namespace(EMISSARY_NAMESPACE)
        release = self._release(
            "emissary-ingress",
            "emissary-ingress",
            seldon.emissary_chart_version,
            namespace.metadata.name,
            EMISSARY_REPO,
            {"createDefaultListeners": True, "service": self._service_values()},
            depends_on=[crds],
        )
        return [crds, release]

    def _istio(self, seldon: cfg.Seldon) -> list[pulumi.Resource]:
        namespace = self._namespace(ISTIO_NAMESPACE)
        installed: list[pulumi.Resource] = []
        for chart, values in (
            ("base", {}),
            ("istiod", {}),
            ("gateway", {"service": self._service_values(), "labels": {"istio": "ingressgateway"}}),
        ):
            release_name = "istio-ingressgateway" if chart == "gateway" else f"istio-{chart}"
            installed.append(
                self._release(
                    release_name,
                    chart,
                    ISTIO_VERSION,
                    namespace.metadata.name,
                    ISTIO_REPO,
                    values,
                    depends_on=list(installed),
                    resource_name=f"{self._name}-istio-{chart}",
                )
            )
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
        return installed

    def _nvidia_device_plugin(self) -> k8s.helm.v3.Release:
        values: dict = {
            "nodeSelector": {GPU_NODE_LABEL[0]: GPU_NODE_LABEL[1]},
            "tolerations": [{"key": GPU_TAINT[0], "operator": "Exists", "effect": GPU_TAINT[2]}],
        }
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
            "nvidia-device-plugin",
            self._args.operators.nvidia_device_plugin_version,
            "kube-system",
            NVIDIA_REPO,
            values,
        )
