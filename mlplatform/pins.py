"""One table of the operator versions the platform installs: what, which version, from where, until when.

Standard library only and importing nothing of ours, like `catalog.py`: config defaults
(`mlplatform/config/infra.py`) and the components (`mlplatform/infra/operators.py`) both read it, so a
version lives in exactly one place. Each pin names the page or file its version (and its chart values)
were read from; `end_of_support` is set only where the project publishes a date, `support` says the rest.
"""

from __future__ import annotations

import datetime
from typing import NamedTuple


class Pin(NamedTuple):
    name: str
    version: str
    # Helm: the chart name in `repo`, or a full `oci://` reference (then `repo` is None).
    # Images: the image repository. Kustomize: the overlay URL template.
    chart: str
    repo: str | None
    source: str
    end_of_support: datetime.date | None = None
    support: str = ""


SELDON = Pin(
    "seldon-core-operator",
    "1.17.1",
    "seldon-core-operator",
    "https://storage.googleapis.com/seldon-charts",
    "https://github.com/SeldonIO/seldon-core/tree/v1.17.1/helm-charts/seldon-core-operator",
    support="Seldon Core v1's last Apache-2.0 release; no end-of-support date published.",
)
# Emissary 4.x: two charts on GHCR only, chart version == Emissary version (CHANGELOG 4.0.1, "BREAKING
# CHANGE: ... Helm charts are now available only from the GitHub Container Registry").
EMISSARY_CRDS = Pin(
    "emissary-crds-chart",
    "4.1.0",
    "oci://ghcr.io/emissary-ingress/emissary-crds-chart",
    None,
    "https://github.com/emissary-ingress/emissary/blob/v4.1.0/charts/emissary-crds/values.yaml",
    support="Current 4.x line (4.1.0, 1 May 2026); the 3.x line (chart 8.x) is abandoned.",
)
EMISSARY = Pin(
    "emissary-ingress",
    "4.1.0",
    "oci://ghcr.io/emissary-ingress/emissary-ingress",
    None,
    "https://github.com/emissary-ingress/emissary/blob/v4.1.0/CHANGELOG.md",
    support=EMISSARY_CRDS.support,
)
# Istio 1.31: from 1.31 on, charts are no longer published to istio-release.storage.googleapis.com
# (1.31 upgrade notes, "Deprecation of GCP infrastructure and hosting"); the Helm repository is
# blob.istio.io, as the Helm install guide's `helm repo add istio` gives it. Chart version == Istio version.
ISTIO = Pin(
    "istio",
    "1.31.1",
    "base",  # and istiod, gateway: one version for the three charts
    "https://blob.istio.io/istio-release/charts",
    "https://istio.io/latest/news/releases/1.31.x/announcing-1.31.1/",
    support="1.31 released 31 Aug 2026, end of life ~Feb 2027 (expected), Kubernetes 1.32-1.36 "
    "(https://istio.io/latest/docs/releases/supported-releases/).",
)
NVIDIA_DEVICE_PLUGIN = Pin(
    "nvidia-device-plugin",
    "0.20.0",
    "nvidia-device-plugin",
    "https://nvidia.github.io/k8s-device-plugin",
    "https://github.com/NVIDIA/k8s-device-plugin/blob/v0.20.0/deployments/helm/nvidia-device-plugin/values.yaml",
    support="Newest release (v0.20.0); NVIDIA publishes no end-of-support dates.",
)
# NVIDIA's DCGM exporter: GPU metrics (DCGM_FI_DEV_GPU_UTIL, DCGM_FI_DEV_FB_USED, ...) from every GPU node, with the pod,
# namespace and container of the GPU's user (kubelet pod-resources). Chart version == exporter version (Chart.yaml
# `version: "4.8.2"`, `appVersion: "4.8.2"`; image tag `4.5.3-4.8.2-distroless`: DCGM 4.5.3, exporter 4.8.2).
DCGM_EXPORTER = Pin(
    "dcgm-exporter",
    "4.8.2",
    "dcgm-exporter",
    "https://nvidia.github.io/dcgm-exporter/helm-charts",
    "https://github.com/NVIDIA/dcgm-exporter/blob/4.5.3-4.8.2/deployment/values.yaml",
    support="Newest release (tag 4.5.3-4.8.2, 6 May 2026); NVIDIA publishes no end-of-support dates.",
)
# Seldon's prepackaged TENSORFLOW_SERVER runs this image (chart default: tensorflow/serving 2.1.0, a CPU
# build from 2020). GPU builds carry the `-gpu` suffix (tensorflow/serving g3doc/docker.md, `latest-gpu`).
TENSORFLOW_SERVING = Pin(
    "tensorflow-serving",
    "2.20.0",
    "tensorflow/serving",
    None,
    "https://github.com/tensorflow/serving/releases/tag/2.20.0",
)
TENSORFLOW_SERVING_GPU_TAG = f"{TENSORFLOW_SERVING.version}-gpu"

# KServe 0.20 (Standard mode): CRD, controller and runtime charts share one version, with the `v`
# (charts/kserve-resources/Chart.yaml `version: v0.20.0`); install order and values from
# hack/setup/quick-install/kserve-standard-mode-full-install-helm.sh at v0.20.0.
KSERVE = Pin(
    "kserve",
    "v0.20.0",
    "oci://ghcr.io/kserve/charts",  # + /kserve-crd, /kserve-resources, /kserve-runtime-configs, ...
    None,
    "https://github.com/kserve/kserve/blob/v0.20.0/charts/kserve-resources/README.md",
    support="Newest minor (0.20, Aug 2026); KServe publishes no end-of-support dates.",
)
CERT_MANAGER = Pin(
    "cert-manager",
    "v1.21.1",
    "cert-manager",
    "https://charts.jetstack.io",
    "https://github.com/cert-manager/cert-manager/blob/v1.21.1/deploy/charts/cert-manager/values.yaml",
    support="Supported until 1.23 is released (a release is supported until N+2; cert-manager.io/docs/releases).",
)
# The standard-channel CRDs the platform's Gateway and HTTPRoutes are validated against (../shared/crds).
GATEWAY_API = Pin(
    "gateway-api",
    "v1.6.1",
    "https://github.com/kubernetes-sigs/gateway-api/releases/download/{version}/standard-install.yaml",
    None,
    "https://github.com/kubernetes-sigs/gateway-api/tree/v1.6.1/config/crd/standard",
)
TRAINER = Pin(
    "kubeflow-trainer",
    "2.3.0",
    "oci://ghcr.io/kubeflow/charts/kubeflow-trainer",
    None,
    "https://github.com/kubeflow/trainer/blob/v2.3.0/charts/kubeflow-trainer/README.md",
    support="Kubeflow 1.11 installs Trainer v2 by default; requires Kubernetes >= 1.31.",
)
KEDA = Pin(
    "keda",
    "2.20.2",
    "keda",
    "https://kedacore.github.io/charts",
    "https://github.com/kedacore/charts/blob/main/keda/Chart.yaml",
)
# The Prometheus the KEDA triggers query: the prometheus-community `prometheus` chart, server only (its
# subcharts off), scraping the KServe Gateway's proxy (mlplatform/infra/keda.py). Chart 29.27.0 ships
# Prometheus v3.14.0 (`appVersion`, charts/prometheus/Chart.yaml at the tag `prometheus-29.27.0`).
KEDA_PROMETHEUS = Pin(
    "prometheus",
    "29.27.0",
    "prometheus",
    "https://prometheus-community.github.io/helm-charts",
    "https://github.com/prometheus-community/helm-charts/blob/prometheus-29.27.0/charts/prometheus/values.yaml",
    support="Newest chart (18 Aug 2026, Prometheus v3.14.0); the chart publishes no end-of-support dates.",
)
# Katib v0.19.0 (30 Oct 2025): no Helm chart, its kustomize install `katib-standalone` applied from the tag
# (README "Installing Katib": `kubectl apply -k ".../manifests/v1beta1/installs/katib-standalone?ref=v0.19.0"`).
KATIB = Pin(
    "katib",
    "v0.19.0",
    "https://github.com/kubeflow/katib//manifests/v1beta1/installs/katib-standalone?ref={version}",
    None,
    "https://github.com/kubeflow/katib/tree/v0.19.0/manifests/v1beta1/installs/katib-standalone",
    support="Newest release (v0.19.0, 30 Oct 2025; Kubeflow 1.11); Katib publishes no end-of-support dates. "
    "Its trials may be Trainer v2 TrainJobs from v0.19.0 on (katib-config `trialResources`).",
)

PINS = (
    SELDON,
    EMISSARY_CRDS,
    EMISSARY,
    ISTIO,
    NVIDIA_DEVICE_PLUGIN,
    DCGM_EXPORTER,
    TENSORFLOW_SERVING,
    KSERVE,
    CERT_MANAGER,
    GATEWAY_API,
    TRAINER,
    KEDA,
    KEDA_PROMETHEUS,
    KATIB,
)


def image(pin: Pin, tag: str | None = None) -> str:
    """The image reference of an image pin: tensorflow/serving:2.20.0 (or the given tag)."""
    return f"{pin.chart}:{tag or pin.version}"
