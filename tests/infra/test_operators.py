"""Operators: pinned Seldon Core with a supported ingress, training-operator, the GPU plugin."""

from mlplatform import config as cfg
from mlplatform.infra.operators import Operators, OperatorsArgs


def _plan(plan, cloud="alicloud", seldon=None, **overrides):
    operators = cfg.Operators.model_validate({"seldon": seldon or {}})
    return plan(lambda: Operators("ops", OperatorsArgs(cloud=cloud, operators=operators, **overrides)))


def test_seldon_1_17_1_with_emissary_and_ambassador_v2(plan):
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
    assert (emissary["chart"], emissary["version"], emissary["namespace"]) == ("emissary-ingress", "8.9.1", "emissary")
    assert emissary["values"]["service"] == {"type": "LoadBalancer", "annotations": {"scheme": "internal"}}
    crds = monitor.component("ops-emissary-crds")
    assert crds.inputs["file"] == "https://app.getambassador.io/yaml/emissary/3.9.1/emissary-crds.yaml"
    assert crds.urn in monitor.named("ops-emissary-ingress").dependencies
    assert monitor.named("ops-emissary-ingress").urn in monitor.named("ops-seldon-core").dependencies


def test_training_operator_from_its_pinned_release_overlay(plan):
    monitor = _plan(plan)
    directory = monitor.component("ops-training-operator").inputs["directory"]
    assert directory == "https://github.com/kubeflow/trainer//manifests/overlays/standalone?ref=v1.9.4"


def test_notebook_controller_from_its_pinned_release_overlay(plan):
    directory = _plan(plan).component("ops-notebook-controller").inputs["directory"]
    assert directory.endswith("/components/notebook-controller/config/overlays/standalone?ref=v1.11.0")


def test_istio_ingress_installs_istio_and_the_gateway_seldon_binds_to(plan):
    monitor = _plan(plan, seldon={"ingress": "istio"})
    seldon = monitor.named("ops-seldon-core").inputs["values"]
    assert seldon["istio"] == {"enabled": True, "gateway": "istio-system/seldon-gateway"}
    assert seldon["ambassador"]["enabled"] is False
    releases = {r.inputs["chart"]: r for r in monitor.of_type("kubernetes:helm.sh/v3:Release")}
    assert sorted(releases) == ["base", "gateway", "istiod", "seldon-core-operator"]
    assert releases["base"].urn in releases["istiod"].dependencies
    assert releases["istiod"].urn in releases["gateway"].dependencies
    gateway = monitor.of_type("kubernetes:networking.istio.io/v1beta1:Gateway")[0].inputs
    assert gateway["metadata"] == {"name": "seldon-gateway", "namespace": "istio-system"}
    assert gateway["spec"]["selector"] == {"istio": "ingressgateway"}
    assert not monitor.of_type("kubernetes:yaml/v2:ConfigFile")


def test_nvidia_device_plugin_with_time_slicing_on_eks(plan):
    monitor = _plan(plan, cloud="aws", install_gpu_plugin=True, time_slicing_replicas=4)
    plugin = monitor.named("ops-nvidia-device-plugin").inputs
    assert (plugin["chart"], plugin["version"]) == ("nvidia-device-plugin", "0.17.0")
    assert "replicas: 4" in plugin["values"]["config"]["map"]["default"]
    assert "timeSlicing" in plugin["values"]["config"]["map"]["default"]
    assert plugin["values"]["nodeSelector"] == {"mlplatform.io/accelerator": "nvidia-gpu"}


def test_no_gpu_plugin_without_gpu_pools(plan):
    assert not [
        r for r in _plan(plan).of_type("kubernetes:helm.sh/v3:Release") if r.inputs["chart"] == "nvidia-device-plugin"
    ]
