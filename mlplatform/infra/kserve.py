"""KServe 0.20 in Standard mode (plain Deployments, no Knative), with what it needs, in dependency order.

The order is the one of KServe's own Standard-mode Helm install
(`hack/setup/quick-install/kserve-standard-mode-full-install-helm.sh` at v0.20.0): cert-manager first (it
issues the certificates of KServe's admission webhooks), then the CRD chart, then the controller chart, then
the ClusterServingRuntimes chart. Every chart is a pinned, atomic Helm release (`--wait`: the provider waits
until its resources are ready and rolls the release back when they are not).

Versions and sources are the pins of `mlplatform/pins.py`.

- cert-manager `v1.21.1` from https://charts.jetstack.io with `crds.enabled: true` (its chart installs no
  CRDs by default; `deploy/charts/cert-manager/values.yaml`) and `crds.keep: true` (its default: the CRDs are
  annotated `helm.sh/resource-policy: keep` and outlive the release).
- Gateway API `v1.6.1` standard-channel CRDs (GatewayClass, Gateway, HTTPRoute; the schemas the platform's
  objects are validated against) from the release's `standard-install.yaml`, where the cluster does not manage
  them itself: ACK creates them in every cluster of 1.24 and later through its Gateway API component (Alibaba
  Cloud, "Use Gateway API to define routing rules": "CRDs of the Gateway API component are automatically created
  in ACK clusters whose versions are 1.24 and later"), so applying them again would give them two owners.
- Istio (`base`, `istiod`, `mlplatform/infra/istio.py`, installed before this component: `depends_on`) as the
  Gateway API implementation: istiod serves the `istio` GatewayClass (the chart's default
  `ingressGateway.className`) and deploys a proxy for each Gateway of that class (Deployment and Service
  `<gateway>-istio`, `manifests/charts/istio-control/istio-discovery/files/kube-gateway.yaml` at 1.31).
  That Service is ClusterIP (what `ingress_url` names): the Gateway's `spec.infrastructure.parametersRef` names a
  ConfigMap whose `service` key istiod merges into the Service it renders (`pilot/pkg/config/kube/gatewaycommon/
  deploymentcontroller.go`, `applyOverlay`, release-1.31). This component owns the LoadBalancer Service in front
  of the proxy pods (istiod labels them `gateway.networking.k8s.io/gateway-name: <gateway>`), with the cloud's
  internal annotations; `ingress_host` is its address, an output pulumi-kubernetes waits for
  (`provider/pkg/await/service.go`), never a read of istiod's Service.
- `kserve-crd` then `kserve-resources` from `oci://ghcr.io/kserve/charts`, version `v0.20.0` (the controller
  chart is `kserve-resources`; `charts/kserve-resources/README.md`), with
  `kserve.controller.gateway.disableIngressCreation: true` (the platform owns each serving's HTTPRoute; the
  chart's default `false` makes the controller create one of the same name) and
  `kserve.controller.deploymentMode: Standard` (`RawDeployment` is its deprecated alias,
  `pkg/constants/constants.go`) and `kserve.controller.gateway.ingressGateway.{enableGatewayApi: true,
  kserveGateway: kserve/kserve-ingress-gateway, className: istio}`; the chart's own Gateway stays off
  (`createGateway: false`): this component renders it, with the cloud's internal load balancer annotations.
- `kserve-runtime-configs` with `kserve.servingruntime.enabled: true`: the ClusterServingRuntimes
  (TensorFlow Serving, sklearn, xgboost, MLServer, Triton, Hugging Face) the servings auto-select by model format.
- With `local_model_cache`: `kserve-localmodel-crd` and `kserve-localmodel-resources`, and
  `kserve.localmodel.enabled: true` on the controller (the quick-install's ENABLE_LOCALMODEL path).
- With `operators.imageRegistry`, every image these charts render comes through the mirror: cert-manager's
  five (controller, webhook, cainjector, the ACME solver it starts, the startupapicheck hook: `imageRegistry`), the
  controller's, its kube-rbac-proxy, agent, router and storage initializer, and each ClusterServingRuntime's
  (`mlplatform/images.py` CERT_MANAGER, KSERVE_*; the Gateway API CRDs run no image).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import pulumi
import pulumi_kubernetes as k8s

from mlplatform import images, pins
from mlplatform.infra import helm
from mlplatform.workloads.addresses import load_balancer_address, load_balancer_service

KSERVE_VERSION = pins.KSERVE.version
KSERVE_CHARTS = pins.KSERVE.chart
CERT_MANAGER_VERSION = pins.CERT_MANAGER.version
CERT_MANAGER_REPO = pins.CERT_MANAGER.repo
GATEWAY_API_VERSION = pins.GATEWAY_API.version
GATEWAY_API_CRDS = pins.GATEWAY_API.chart

KSERVE_NAMESPACE = "kserve"
CERT_MANAGER_NAMESPACE = "cert-manager"
GATEWAY_NAME = "kserve-ingress-gateway"
GATEWAY_CLASS = "istio"
# istiod names the proxy it deploys for a Gateway `<gateway name>-<gateway class name>`.
GATEWAY_SERVICE = f"{GATEWAY_NAME}-{GATEWAY_CLASS}"
# The ConfigMap of istiod overlays for the Gateway's proxy (`spec.infrastructure.parametersRef`).
GATEWAY_OPTIONS = f"{GATEWAY_NAME}-options"
# The label istiod puts on the proxy pods of a Gateway (kube-gateway.yaml, `gateway.networking.k8s.io/gateway-name`).
GATEWAY_POD_LABEL = "gateway.networking.k8s.io/gateway-name"


def ingress_url() -> str:
    """In-cluster address of the Gateway that fronts the KServe servings."""
    return f"http://{GATEWAY_SERVICE}.{KSERVE_NAMESPACE}.svc.cluster.local"


@dataclass(frozen=True)
class KServeArgs:
    # Apply the Gateway API CRDs; False where the cluster manages them (ACK's Gateway API component).
    install_gateway_api: bool = True
    # Annotations that keep the Gateway's load balancer private (the cloud's "internal" switch).
    internal_lb_annotations: dict[str, str] = field(default_factory=dict)
    # Install the LocalModelCache controller (node-local copies of model weights).
    local_model_cache: bool = False
    # What must be installed first: Istio's control plane (mlplatform/infra/istio.py).
    depends_on: Sequence[pulumi.Resource] = ()
    # The registry every image is pulled through (`operators.imageRegistry`); None: the charts' own.
    image_registry: str | None = None


class KServe(pulumi.ComponentResource):
    """Outputs `ready` (every install, for servings to depend on), `ingress_url` (the Gateway, in-cluster) and
    `ingress_host` (the address of its load balancer)."""

    def __init__(self, name: str, args: KServeArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("mlplatform:kserve:KServe", name, None, opts)
        self._name = name
        self._registry = args.image_registry
        after: list[pulumi.Resource] = list(args.depends_on)
        cert_manager = self._release(
            "cert-manager",
            "cert-manager",
            CERT_MANAGER_VERSION,
            self._namespace(CERT_MANAGER_NAMESPACE).metadata.name,
            # `crds.keep` (the chart's default, stated): its CRDs stay when the release goes (values.yaml).
            {"crds": {"enabled": True, "keep": True}} | self._mirror(images.CERT_MANAGER),
            repo=CERT_MANAGER_REPO,
            depends_on=after,
        )
        gateway_api = (
            [
                k8s.yaml.v2.ConfigFile(
                    f"{name}-gateway-api-crds",
                    file=GATEWAY_API_CRDS.format(version=GATEWAY_API_VERSION),
                    opts=pulumi.ResourceOptions(parent=self, depends_on=after, transforms=[retain_crds]),
                )
            ]
            if args.install_gateway_api
            else []
        )
        namespace = self._namespace(KSERVE_NAMESPACE)
        # The CRD charts have no values (charts/kserve-crd, kserve-localmodel-crd at v0.20.0), so nothing can
        # annotate their CRDs `keep`: the releases are retained when the last KServe serving goes.
        crds = self._release(
            "kserve-crd",
            f"{KSERVE_CHARTS}/kserve-crd",
            KSERVE_VERSION,
            namespace.metadata.name,
            {},
            [cert_manager],
            retain_on_delete=True,
        )
        installed: list[pulumi.Resource] = [cert_manager, *gateway_api, crds]
        if args.local_model_cache:
            installed.append(
                self._release(
                    "kserve-localmodel-crd",
                    f"{KSERVE_CHARTS}/kserve-localmodel-crd",
                    KSERVE_VERSION,
                    namespace.metadata.name,
                    {},
                    [cert_manager],
                    retain_on_delete=True,
                )
            )
        controller = self._release(
            "kserve-resources",
            f"{KSERVE_CHARTS}/kserve-resources",
            KSERVE_VERSION,
            namespace.metadata.name,
            images.merged(self.controller_values(args.local_model_cache), self._mirror(images.KSERVE_RESOURCES)),
            [*installed, *after],
        )
        runtimes = self._release(
            "kserve-runtime-configs",
            f"{KSERVE_CHARTS}/kserve-runtime-configs",
            KSERVE_VERSION,
            namespace.metadata.name,
            images.merged(
                {"kserve": {"servingruntime": {"enabled": True}}}, self._mirror(images.KSERVE_RUNTIME_CONFIGS)
            ),
            [controller],
        )
        installed += [controller, runtimes]
        if args.local_model_cache:
            installed.append(
                self._release(
                    "kserve-localmodel-resources",
                    f"{KSERVE_CHARTS}/kserve-localmodel-resources",
                    KSERVE_VERSION,
                    namespace.metadata.name,
                    self._mirror(images.KSERVE_LOCALMODEL_RESOURCES),
                    [controller],
                )
            )
        options = k8s.core.v1.ConfigMap(
            f"{name}-gateway-options",
            metadata={"name": GATEWAY_OPTIONS, "namespace": namespace.metadata.name},
            data={"service": "spec:\n  type: ClusterIP\n"},
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.gateway = k8s.apiextensions.CustomResource(
            f"{name}-gateway",
            api_version="gateway.networking.k8s.io/v1",
            kind="Gateway",
            metadata={"name": GATEWAY_NAME, "namespace": namespace.metadata.name},
            spec=gateway_spec(args.internal_lb_annotations),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[*gateway_api, options, *after]),
        )
        load_balancer = load_balancer_service(
            f"{name}-gateway-lb",
            f"{GATEWAY_NAME}-lb",
            namespace.metadata.name,
            {GATEWAY_POD_LABEL: GATEWAY_NAME},
            [{"name": "http", "port": 80, "targetPort": 80, "protocol": "TCP"}],
            dict(args.internal_lb_annotations),
            self,
            [self.gateway],
        )
        self.ready: list[pulumi.Resource] = [*installed, options, self.gateway, load_balancer]
        self.ingress_url = ingress_url()
        self.ingress_host = load_balancer.status.apply(load_balancer_address)
        self.register_outputs(
            {"ingressUrl": self.ingress_url, "ingressHost": self.ingress_host, "version": KSERVE_VERSION}
        )

    @staticmethod
    def controller_values(local_model_cache: bool = False) -> dict:
        """The kserve-resources values: Standard mode behind the Gateway this component renders."""
        values: dict = {
            "kserve": {
                "controller": {
                    "deploymentMode": "Standard",
                    "gateway": {
                        # The HTTPRoutes are ours (mlplatform/workloads/kserve.py: weighted canaries, shadows, path
                        # prefixes). With creation on, the controller creates and updates an HTTPRoute named after
                        # each InferenceService (`reconcilers/ingress/httproute_reconciler.go` Reconcile, v0.20.0),
                        # and the two owners overwrite each other: off, it only reports IngressReady and the URL.
                        "disableIngressCreation": True,
                        "ingressGateway": {
                            "enableGatewayApi": True,
                            "kserveGateway": f"{KSERVE_NAMESPACE}/{GATEWAY_NAME}",
                            "createGateway": False,
                            "className": GATEWAY_CLASS,
                        },
                    },
                }
            }
        }
        if local_model_cache:
            values["kserve"]["localmodel"] = {"enabled": True}
        return values

    def _namespace(self, name: str) -> k8s.core.v1.Namespace:
        return helm.namespace(f"{self._name}-{name}-ns", name, self)

    def _mirror(self, chart: images.Chart) -> dict:
        return images.mirror_values(chart, self._registry)

    def _release(self, release, chart, version, namespace_name, values, depends_on=(), repo=None, **options):
        return helm.pinned_release(
            f"{self._name}-{release}",
            release,
            chart,
            version,
            namespace_name,
            values,
            self,
            repo,
            depends_on,
            **options,
        )


CRD_TYPE = "kubernetes:apiextensions.k8s.io/v1:CustomResourceDefinition"


def retain_crds(args: pulumi.ResourceTransformArgs) -> pulumi.ResourceTransformResult | None:
    """Keep the Gateway API CRDs when KServe leaves the stack: other users of the cluster may hold Gateways and
    routes. A transform, because the ConfigFile's objects are registered by the provider, which passes them only
    its parent (pulumi-kubernetes `provider/pkg/gen/.../yaml/v2` ConfigFile; Pulumi "transforms" apply to the
    children of remote components too)."""
    if args.type_ != CRD_TYPE:
        return None
    return pulumi.ResourceTransformResult(
        args.props, pulumi.ResourceOptions.merge(args.opts, pulumi.ResourceOptions(retain_on_delete=True))
    )


def gateway_spec(lb_annotations: dict[str, str]) -> dict:
    """One HTTP listener for routes from every namespace; istiod's overlays (a ClusterIP Service) from the
    ConfigMap `parametersRef` names (Gateway API v1 `GatewayInfrastructure.parametersRef`: group "" and kind
    ConfigMap are the only ones istiod accepts, `fetchParameters`). The LB annotations stay on what istiod
    deploys (`spec.infrastructure.annotations`): should the overlay ever not apply, its Service is still internal."""
    infrastructure: dict = {"parametersRef": {"group": "", "kind": "ConfigMap", "name": GATEWAY_OPTIONS}}
    if lb_annotations:
        infrastructure["annotations"] = dict(lb_annotations)
    return {
        "gatewayClassName": GATEWAY_CLASS,
        "listeners": [
            {"name": "http", "port": 80, "protocol": "HTTP", "allowedRoutes": {"namespaces": {"from": "All"}}}
        ],
        "infrastructure": infrastructure,
    }
