"""The upstream facts: each pinned chart's images, the values that set them, and the file they were read from.

A `ChartImage` is one image a chart renders: `key`, the values path that sets it; `held`, what that key holds by
default (a registry, a repository, or the whole reference); `image`, the reference the chart renders by default.
The rest of the reference (`image` after `held`) is fixed by the chart, so the mirrored value of the key is the
mirrored image without that rest. `when`: values of which at least one must be true for the chart to render it
(none: always). A chart whose images are fixed in its templates has no key to move them; the platform does not
turn those parts on (`unkeyed`, checked by the tests). Standard library only.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import NamedTuple


class ChartImage(NamedTuple):
    key: str
    held: str
    image: str
    tag_key: str | None = None  # a value that replaces the tag (Seldon's `defaultImageVersion`)
    when: tuple[str, ...] = ()


class Chart(NamedTuple):
    name: str  # the chart's name (the last part of an `oci://` reference)
    version: str
    source: str  # repo@tag and the files the images were read from
    images: tuple[ChartImage, ...] = ()
    unkeyed: str = ""  # images the chart fixes in templates, and why the platform never renders them


class Overlay(NamedTuple):
    """A kustomize overlay the platform applies: its images, and those its operator starts (by flag)."""

    name: str
    url: str  # with `{version}`
    version: str
    source: str
    images: tuple[str, ...]
    operator_flags: Mapping[str, str] = {}  # the operator's flag -> the image its default names


def _seldon_servers() -> tuple[ChartImage, ...]:
    servers = {  # predictor_servers: server -> protocol -> (image, defaultImageVersion)
        "MLFLOW_SERVER": {"seldon": ("seldonio/mlflowserver", "1.17.1"), "v2": ("seldonio/mlserver", "1.3.5-mlflow")},
        "SKLEARN_SERVER": {
            "seldon": ("seldonio/sklearnserver", "1.17.1"),
            "v2": ("seldonio/mlserver", "1.3.5-sklearn"),
        },
        "TENSORFLOW_SERVER": {
            "seldon": ("seldonio/tfserving-proxy", "1.17.1"),
            "tensorflow": ("tensorflow/serving", "2.1.0"),
        },
        "XGBOOST_SERVER": {
            "seldon": ("seldonio/xgboostserver", "1.17.1"),
            "v2": ("seldonio/mlserver", "1.3.5-xgboost"),
        },
        "TRITON_SERVER": {"v2": ("nvcr.io/nvidia/tritonserver", "21.08-py3")},
        "HUGGINGFACE_SERVER": {"v2": ("seldonio/mlserver", "1.3.5-huggingface")},
        "TEMPO_SERVER": {"v2": ("seldonio/mlserver", "1.3.5-slim")},
    }
    return tuple(
        ChartImage(f"{prefix}.image", image, f"{image}:{tag}", f"{prefix}.defaultImageVersion")
        for server, protocols in servers.items()
        for protocol, (image, tag) in protocols.items()
        for prefix in [f"predictor_servers.{server}.protocols.{protocol}"]
    )


SELDON = Chart(
    "seldon-core-operator",
    "1.17.1",
    "SeldonIO/seldon-core@v1.17.1 helm-charts/seldon-core-operator/values.yaml, "
    "templates/deployment_seldon-controller-manager.yaml ('{{ .Values.image.registry }}/{{ .Values.image.repository }}"
    ":{{ .Values.image.tag }}', the executor likewise)",
    (
        ChartImage("image.registry", "docker.io", "docker.io/seldonio/seldon-core-operator:1.17.1"),
        ChartImage("executor.image.registry", "docker.io", "docker.io/seldonio/seldon-core-executor:1.17.1"),
        ChartImage(
            "storageInitializer.image",
            "seldonio/rclone-storage-initializer:1.17.1",
            "seldonio/rclone-storage-initializer:1.17.1",
        ),
        ChartImage("explainer.image", "seldonio/alibiexplainer:1.17.1", "seldonio/alibiexplainer:1.17.1"),
        ChartImage(
            "explainer.image_v2", "seldonio/mlserver:1.3.5-alibi-explain", "seldonio/mlserver:1.3.5-alibi-explain"
        ),
        *_seldon_servers(),
    ),
)
EMISSARY_CRDS = Chart(
    "emissary-crds-chart",
    "4.1.0",
    "emissary-ingress/emissary@v4.1.0 charts/emissary-crds/values.yaml (`defaultImageRepository`, `apiext.repository`), "
    "templates/apiext.yaml (tag: the chart's appVersion, = the chart version when published)",
    (ChartImage("apiext.repository", "ghcr.io/emissary-ingress/apiext", "ghcr.io/emissary-ingress/apiext:4.1.0"),),
)
EMISSARY = Chart(
    "emissary-ingress",
    "4.1.0",
    "emissary-ingress/emissary@v4.1.0 charts/emissary-ingress/values.yaml, templates/_helpers.tpl (`ambassador.image`), "
    "templates/deployment.yaml (the statsd exporter sidecar when `prometheusExporter.enabled`)",
    (
        ChartImage("image.repository", "ghcr.io/emissary-ingress/emissary", "ghcr.io/emissary-ingress/emissary:4.1.0"),
        ChartImage(
            "prometheusExporter.repository",
            "prom/statsd-exporter",
            "prom/statsd-exporter:v0.8.1",
            when=("prometheusExporter.enabled",),
        ),
    ),
    unkeyed="`test.image` (busybox) runs only under `helm test`, which the platform never runs",
)
ISTIO_BASE = Chart("base", "1.31.1", "istio/istio release-1.31 manifests/charts/base (no workloads)")
ISTIOD = Chart(
    "istiod",
    "1.31.1",
    "istio/istio release-1.31 manifests/charts/istio-control/istio-discovery/values.yaml (`global.hub`, `pilot.image`, "
    "`global.proxy.image`, `global.proxy_init.image`); the published charts set `global.hub: docker.io/istio` and the "
    "release's tag. istiod injects proxyv2 into every gateway (Seldon's, KServe's Gateway) from its own hub",
    (
        ChartImage("global.hub", "docker.io/istio", "docker.io/istio/pilot:1.31.1"),
        ChartImage("global.hub", "docker.io/istio", "docker.io/istio/proxyv2:1.31.1"),
    ),
)
ISTIO_GATEWAY = Chart(
    "gateway",
    "1.31.1",
    "istio/istio release-1.31 manifests/charts/gateway/templates/deployment.yaml: `image: auto`, replaced by istiod's "
    "injection (the istiod entry's proxyv2)",
)
NVIDIA_DEVICE_PLUGIN = Chart(
    "nvidia-device-plugin",
    "0.20.0",
    "NVIDIA/k8s-device-plugin@v0.20.0 deployments/helm/nvidia-device-plugin/values.yaml, templates/_helpers.tpl "
    "(`nvidia-device-plugin.fullimage`: tag `v` + appVersion)",
    (ChartImage("image.repository", "nvcr.io/nvidia/k8s-device-plugin", "nvcr.io/nvidia/k8s-device-plugin:v0.20.0"),),
    unkeyed="the node-feature-discovery subchart (condition `nfd.enabled,gfd.enabled`, both false by default) is off",
)
DCGM_EXPORTER = Chart(
    "dcgm-exporter",
    "4.8.2",
    "NVIDIA/dcgm-exporter@4.5.3-4.8.2 deployment/values.yaml (`image.repository`, `image.tag: 4.5.3-4.8.2-distroless`), "
    "templates/daemonset.yaml (`image.repository:image.tag`)",
    (
        ChartImage(
            "image.repository",
            "nvcr.io/nvidia/k8s/dcgm-exporter",
            "nvcr.io/nvidia/k8s/dcgm-exporter:4.5.3-4.8.2-distroless",
        ),
    ),
)
KSERVE_CRD = Chart("kserve-crd", "v0.20.0", "kserve/kserve@v0.20.0 charts/kserve-crd (CRDs only)")
KSERVE_LOCALMODEL_CRD = Chart(
    "kserve-localmodel-crd", "v0.20.0", "kserve/kserve@v0.20.0 charts/kserve-localmodel-crd (CRDs only)"
)


def _kserve(key: str, repository: str, tag: str = "v0.20.0", when: tuple[str, ...] = ()) -> ChartImage:
    return ChartImage(f"kserve.{key}", repository, f"{repository}:{tag}", when=when)


KSERVE_RESOURCES = Chart(
    "kserve-resources",
    "v0.20.0",
    "kserve/kserve@v0.20.0 charts/kserve-resources/values.yaml, files/kserve/deployment-patch.yaml, "
    "files/common/configmap-patch.yaml, files/common/storagecontainer-patch.yaml (tags default to `kserve.version`)",
    (
        _kserve("controller.image", "kserve/kserve-controller"),
        ChartImage(
            "kserve.controller.rbacProxyImage",
            "quay.io/brancz/kube-rbac-proxy:v0.18.0",
            "quay.io/brancz/kube-rbac-proxy:v0.18.0",
        ),
        _kserve("agent.image", "kserve/agent"),
        _kserve("router.image", "kserve/router"),
        _kserve("storage.image", "kserve/storage-initializer"),
        _kserve("servingruntime.art.image", "kserve/art-explainer"),
        _kserve("localmodel.defaultJobImage", "kserve/storage-initializer", when=("kserve.localmodel.enabled",)),
    ),
)
_RUNTIMES_ON = ("kserve.servingruntime.enabled",)
KSERVE_RUNTIME_CONFIGS = Chart(
    "kserve-runtime-configs",
    "v0.20.0",
    "kserve/kserve@v0.20.0 charts/kserve-runtime-configs/values.yaml, files/runtimes/clusterservingruntimes-patch.yaml "
    "(`<image>:<tag | default kserve.version>`; the Hugging Face multinode runtime runs huggingfaceserver `-gpu`)",
    tuple(
        _kserve(f"servingruntime.{runtime}.image", repository, tag, _RUNTIMES_ON)
        for runtime, repository, tag in (
            ("tensorflow", "tensorflow/serving", "2.6.2"),
            ("mlserver", "docker.io/seldonio/mlserver", "1.5.0"),
            ("sklearnserver", "kserve/sklearnserver", "v0.20.0"),
            ("xgbserver", "kserve/xgbserver", "v0.20.0"),
            ("huggingfaceserver", "kserve/huggingfaceserver", "v0.20.0"),
            ("huggingfaceserver", "kserve/huggingfaceserver", "v0.20.0-gpu"),
            ("tritonserver", "nvcr.io/nvidia/tritonserver", "23.05-py3"),
            ("pmmlserver", "kserve/pmmlserver", "v0.20.0"),
            ("predictiveserver", "kserve/predictiveserver", "v0.20.0"),
            ("paddleserver", "kserve/paddleserver", "v0.20.0"),
            ("lgbserver", "kserve/lgbserver", "v0.20.0"),
            ("autogluonserver", "kserve/autogluonserver", "v0.20.0"),
            ("torchserve", "pytorch/torchserve-kfs", "0.9.0"),
            ("vllmserver", "vllm/vllm-openai", "latest"),
        )
    ),
)
KSERVE_LOCALMODEL_RESOURCES = Chart(
    "kserve-localmodel-resources",
    "v0.20.0",
    "kserve/kserve@v0.20.0 charts/kserve-localmodel-resources/values.yaml, files/deployment-patch.yaml, "
    "files/daemonset-patch.yaml",
    (
        _kserve("localmodel.controller.image", "kserve/kserve-localmodel-controller"),
        _kserve("localmodelnode.controller.image", "kserve/kserve-localmodelnode-agent"),
    ),
)
CERT_MANAGER = Chart(
    "cert-manager",
    "v1.21.1",
    "cert-manager/cert-manager@v1.21.1 deploy/charts/cert-manager/values.yaml (`imageRegistry: quay.io`, "
    "`imageNamespace: jetstack`, each component's `image.name`), templates/_helpers.tpl (`cert-manager.image`: "
    "registry/namespace/name:appVersion); startupapicheck is a post-install hook Job",
    tuple(
        ChartImage("imageRegistry", "quay.io", f"quay.io/jetstack/cert-manager-{component}:v1.21.1")
        for component in ("controller", "webhook", "cainjector", "acmesolver", "startupapicheck")
    ),
)
_TORCHTUNE = tuple(
    f"runtimes.torchtuneDistributed.{model}.enabled" for model in ("llama3_2_1B", "llama3_2_3B", "qwen2_5_1_5B")
)
# `trainer.runtimes.enabled` (templates/runtimes/_runtimes.tpl): the values that render the runtimes installer.
_ANY_TRAINER_RUNTIME = (
    "runtimes.defaultEnabled",
    "runtimes.torchDistributed.enabled",
    "runtimes.deepspeedDistributed.enabled",
    "runtimes.mlxDistributed.enabled",
    "runtimes.jaxDistributed.enabled",
    "runtimes.xgboostDistributed.enabled",
    *_TORCHTUNE,
    "dataCache.runtimes.torchDistributedWithCache.enabled",
)


def _trainer_runtime(runtime: str, repository: str) -> ChartImage:
    return ChartImage(
        f"runtimes.{runtime}.image.registry",
        "ghcr.io",
        f"ghcr.io/kubeflow/trainer/{repository}:v2.3.0",
        when=(f"runtimes.{runtime}.enabled", "runtimes.defaultEnabled"),
    )


TRAINER = Chart(
    "kubeflow-trainer",
    "2.3.0",
    "kubeflow/trainer@v2.3.0 charts/kubeflow-trainer/values.yaml, Chart.yaml (jobset 0.12.0 and lws 0.8.0 from "
    "oci://registry.k8s.io), templates/_helpers.tpl (`trainer.image`, `trainer.runtimeImage`: registry/repository:"
    "v<chart version>), templates/runtimes/installer-job.yaml; kubernetes-sigs/jobset@v0.12.0 "
    "hack/helm-chart-package.sh and kubernetes-sigs/lws@v0.8.0 Makefile (published values: "
    "registry.k8s.io/<name>/<name>:v<version>)",
    (
        ChartImage("image.registry", "ghcr.io", "ghcr.io/kubeflow/trainer/trainer-controller-manager:v2.3.0"),
        ChartImage("jobset.image.repository", "registry.k8s.io/jobset/jobset", "registry.k8s.io/jobset/jobset:v0.12.0"),
        ChartImage(
            "lws.image.manager.repository",
            "registry.k8s.io/lws/lws",
            "registry.k8s.io/lws/lws:v0.8.0",
            when=("dataCache.enabled",),
        ),
        ChartImage(
            "dataCache.cacheImage.registry",
            "ghcr.io",
            "ghcr.io/kubeflow/trainer/data-cache:v2.3.0",
            when=("dataCache.enabled",),
        ),
        # The hook Job that applies the built-in runtimes (`apk add kubectl` from the Alpine CDN, which no image
        # mirror serves): rendered when any runtime is enabled; the platform enables none and applies them itself.
        ChartImage(
            "runtimes.installer.image.registry", "docker.io", "docker.io/alpine:3.21", when=_ANY_TRAINER_RUNTIME
        ),
        _trainer_runtime("deepspeedDistributed", "deepspeed-runtime"),
        _trainer_runtime("mlxDistributed", "mlx-runtime"),
        _trainer_runtime("xgboostDistributed", "xgboost-runtime"),
        ChartImage(
            "runtimes.torchtuneDistributed.image.registry",
            "ghcr.io",
            "ghcr.io/kubeflow/trainer/torchtune-trainer:v2.3.0",
            when=("runtimes.defaultEnabled", *_TORCHTUNE),
        ),
    ),
    unkeyed="files/runtimes/*.yaml fix pytorch/pytorch, nvcr.io/nvidia/jax and the dataset and model initializers; "
    "they are rendered only with a runtime enabled, and the platform enables none (mlplatform/infra/trainer.py)",
)
KEDA = Chart(
    "keda",
    "2.20.2",
    "kedacore/charts@v2.20.2 keda/values.yaml (`global.image.registry`, `image.*`), templates/manager, metrics-server "
    "and webhooks deployment.yaml (`global.image.registry | default image.<component>.registry`, tag appVersion)",
    tuple(
        ChartImage("global.image.registry", "ghcr.io", f"ghcr.io/kedacore/{name}:2.20.2")
        for name in ("keda", "keda-metrics-apiserver", "keda-admission-webhooks")
    ),
)
KEDA_PROMETHEUS = Chart(
    "prometheus",
    "29.27.0",
    "prometheus-community/helm-charts@prometheus-29.27.0 charts/prometheus/values.yaml, templates/deploy.yaml "
    "(server tag: appVersion v3.14.0)",
    (
        ChartImage("server.image.repository", "quay.io/prometheus/prometheus", "quay.io/prometheus/prometheus:v3.14.0"),
        ChartImage(
            "configmapReload.prometheus.image.repository",
            "quay.io/prometheus-operator/prometheus-config-reloader",
            "quay.io/prometheus-operator/prometheus-config-reloader:v0.93.1",
        ),
    ),
    unkeyed="the alertmanager, kube-state-metrics, node-exporter and pushgateway subcharts, which the platform turns off",
)
KARPENTER = Chart(
    "karpenter",
    "1.14.1",
    "aws/karpenter-provider-aws@v1.14.1 charts/karpenter/values.yaml, templates/_helpers.tpl "
    "(`karpenter.controller.image`: repository:tag@digest), hack/release/common.sh (the published tag and digest)",
    (
        ChartImage(
            "controller.image.repository",
            "public.ecr.aws/karpenter/controller",
            "public.ecr.aws/karpenter/controller:1.14.1",
        ),
    ),
)
KARPENTER_CRD = Chart("karpenter-crd", "1.14.1", "aws/karpenter-provider-aws@v1.14.1 charts/karpenter-crd (CRDs only)")

CHARTS: dict[str, Chart] = {
    chart.name: chart
    for chart in (
        SELDON,
        EMISSARY_CRDS,
        EMISSARY,
        ISTIO_BASE,
        ISTIOD,
        ISTIO_GATEWAY,
        NVIDIA_DEVICE_PLUGIN,
        DCGM_EXPORTER,
        KSERVE_CRD,
        KSERVE_LOCALMODEL_CRD,
        KSERVE_RESOURCES,
        KSERVE_RUNTIME_CONFIGS,
        KSERVE_LOCALMODEL_RESOURCES,
        CERT_MANAGER,
        TRAINER,
        KEDA,
        KEDA_PROMETHEUS,
        KARPENTER,
        KARPENTER_CRD,
    )
}

TRAINING_OPERATOR = Overlay(
    "training-operator",
    "https://github.com/kubeflow/trainer//manifests/overlays/standalone?ref={version}",
    "v1.9.4",
    "kubeflow/trainer@v1.9.4 manifests/overlays/standalone/kustomization.yaml (`images:` newTag), "
    "manifests/base/deployment.yaml; the images the operator starts: pkg/config/config.go (defaults of the flags in "
    "cmd/training-operator.v1/main.go: a PyTorchJob worker's init container, an MPIJob launcher's kubectl delivery)",
    ("ghcr.io/kubeflow/training-v1/training-operator:v1-93c5489",),
    {
        "--pytorch-init-container-image": "alpine:3.10",
        "--mpi-kubectl-delivery-image": "ghcr.io/kubeflow/training-v1/kubectl-delivery:latest",
    },
)
NOTEBOOK_CONTROLLER = Overlay(
    "notebook-controller",
    "https://github.com/kubeflow/notebooks//components/notebook-controller/config/overlays/standalone?ref={version}",
    "v1.11.0",
    "kubeflow/notebooks@v1.11.0 components/notebook-controller/config/base/kustomization.yaml (`images:`), "
    "config/manager/manager.yaml; config/default applies no kube-rbac-proxy patch",
    ("ghcr.io/kubeflow/notebooks/notebook-controller:v1.11.0",),
)
# The images of katib-config's `runtime` (the metrics collector sidecars, the suggestion services, early stopping)
# the Katib controller starts, in the trials' namespaces (the platform's transform rewrites them with the rest).
KATIB_RUNTIME_IMAGES = tuple(
    f"ghcr.io/kubeflow/katib/{name}:v0.19.0"
    for name in (
        "file-metrics-collector",
        "tfevent-metrics-collector",
        "suggestion-hyperopt",
        "suggestion-optuna",
        "suggestion-hyperband",
        "suggestion-skopt",
        "suggestion-goptuna",
        "suggestion-enas",
        "suggestion-darts",
        "suggestion-pbt",
        "earlystopping-medianstop",
    )
)
KATIB = Overlay(
    "katib",
    "https://github.com/kubeflow/katib//manifests/v1beta1/installs/katib-standalone?ref={version}",
    "v0.19.0",
    "kubeflow/katib@v0.19.0 manifests/v1beta1/installs/katib-standalone/kustomization.yaml (`images:` newTag), "
    "katib-config.yaml (`runtime`: the images the controller starts), components/mysql/mysql.yaml",
    (
        "ghcr.io/kubeflow/katib/katib-controller:v0.19.0",
        "ghcr.io/kubeflow/katib/katib-db-manager:v0.19.0",
        "ghcr.io/kubeflow/katib/katib-ui:v0.19.0",
        "mysql:8.0.29",
        *KATIB_RUNTIME_IMAGES,
    ),
)
OVERLAYS = (TRAINING_OPERATOR, NOTEBOOK_CONTROLLER, KATIB)
# Plain manifests the platform applies (yaml ConfigFiles), by URL prefix -> why they pull no image.
CONFIG_FILES = {
    "https://github.com/kubernetes-sigs/gateway-api/releases/download/": "Gateway API standard-install.yaml: CRDs only",
}

# The image the promotion Jobs copy model versions with: sh, cp, find and sha256sum; pinned.
COPY_IMAGE = "busybox:1.37.0"
# The ClusterTrainingRuntimes the platform applies, by name -> the image of their `node` containers
# (kubeflow/trainer@v2.3.0 charts/kubeflow-trainer/files/runtimes/*.yaml, `trainer.runtimeImage` rendered).
TRAINER_RUNTIME_IMAGES = {
    "torch-distributed": "pytorch/pytorch:2.13.0-cuda13.0-cudnn9-runtime",
    "deepspeed-distributed": "ghcr.io/kubeflow/trainer/deepspeed-runtime:v2.3.0",
    "mlx-distributed": "ghcr.io/kubeflow/trainer/mlx-runtime:v2.3.0",
    "jax-distributed": "nvcr.io/nvidia/jax:25.10-py3",
    "xgboost-distributed": "ghcr.io/kubeflow/trainer/xgboost-runtime:v2.3.0",
}
PLATFORM_IMAGES = (COPY_IMAGE, *TRAINER_RUNTIME_IMAGES.values())
