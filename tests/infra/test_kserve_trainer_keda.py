"""KServe (with cert-manager, Gateway API and Istio), Kubeflow Trainer v2 and KEDA: pinned, in dependency order."""

from mlplatform import validation
from mlplatform.conventions import plain_json
from mlplatform.infra.keda import Keda, KedaArgs
from mlplatform.infra.kserve import KServe, KServeArgs
from mlplatform.infra.trainer import Trainer, TrainerArgs

RELEASE = "kubernetes:helm.sh/v3:Release"


def _releases(monitor) -> dict:
    return {r.inputs["name"]: r for r in monitor.of_type(RELEASE)}


def _depends(monitor, release, *names) -> bool:
    urns = {monitor.named(name).urn for name in names}
    return urns <= set(release.dependencies)


def test_kserve_standard_mode_after_cert_manager_with_crds_first(plan):
    monitor = plan(lambda: KServe("prod-kserve", KServeArgs(internal_lb_annotations={"internal": "true"})))
    releases = _releases(monitor)
    cert_manager = releases["cert-manager"].inputs
    assert (cert_manager["chart"], cert_manager["version"], cert_manager["namespace"]) == (
        "cert-manager",
        "v1.21.1",
        "cert-manager",
    )
    assert cert_manager["values"] == {"crds": {"enabled": True}}
    crd, controller, runtimes = (releases[n] for n in ("kserve-crd", "kserve-resources", "kserve-runtime-configs"))
    assert crd.inputs["chart"] == "oci://ghcr.io/kserve/charts/kserve-crd" and crd.inputs["version"] == "v0.20.0"
    assert controller.inputs["chart"] == "oci://ghcr.io/kserve/charts/kserve-resources"
    assert controller.inputs["values"]["kserve"]["controller"]["deploymentMode"] == "Standard"
    gateway = controller.inputs["values"]["kserve"]["controller"]["gateway"]["ingressGateway"]
    assert gateway == {
        "enableGatewayApi": True,
        "kserveGateway": "kserve/kserve-ingress-gateway",
        "createGateway": False,
        "className": "istio",
    }
    assert runtimes.inputs["values"] == {"kserve": {"servingruntime": {"enabled": True}}}
    # CRDs before resources, cert-manager before anything with a webhook, runtimes after the controller.
    assert _depends(monitor, crd, "prod-kserve-cert-manager")
    assert _depends(monitor, controller, "prod-kserve-kserve-crd", "prod-kserve-cert-manager", "prod-kserve-istiod")
    assert _depends(monitor, runtimes, "prod-kserve-kserve-resources")
    # Every release waits for readiness and rolls back when it is not reached.
    assert all(r.inputs["atomic"] is True for r in releases.values())


def test_the_gateway_is_rendered_with_the_internal_load_balancer(plan):
    monitor = plan(lambda: KServe("prod-kserve", KServeArgs(internal_lb_annotations={"internal": "true"})))
    gateway = plain_json(monitor.named("prod-kserve-gateway").inputs)
    assert validation.validate(gateway, strict=True) == []
    assert gateway["spec"]["gatewayClassName"] == "istio"
    assert gateway["spec"]["infrastructure"] == {"annotations": {"internal": "true"}}
    crds = monitor.named("prod-kserve-gateway-api-crds").inputs
    assert crds["file"].endswith("/v1.6.1/standard-install.yaml")


def test_istio_already_installed_for_seldon_is_not_installed_again(plan):
    monitor = plan(lambda: KServe("prod-kserve", KServeArgs(install_istio=False)))
    assert {"istio-base", "istiod"}.isdisjoint(_releases(monitor))


def test_local_model_cache_adds_its_charts_and_turns_the_controller_on(plan):
    monitor = plan(lambda: KServe("prod-kserve", KServeArgs(local_model_cache=True)))
    releases = _releases(monitor)
    assert {"kserve-localmodel-crd", "kserve-localmodel-resources"} <= set(releases)
    assert releases["kserve-resources"].inputs["values"]["kserve"]["localmodel"] == {"enabled": True}


def test_trainer_v2_is_pinned_with_the_runtimes_the_jobs_use(plan):
    monitor = plan(lambda: Trainer("dev-trainer", TrainerArgs(runtimes=("xgboost-distributed",))))
    [release] = monitor.of_type(RELEASE)
    inputs = release.inputs
    assert (inputs["chart"], inputs["version"], inputs["namespace"]) == (
        "oci://ghcr.io/kubeflow/charts/kubeflow-trainer",
        "2.3.0",
        "kubeflow-system",
    )
    assert inputs["values"] == {
        "runtimes": {"torchDistributed": {"enabled": True}, "xgboostDistributed": {"enabled": True}}
    }
    assert inputs["waitForJobs"] is True  # the runtimes come from a post-install hook Job


def test_keda_is_pinned(plan):
    monitor = plan(lambda: Keda("prod-keda", KedaArgs()))
    [release] = monitor.of_type(RELEASE)
    assert (release.inputs["chart"], release.inputs["version"]) == ("keda", "2.20.2")
    assert release.inputs["repositoryOpts"]["repo"] == "https://kedacore.github.io/charts"


def test_every_release_waits_as_long_as_the_operators(plan):
    def program():
        KServe("prod-kserve", KServeArgs(local_model_cache=True))
        Trainer("dev-trainer", TrainerArgs())
        Keda("prod-keda", KedaArgs())

    timeouts = {r.inputs["name"]: r.inputs["timeout"] for r in plan(program).of_type(RELEASE)}
    assert set(timeouts.values()) == {900}


def test_config_webhook_rules_and_install_agree_on_the_runtimes():
    from mlplatform.config.workloads import TRAINER_RUNTIMES
    from mlplatform.infra.trainer import RUNTIME_VALUES
    from mlplatform.rules import TRAINER_BUILTIN_RUNTIMES

    assert set(TRAINER_BUILTIN_RUNTIMES) == set(RUNTIME_VALUES)
    assert set(TRAINER_RUNTIMES.values()) <= set(RUNTIME_VALUES)
