"""KEDA 2.20.2: scales Deployments on external metrics, down to zero replicas (which an HPA cannot); and the
Prometheus its triggers query.

Chart `keda` from https://kedacore.github.io/charts, version `2.20.2` (= appVersion; kedacore/charts
`keda/Chart.yaml`), with its CRDs (`crds.install: true`, the default), annotated `helm.sh/resource-policy: keep`
(`crds.additionalAnnotations`, which every template under `keda/templates/crds/` merges into its annotations at
the tag v2.20.2), so uninstalling KEDA leaves them. The LLM servings that scale to zero
render a `ScaledObject` (keda.sh/v1alpha1, CRD v2.20.2) against their predictor Deployment, with a `prometheus`
trigger on the request rate the KServe Gateway reports (`mlplatform/workloads/llm.py`).

That Prometheus is installed here, beside KEDA, so the trigger's address names a Service the plan creates:
the prometheus-community chart `prometheus` 29.27.0 (`pins.KEDA_PROMETHEUS`; Prometheus v3.14.0), release
`keda-prometheus` in `monitoring`. Values, from `charts/prometheus/values.yaml` and `templates/` at the tag
`prometheus-29.27.0`:
- server only: `alertmanager`, `kube-state-metrics`, `prometheus-node-exporter`, `prometheus-pushgateway`
  `enabled: false` (the `condition`s of Chart.yaml's dependencies);
- every default scrape job off (`scrapeConfigs.<job>.enabled: false`; `templates/cm.yaml` renders only enabled
  jobs, the key being the job name) and one job, `kserve-gateway` (`gateway_scrape_job`): the pods of the
  Gateway's namespace (`kubernetes_sd_configs` role `pod`, one target per declared container port), keeping
  those istiod labels `gateway.networking.k8s.io/gateway-name: <gateway>` and their port 15020, path
  `/stats/prometheus`. istiod's Gateway deployment template labels the pods so and annotates them
  `prometheus.io/port: "15020"`, `prometheus.io/path: /stats/prometheus` (container port 15020 `metrics`;
  istio/istio release-1.31 `manifests/charts/istio-control/istio-discovery/files/kube-gateway.yaml`); there
  the istio-agent serves Envoy's `istio_*` metrics merged with its own (`pilot/cmd/pilot-agent/status/server.go`,
  `/stats/prometheus`). Prometheus turns the label into `__meta_kubernetes_pod_label_<name>` with every
  character outside `[a-zA-Z0-9_]` replaced by `_` (prometheus.io/docs/prometheus/latest/configuration/
  configuration/#kubernetes_sd_config, role pod);
- `server.global.scrape_interval: 15s`: the trigger's `rate(...[1m])` needs two samples in its minute;
  `server.retention: 2h` on an emptyDir (`server.persistentVolume.enabled: false`): the trigger reads
  the last minute only, nothing here is kept for dashboards (those are the cloud's Prometheus);
- the pods run as the chart's non-root user (`server.securityContext`: runAsUser/runAsGroup/fsGroup 65534,
  `runAsNonRoot: true`), hardened to the Pod Security Standards' `restricted` profile like the platform's
  workloads (`seccompProfile: RuntimeDefault`; per container `allowPrivilegeEscalation: false`, `capabilities.drop:
  [ALL]`, and a read-only root filesystem: Prometheus writes only to its `/data` volume, the config reloader
  nothing) for the server and the config reloader (`configmapReload.prometheus.containerSecurityContext`);
- the Service `prometheus.server.fullname` (`templates/_helpers.tpl`: `<release>-server` when the release name
  contains the chart's, else `<release>-prometheus-server`), port `server.service.servicePort` (80, to the
  container's 9090; `templates/service.yaml`). With the subcharts off and no StatefulSet it is the chart's only
  Service (`chart_services`). Service discovery reads pods through the chart's ClusterRole (`rbac.create`).

With `operators.imageRegistry`, KEDA's three images (`global.image.registry`) and the server's and config
reloader's (`server.image.repository`, `configmapReload.prometheus.image.repository`) come through the mirror
(`mlplatform/images.py` KEDA, KEDA_PROMETHEUS).
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi

from mlplatform import images, pins
from mlplatform.infra import helm
from mlplatform.infra.kserve import GATEWAY_NAME, KSERVE_NAMESPACE

KEDA_VERSION = pins.KEDA.version
KEDA_REPO = pins.KEDA.repo
KEDA_NAMESPACE = "keda"

PROMETHEUS = pins.KEDA_PROMETHEUS
PROMETHEUS_NAMESPACE = "monitoring"
PROMETHEUS_RELEASE = "keda-prometheus"
PROMETHEUS_PORT = 80
# The server container's port behind the Service's 80 (the chart's `templates/service.yaml` targetPort 9090).
PROMETHEUS_CONTAINER_PORT = 9090
# istiod labels the pods of a Gateway's proxy with the Gateway's name (kube-gateway.yaml, release-1.31).
GATEWAY_NAME_LABEL = "gateway.networking.k8s.io/gateway-name"
# The istio-agent's merged metrics (Envoy's istio_* and its own), as kube-gateway.yaml annotates the pods.
ISTIO_METRICS_PORT = 15020
ISTIO_METRICS_PATH = "/stats/prometheus"
SCRAPE_INTERVAL = "15s"
RETENTION = "2h"
# The chart's default scrape jobs (values.yaml `scrapeConfigs`), all turned off.
DEFAULT_SCRAPE_JOBS = (
    "prometheus",
    "kubernetes-api-servers",
    "kubernetes-nodes",
    "kubernetes-nodes-cadvisor",
    "kubernetes-service-endpoints",
    "kubernetes-service-endpoints-slow",
    "prometheus-pushgateway",
    "kubernetes-services",
    "kubernetes-pods",
    "kubernetes-pods-slow",
)
SUBCHARTS = ("alertmanager", "kube-state-metrics", "prometheus-node-exporter", "prometheus-pushgateway")
RESTRICTED_CONTAINER = {
    "allowPrivilegeEscalation": False,
    "capabilities": {"drop": ["ALL"]},
    "readOnlyRootFilesystem": True,
}


def meta_label(label: str) -> str:
    """The discovery label Prometheus gives a pod label (unsupported characters become `_`)."""
    return "__meta_kubernetes_pod_label_" + "".join(c if c.isalnum() or c == "_" else "_" for c in label)


def server_service(release: str) -> str:
    """The Service the chart gives the server of `release` (`prometheus.server.fullname`)."""
    chart = PROMETHEUS.chart
    return f"{release}-server" if chart in release else f"{release}-{chart}-server"


def chart_services(release: str) -> tuple[str, ...]:
    """Every Service the chart creates for `release` with `prometheus_values`: the server's only."""
    return (server_service(release),)


def prometheus_address(release: str = PROMETHEUS_RELEASE, namespace: str = PROMETHEUS_NAMESPACE) -> str:
    """The HTTP API of the release's server, in-cluster (what a KEDA prometheus trigger's serverAddress takes)."""
    return f"http://{server_service(release)}.{namespace}.svc.cluster.local:{PROMETHEUS_PORT}"


def gateway_scrape_job(namespace: str, gateway: str) -> dict:
    """Scrape the proxy pods istiod runs for `gateway` in `namespace`, on the istio-agent's merged metrics."""
    return {
        "kubernetes_sd_configs": [{"role": "pod", "namespaces": {"names": [namespace]}}],
        "metrics_path": ISTIO_METRICS_PATH,
        "relabel_configs": [
            {"source_labels": [meta_label(GATEWAY_NAME_LABEL)], "regex": gateway, "action": "keep"},
            {
                "source_labels": ["__meta_kubernetes_pod_container_port_number"],
                "regex": str(ISTIO_METRICS_PORT),
                "action": "keep",
            },
        ],
    }


def prometheus_values(namespace: str, gateway: str) -> dict:
    """The chart's values: server only, scraping nothing but the Gateway's proxy (see the module docstring)."""
    return {
        **{chart: {"enabled": False} for chart in SUBCHARTS},
        "scrapeConfigs": {
            **{job: {"enabled": False} for job in DEFAULT_SCRAPE_JOBS},
            "kserve-gateway": gateway_scrape_job(namespace, gateway),
        },
        "server": {
            "global": {"scrape_interval": SCRAPE_INTERVAL},
            "retention": RETENTION,
            "persistentVolume": {"enabled": False},
            "service": {"servicePort": PROMETHEUS_PORT},
            "securityContext": {
                "runAsUser": 65534,
                "runAsGroup": 65534,
                "fsGroup": 65534,
                "runAsNonRoot": True,
                "seccompProfile": {"type": "RuntimeDefault"},
            },
            "containerSecurityContext": RESTRICTED_CONTAINER,
        },
        "configmapReload": {"prometheus": {"containerSecurityContext": RESTRICTED_CONTAINER}},
    }


@dataclass(frozen=True)
class KedaArgs:
    version: str = KEDA_VERSION
    # The Gateway whose request counts the triggers read (KServe's, rendered by mlplatform/infra/kserve.py).
    gateway_namespace: str = KSERVE_NAMESPACE
    gateway: str = GATEWAY_NAME
    # The registry every image is pulled through (`operators.imageRegistry`); None: the charts' own.
    image_registry: str | None = None


class Keda(pulumi.ComponentResource):
    """Outputs `ready` (KEDA and its Prometheus, for ScaledObjects to depend on) and `prometheus_address` (the
    Prometheus HTTP API the triggers query, in-cluster)."""

    def __init__(self, name: str, args: KedaArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("mlplatform:keda:Keda", name, None, opts)
        namespace = helm.namespace(f"{name}-{KEDA_NAMESPACE}-ns", KEDA_NAMESPACE, self)
        self.release = helm.pinned_release(
            f"{name}-keda",
            "keda",
            "keda",
            args.version,
            namespace.metadata.name,
            # The CRDs outlive the release: removing the last scale-to-zero serving leaves every ScaledObject.
            {
                "crds": {"install": True, "additionalAnnotations": dict(helm.HELM_KEEP)},
                **images.mirror_values(images.KEDA, args.image_registry),
            },
            self,
            KEDA_REPO,
        )
        monitoring = helm.namespace(f"{name}-{PROMETHEUS_NAMESPACE}-ns", PROMETHEUS_NAMESPACE, self)
        self.prometheus = helm.pinned_release(
            f"{name}-prometheus",
            PROMETHEUS_RELEASE,
            PROMETHEUS.chart,
            PROMETHEUS.version,
            monitoring.metadata.name,
            images.merged(
                prometheus_values(args.gateway_namespace, args.gateway),
                images.mirror_values(images.KEDA_PROMETHEUS, args.image_registry),
            ),
            self,
            PROMETHEUS.repo,
        )
        self.prometheus_address = prometheus_address(PROMETHEUS_RELEASE, PROMETHEUS_NAMESPACE)
        self.ready: list[pulumi.Resource] = [self.release, self.prometheus]
        self.register_outputs({"version": args.version, "prometheusAddress": self.prometheus_address})
