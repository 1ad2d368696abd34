"""Operators: pinned Seldon Core on a maintained ingress, training-operator, the GPU plugin, the image mirror."""

from pathlib import Path

import pytest

from mlplatform import config as cfg
from mlplatform import images, pins
from mlplatform.conventions import mirrored
from mlplatform.infra.istio import Istio, IstioArgs
from mlplatform.infra.operators import Operators, OperatorsArgs, seldon_values
from mlplatform.offline import stackfiles

ROOT = Path(__file__).resolve().parents[2]
RELEASE = "kubernetes:helm.sh/v3:Release"
MIRROR = "registry-vpc.cn-hangzhou.aliyuncs.com/mirror"


def _plan(plan, cloud="alicloud", seldon=None, registry=None, **overrides):
    operators = cfg.Operators.model_validate({"seldon": seldon or {}, "imageRegistry": registry})

    def program():
        istio = Istio("istio", IstioArgs()).ready if operators.seldon.ingress == "istio" else []
        Operators("ops", OperatorsArgs(cloud=cloud, operators=operators, istio=istio, **overrides))

    return plan(program)


def _config_error(operators: dict) -> cfg.ConfigError:
    """The error the dev stack's config gets with these `operators` settings."""
    raw = {**stackfiles.load(ROOT, "dev").namespace_values(), "operators": operators}
    with pytest.raises(cfg.ConfigError) as error:
        cfg.parse(raw)
    return error.value


def _releases(monitor) -> dict:
    return {r.inputs["name"]: r.inputs for r in monitor.of_type(RELEASE)}


def test_seldon_1_17_1_with_emissary_4_and_ambassador_v2(plan):
    monitor = _plan(plan, internal_lb_annotations={"scheme": "internal"})
    seldon = monitor.named("ops-seldon-core").inputs
    assert (seldon["chart"], seldon["version"], seldon["namespace"]) == (
        "seldon-core-operator",
        "1.17.1",
        "seldon-system",
    )
    assert seldon["repositoryOpts"]["repo"] == "https://storage.googleapis.com/seldon-charts"
    assert seldon["values"]["ambassador"] == {"enabled": True, "version": "v2", "singleNamespace": False}
    assert seldon["values"]["istio"] == {"enabled": False}
    assert seldon["values"]["usageMetrics"] == {"enabled": False}
    emissary = monitor.named("ops-emissary-ingress").inputs
    assert (emissary["chart"], emissary["version"], emissary["namespace"]) == (
        "oci://ghcr.io/emissary-ingress/emissary-ingress",
        "4.1.0",
        "emissary",
    )
    assert "repositoryOpts" not in emissary  # OCI: the chart reference is the whole location
    # The chart's Service stays in the cluster; the load balancer is a Service of the plan (below).
    assert emissary["values"]["service"] == {"type": "ClusterIP"}
    assert "agent" not in emissary["values"]  # the 4.x chart has no `agent` value
    crds = monitor.named("ops-emissary-crds")
    assert (crds.inputs["chart"], crds.inputs["version"]) == (
        "oci://ghcr.io/emissary-ingress/emissary-crds-chart",
        "4.1.0",
    )
    # Seldon writes getambassador.io/v2 Mappings: only the legacy versions' conversion webhook serves them.
    assert crds.inputs["values"]["enableLegacyVersions"] is True
    assert crds.urn in monitor.named("ops-emissary-ingress").dependencies
    assert monitor.named("ops-emissary-ingress").urn in monitor.named("ops-seldon-core").dependencies
    assert not monitor.of_type("kubernetes:yaml/v2:ConfigFile")  # no 3.x emissary-crds.yaml
    load_balancer = monitor.named("ops-ingress-lb")
    assert load_balancer.inputs["metadata"] == {
        "name": "emissary-ingress-lb",
        "namespace": "emissary",
        "annotations": {"scheme": "internal"},
    }
    # The selector of the chart's own Service (emissary-ingress 4.1.0 templates/service.yaml, canary off).
    assert load_balancer.inputs["spec"] == {
        "type": "LoadBalancer",
        "selector": {
            "app.kubernetes.io/name": "emissary-ingress",
            "app.kubernetes.io/instance": "emissary-ingress",
            "profile": "main",
        },
        "ports": [
            {"name": "http", "port": 80, "targetPort": 8080, "protocol": "TCP"},
            {"name": "https", "port": 443, "targetPort": 8443, "protocol": "TCP"},
        ],
    }
    assert monitor.named("ops-emissary-ingress").urn in load_balancer.dependencies


def test_no_emissary_3_in_config():
    error = _config_error({"seldon": {"emissaryVersion": "3.9.1"}})
    assert error.path == "ml-platform:operators.seldon.emissaryVersion"
    assert "'3.9.1' is not an Emissary-ingress 4.x release such as 4.1.0" in error.reason


def test_seldon_keeps_its_crd_on_uninstall():
    values = seldon_values(cfg.Seldon())
    assert values["crd"] == {"create": True, "annotations": {"helm.sh/resource-policy": "keep"}}
    assert "forceV1" not in values["crd"]  # the 1.17.1 templates read `forcev1`: the documented key does nothing


def test_tensorflow_server_image_is_rendered_into_the_prepackaged_server_table(plan):
    gpu = "tensorflow/serving:2.20.0-gpu"
    values = _plan(plan, seldon={"tensorflowServerImage": gpu}).named("ops-seldon-core").inputs["values"]
    assert values["predictor_servers"] == {
        "TENSORFLOW_SERVER": {
            "protocols": {"tensorflow": {"image": "tensorflow/serving", "defaultImageVersion": "2.20.0-gpu"}}
        }
    }
    default = seldon_values(cfg.Seldon())["predictor_servers"]["TENSORFLOW_SERVER"]["protocols"]["tensorflow"]
    assert default == {"image": "tensorflow/serving", "defaultImageVersion": pins.TENSORFLOW_SERVING.version}


def test_tensorflow_server_image_needs_a_tag():
    error = _config_error({"seldon": {"tensorflowServerImage": "tensorflow/serving"}})
    assert error.path == "ml-platform:operators.seldon.tensorflowServerImage"
    assert "'tensorflow/serving' is not an image with a tag" in error.reason


def test_training_operator_from_its_pinned_release_overlay(plan):
    monitor = _plan(plan)
    directory = monitor.component("ops-training-operator").inputs["directory"]
    assert directory == "https://github.com/kubeflow/trainer//manifests/overlays/standalone?ref=v1.9.4"


def test_notebook_controller_from_its_pinned_release_overlay(plan):
    directory = _plan(plan).component("ops-notebook-controller").inputs["directory"]
    assert directory.endswith("/components/notebook-controller/config/overlays/standalone?ref=v1.11.0")


def test_istio_on_a_supported_line_and_the_gateway_seldon_binds_to(plan):
    monitor = _plan(plan, seldon={"ingress": "istio"})
    seldon = monitor.named("ops-seldon-core").inputs["values"]
    assert seldon["istio"] == {"enabled": True, "gateway": "istio-system/seldon-gateway"}
    assert seldon["ambassador"]["enabled"] is False
    releases = {r.inputs["chart"]: r for r in monitor.of_type(RELEASE)}
    # The control plane is the Istio component's; the Operators own only the ingress gateway.
    assert sorted(r.name for r in monitor.of_type(RELEASE) if r.parent == monitor.component("ops").urn) == [
        "ops-istio-gateway",
        "ops-seldon-core",
    ]
    gateway = releases["gateway"].inputs
    # 1.31 charts are published on blob.istio.io only (istio-release.storage.googleapis.com is retired).
    assert (gateway["version"], gateway["repositoryOpts"]["repo"]) == (
        "1.31.1",
        "https://blob.istio.io/istio-release/charts",
    )
    assert (gateway["namespace"], gateway["values"]["service"]) == ("istio-system", {"type": "ClusterIP"})
    assert releases["istiod"].urn in releases["gateway"].dependencies
    load_balancer = monitor.named("ops-ingress-lb").inputs
    assert load_balancer["metadata"]["name"] == "istio-ingressgateway-lb"
    # The selector of the gateway chart's Service (istio 1.31 manifests/charts/gateway, `gateway.selectorLabels`).
    assert load_balancer["spec"]["selector"] == {"app": "istio-ingressgateway", "istio": "ingressgateway"}
    assert [p["port"] for p in load_balancer["spec"]["ports"]] == [80, 443]
    gateway = monitor.of_type("kubernetes:networking.istio.io/v1beta1:Gateway")[0].inputs
    assert gateway["metadata"] == {"name": "seldon-gateway", "namespace": "istio-system"}
    assert gateway["spec"]["selector"] == {"istio": "ingressgateway"}


def test_nvidia_device_plugin_runs_on_nodes_labelled_gpu_present(plan):
    monitor = _plan(plan, cloud="aws", install_gpu_plugin=True, time_slicing_replicas=4)
    plugin = monitor.named("ops-nvidia-device-plugin").inputs
    assert (plugin["chart"], plugin["version"]) == ("nvidia-device-plugin", "0.20.0")
    assert "replicas: 4" in plugin["values"]["config"]["map"]["default"]
    assert "timeSlicing" in plugin["values"]["config"]["map"]["default"]
    # Without node-feature-discovery the chart's default affinity admits only nvidia.com/gpu.present=true.
    assert plugin["values"]["nodeSelector"] == {"nvidia.com/gpu.present": "true"}
    assert plugin["values"]["tolerations"] == [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}]


def test_no_gpu_plugin_without_gpu_pools(plan):
    assert "nvidia-device-plugin" not in _releases(_plan(plan))


@pytest.mark.parametrize("seldon", [{}, {"ingress": "istio"}])
def test_every_release_waits_long_enough_for_image_pulls(plan, seldon):
    releases = _releases(_plan(plan, cloud="aws", seldon=seldon, install_gpu_plugin=True))
    assert {name: 600 <= release["timeout"] <= 900 for name, release in releases.items()} == dict.fromkeys(
        releases, True
    )


def test_the_mirror_rewrites_every_image_the_charts_run(plan):
    releases = _releases(_plan(plan, cloud="aws", registry=MIRROR, install_gpu_plugin=True))
    assert releases["emissary-crds"]["values"]["apiext"] == {"repository": f"{MIRROR}/emissary-ingress/apiext"}
    assert releases["emissary-ingress"]["values"]["image"] == {"repository": f"{MIRROR}/emissary-ingress/emissary"}
    assert releases["nvidia-device-plugin"]["values"]["image"] == {"repository": f"{MIRROR}/nvidia/k8s-device-plugin"}
    seldon = releases["seldon-core"]["values"]
    assert seldon["image"] == {"registry": MIRROR} and seldon["executor"] == {"image": {"registry": MIRROR}}
    assert seldon["storageInitializer"] == {"image": f"{MIRROR}/seldonio/rclone-storage-initializer:1.17.1"}
    assert seldon["explainer"]["image_v2"] == f"{MIRROR}/seldonio/mlserver:1.3.5-alibi-explain"
    servers = seldon["predictor_servers"]
    images = [p["image"] for server in servers.values() for p in server["protocols"].values()]
    assert len(images) == 11 and all(image.startswith(f"{MIRROR}/") for image in images)
    assert servers["TRITON_SERVER"]["protocols"]["v2"]["image"] == f"{MIRROR}/nvidia/tritonserver"
    assert servers["TENSORFLOW_SERVER"]["protocols"]["tensorflow"] == {
        "image": f"{MIRROR}/tensorflow/serving",
        "defaultImageVersion": pins.TENSORFLOW_SERVING.version,
    }
    istio = plan(lambda: Istio("istio", IstioArgs(image_registry=MIRROR))).named("istio-istiod")
    assert istio.inputs["values"] == {"global": {"hub": f"{MIRROR}/istio"}}


def test_without_a_mirror_the_charts_keep_their_registries(plan):
    releases = _releases(_plan(plan, cloud="aws", install_gpu_plugin=True))
    assert "image" not in releases["emissary-ingress"]["values"]
    assert "image" not in releases["nvidia-device-plugin"]["values"]
    assert "apiext" not in releases["emissary-crds"]["values"]
    assert "image" not in releases["seldon-core"]["values"]


@pytest.mark.parametrize(
    ("image", "expected"),
    [
        ("docker.io/seldonio/seldon-core-operator:1.17.1", f"{MIRROR}/seldonio/seldon-core-operator:1.17.1"),
        ("seldonio/mlserver:1.3.5-sklearn", f"{MIRROR}/seldonio/mlserver:1.3.5-sklearn"),
        ("busybox", f"{MIRROR}/library/busybox"),
        ("nvcr.io/nvidia/k8s-device-plugin", f"{MIRROR}/nvidia/k8s-device-plugin"),
        ("localhost:5000/team/app:1", f"{MIRROR}/team/app:1"),
        (f"{MIRROR}/seldonio/x:1", f"{MIRROR}/seldonio/x:1"),
    ],
)
def test_mirrored_keeps_the_repository_path(image, expected):
    assert mirrored(image, MIRROR) == expected
    assert mirrored(image, None) == image


@pytest.mark.parametrize("registry", ["https://registry.example.com", "registry.example.com/mirror:latest", "Reg.io"])
def test_an_image_registry_is_a_host_and_path(registry):
    error = _config_error({"imageRegistry": registry})
    assert error.path == "ml-platform:operators.imageRegistry"
    assert "is not a registry host with an optional path" in error.reason


# ---------------------------------------------------------------- the mirror reaches the overlays and every chart


def _transformed(props: dict, type_: str = "kubernetes:apps/v1:Deployment", overlay=images.TRAINING_OPERATOR):
    import pulumi

    from mlplatform.infra.operators import mirror_overlay

    args = pulumi.ResourceTransformArgs(True, type_, "x", props, pulumi.ResourceOptions())
    return mirror_overlay(MIRROR, overlay)(args)


def test_the_training_operator_overlay_and_the_images_it_starts_come_through_the_mirror():
    # kustomize.v2.Directory has no `images:` input: a transform rewrites the objects the overlay renders.
    container = {"name": "training-operator", "image": images.TRAINING_OPERATOR.images[0], "command": ["/manager"]}
    deployment = {"kind": "Deployment", "spec": {"template": {"spec": {"containers": [container]}}}}
    [rewritten] = _transformed(deployment).props["spec"]["template"]["spec"]["containers"]
    assert rewritten["image"] == f"{MIRROR}/kubeflow/training-v1/training-operator:v1-93c5489"
    assert rewritten["args"] == [
        f"--pytorch-init-container-image={MIRROR}/library/alpine:3.10",
        f"--mpi-kubectl-delivery-image={MIRROR}/kubeflow/training-v1/kubectl-delivery:latest",
    ]
    assert container["image"] == images.TRAINING_OPERATOR.images[0]  # the input is not changed
    crd = {"kind": "CustomResourceDefinition", "spec": {"versions": [{"schema": {"containers": {"type": "array"}}}]}}
    assert _transformed(crd, "kubernetes:apiextensions.k8s.io/v1:CustomResourceDefinition") is None


def test_the_notebook_controller_overlay_comes_through_the_mirror():
    container = {"name": "manager", "image": images.NOTEBOOK_CONTROLLER.images[0]}
    deployment = {"kind": "Deployment", "spec": {"template": {"spec": {"containers": [container]}}}}
    [rewritten] = _transformed(deployment, overlay=images.NOTEBOOK_CONTROLLER).props["spec"]["template"]["spec"][
        "containers"
    ]
    assert rewritten == {"name": "manager", "image": f"{MIRROR}/kubeflow/notebooks/notebook-controller:v1.11.0"}


def test_every_chart_of_kserve_keda_and_the_trainer_pulls_through_the_mirror(plan):
    from mlplatform.infra.keda import Keda, KedaArgs
    from mlplatform.infra.kserve import KServe, KServeArgs
    from mlplatform.infra.trainer import Trainer, TrainerArgs

    def program():
        KServe("kserve", KServeArgs(local_model_cache=True, image_registry=MIRROR))
        Keda("keda", KedaArgs(image_registry=MIRROR))
        Trainer("trainer", TrainerArgs(runtimes=("deepspeed-distributed",), image_registry=MIRROR))

    monitor = plan(program)
    releases = _releases(monitor)
    assert releases["cert-manager"]["values"]["imageRegistry"] == MIRROR
    assert releases["cert-manager"]["values"]["crds"] == {"enabled": True, "keep": True}
    controller = releases["kserve-resources"]["values"]["kserve"]["controller"]
    assert controller["image"] == f"{MIRROR}/kserve/kserve-controller" and controller["deploymentMode"] == "Standard"
    runtimes = releases["kserve-runtime-configs"]["values"]["kserve"]["servingruntime"]
    assert runtimes["enabled"] is True and runtimes["huggingfaceserver"] == {
        "image": f"{MIRROR}/kserve/huggingfaceserver"
    }
    assert releases["keda"]["values"]["global"] == {"image": {"registry": MIRROR}}
    server = releases["keda-prometheus"]["values"]["server"]
    assert server["image"] == {"repository": f"{MIRROR}/prometheus/prometheus"} and server["retention"] == "2h"
    trainer = releases["kubeflow-trainer"]["values"]
    assert trainer["image"] == {"registry": MIRROR}
    assert trainer["jobset"] == {"image": {"repository": f"{MIRROR}/jobset/jobset"}}
    node_images = {
        c["image"]
        for r in monitor.of_type("kubernetes:trainer.kubeflow.org/v1alpha1:ClusterTrainingRuntime")
        for c in images.containers(r.inputs["spec"])
    }
    assert node_images == {
        f"{MIRROR}/pytorch/pytorch:2.13.0-cuda13.0-cudnn9-runtime",
        f"{MIRROR}/kubeflow/trainer/deepspeed-runtime:v2.3.0",
    }
    for release in releases.values():
        chart = images.chart_of(release["chart"])
        for entry in chart.images:
            assert images.value_at(release["values"], entry.key) == images.mirrored_value(entry, MIRROR), entry
