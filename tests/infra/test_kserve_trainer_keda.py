"""KServe (with cert-manager, Gateway API and Istio), Kubeflow Trainer v2 and KEDA: pinned, in dependency order."""

import copy
import re
from urllib.parse import urlsplit

import yaml

from mlplatform import validation
from mlplatform.conventions import plain_json
from mlplatform.infra import keda
from mlplatform.infra.istio import Istio, IstioArgs
from mlplatform.infra.keda import Keda, KedaArgs
from mlplatform.infra.kserve import KServe, KServeArgs
from mlplatform.infra.trainer import Trainer, TrainerArgs
from mlplatform.offline.preview import run_preview

RELEASE = "kubernetes:helm.sh/v3:Release"
CLUSTER_TRAINING_RUNTIME = "kubernetes:trainer.kubeflow.org/v1alpha1:ClusterTrainingRuntime"


def _releases(monitor) -> dict:
    return {r.inputs["name"]: r for r in monitor.of_type(RELEASE)}


def _depends(monitor, release, *names) -> bool:
    urns = {monitor.named(name).urn for name in names}
    return urns <= set(release.dependencies)


def _on_istio():
    """KServe on the Istio component, as the stacks install it."""
    istio = Istio("prod-istio", IstioArgs())
    return KServe("prod-kserve", KServeArgs(internal_lb_annotations={"internal": "true"}, depends_on=istio.ready))


def test_kserve_standard_mode_after_cert_manager_with_crds_first(plan):
    monitor = plan(_on_istio)
    releases = _releases(monitor)
    cert_manager = releases["cert-manager"].inputs
    assert (cert_manager["chart"], cert_manager["version"], cert_manager["namespace"]) == (
        "cert-manager",
        "v1.21.1",
        "cert-manager",
    )
    assert cert_manager["values"] == {"crds": {"enabled": True, "keep": True}}
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
    assert _depends(monitor, controller, "prod-kserve-kserve-crd", "prod-kserve-cert-manager", "prod-istio-istiod")
    assert _depends(monitor, runtimes, "prod-kserve-kserve-resources")
    # Every release waits for readiness and rolls back when it is not reached.
    assert all(r.inputs["atomic"] is True for r in releases.values())


def test_the_gateway_proxy_stays_in_the_cluster_behind_a_load_balancer_of_the_plan(plan):
    monitor = plan(_on_istio)
    gateway = plain_json(monitor.named("prod-kserve-gateway").inputs)
    assert validation.validate(gateway, strict=True) == []
    assert gateway["spec"]["gatewayClassName"] == "istio"
    # istiod merges the ConfigMap's `service` overlay into the proxy's Service: ClusterIP, in-cluster only.
    assert gateway["spec"]["infrastructure"] == {
        "parametersRef": {"group": "", "kind": "ConfigMap", "name": "kserve-ingress-gateway-options"},
        "annotations": {"internal": "true"},
    }
    options = monitor.named("prod-kserve-gateway-options")
    assert options.inputs["metadata"] == {"name": "kserve-ingress-gateway-options", "namespace": "kserve"}
    assert yaml.safe_load(options.inputs["data"]["service"]) == {"spec": {"type": "ClusterIP"}}
    assert options.urn in monitor.named("prod-kserve-gateway").dependencies
    # The load balancer is the plan's, in front of the pods istiod labels with the Gateway's name.
    load_balancer = monitor.named("prod-kserve-gateway-lb")
    assert load_balancer.inputs["metadata"] == {
        "name": "kserve-ingress-gateway-lb",
        "namespace": "kserve",
        "annotations": {"internal": "true"},
    }
    assert load_balancer.inputs["spec"] == {
        "type": "LoadBalancer",
        "selector": {"gateway.networking.k8s.io/gateway-name": "kserve-ingress-gateway"},
        "ports": [{"name": "http", "port": 80, "targetPort": 80, "protocol": "TCP"}],
    }
    assert monitor.named("prod-kserve-gateway").urn in load_balancer.dependencies
    # The address servings publish is that Service's: the mock answers what the cloud would.
    assert monitor.component("prod-kserve").outputs["ingressHost"] == "(known after apply)"
    crds = monitor.named("prod-kserve-gateway-api-crds").inputs
    assert crds["file"].endswith("/v1.6.1/standard-install.yaml")


def test_kserve_installs_no_istio_of_its_own(plan):
    monitor = plan(_on_istio)
    kserve = monitor.component("prod-kserve").urn
    assert not [r.name for r in monitor.registrations.values() if r.parent == kserve and "istio" in r.name]
    assert _depends(monitor, monitor.named("prod-kserve-gateway"), "prod-istio-istiod")


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
    # No built-in runtime in the chart, so no post-install hook (alpine + `apk add kubectl` from the Alpine CDN).
    assert inputs["values"] == {} and "waitForJobs" not in inputs
    runtimes = {r.inputs["metadata"]["name"]: r for r in monitor.of_type(CLUSTER_TRAINING_RUNTIME)}
    assert set(runtimes) == {"torch-distributed", "xgboost-distributed"}
    xgboost = runtimes["xgboost-distributed"].inputs
    assert xgboost["metadata"]["labels"] == {"trainer.kubeflow.org/framework": "xgboost"}
    assert xgboost["spec"]["mlPolicy"] == {"numNodes": 1, "xgboost": {}}
    [node] = xgboost["spec"]["template"]["spec"]["replicatedJobs"]
    assert node["template"]["spec"]["template"]["spec"]["containers"] == [
        {"name": "node", "image": "ghcr.io/kubeflow/trainer/xgboost-runtime:v2.3.0"}
    ]
    assert all(_depends(monitor, r, "dev-trainer-kubeflow-trainer") for r in runtimes.values())


def test_an_mpi_runtime_is_the_charts_launcher_and_sshd_nodes(plan):
    monitor = plan(lambda: Trainer("dev-trainer", TrainerArgs(runtimes=("deepspeed-distributed",))))
    [deepspeed] = [
        r for r in monitor.of_type(CLUSTER_TRAINING_RUNTIME) if r.inputs["metadata"]["name"] != "torch-distributed"
    ]
    spec = deepspeed.inputs["spec"]
    assert spec["mlPolicy"]["mpi"]["runLauncherAsNode"] is True
    node, launcher = spec["template"]["spec"]["replicatedJobs"]
    assert (node["name"], launcher["name"], launcher["dependsOn"]) == (
        "node",
        "launcher",
        [{"name": "node", "status": "Ready"}],
    )
    assert node["template"]["spec"]["template"]["spec"]["containers"][0]["command"] == ["/usr/sbin/sshd"]
    assert launcher["template"]["metadata"]["labels"] == {"trainer.kubeflow.org/trainjob-ancestor-step": "trainer"}


def test_keda_is_pinned(plan):
    monitor = plan(lambda: Keda("prod-keda", KedaArgs()))
    release = _releases(monitor)["keda"]
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
    from mlplatform.images import TRAINER_RUNTIME_IMAGES
    from mlplatform.infra.trainer import RUNTIMES
    from mlplatform.rules import TRAINER_BUILTIN_RUNTIMES

    assert set(TRAINER_BUILTIN_RUNTIMES) == set(RUNTIMES) == set(TRAINER_RUNTIME_IMAGES)
    assert set(TRAINER_RUNTIMES.values()) <= set(RUNTIMES)


# ---------------------------------------------------------------- the Prometheus KEDA's triggers query

SCALED_OBJECT = "ScaledObject"
# The labels istiod puts on the pods of the proxy it deploys for a Gateway, and their container ports
# (istio/istio release-1.31 manifests/charts/istio-control/istio-discovery/files/kube-gateway.yaml).
GATEWAY_POD_LABELS = {
    "sidecar.istio.io/inject": "false",
    "service.istio.io/canonical-name": "kserve-ingress-gateway-istio",
    "service.istio.io/canonical-revision": "latest",
    "gateway.networking.k8s.io/gateway-name": "kserve-ingress-gateway",
    "gateway.networking.k8s.io/gateway-class-name": "istio",
    "gateway.istio.io/managed": "istio.io-gateway-controller",
}
GATEWAY_POD_PORTS = (15020, 15021, 15090)


def _prometheus(monitor) -> dict:
    return _releases(monitor)["keda-prometheus"].inputs


def _targets(job: dict, namespace: str, labels: dict, ports) -> list[dict]:
    """What Prometheus keeps of a pod for `job` (kubernetes_sd_configs role pod: one target per declared container
    port, pod labels as `__meta_kubernetes_pod_label_<name>` with characters outside [a-zA-Z0-9_] made `_`;
    `keep` joins the source labels with `;` and keeps a full match of the regex)."""
    [sd] = job["kubernetes_sd_configs"]
    if sd["role"] != "pod" or namespace not in sd["namespaces"]["names"]:
        return []
    pod = {f"__meta_kubernetes_pod_label_{re.sub(r'[^a-zA-Z0-9_]', '_', k)}": v for k, v in labels.items()}
    kept = []
    for port in ports:
        target = {**pod, "__meta_kubernetes_pod_container_port_number": str(port)}
        rules = job["relabel_configs"]
        if all(
            re.fullmatch(rule["regex"], ";".join(target.get(label, "") for label in rule["source_labels"]))
            for rule in rules
            if rule["action"] == "keep"
        ):
            kept.append(target)
    return kept


def test_keda_installs_a_pinned_server_only_prometheus_that_scrapes_only_the_gateway(plan):
    monitor = plan(lambda: Keda("prod-keda", KedaArgs()))
    prometheus = _prometheus(monitor)
    assert (prometheus["chart"], prometheus["version"], prometheus["namespace"]) == (
        "prometheus",
        "29.27.0",
        "monitoring",
    )
    assert prometheus["repositoryOpts"]["repo"] == "https://prometheus-community.github.io/helm-charts"
    values = prometheus["values"]
    for subchart in ("alertmanager", "kube-state-metrics", "prometheus-node-exporter", "prometheus-pushgateway"):
        assert values[subchart] == {"enabled": False}
    enabled = [job for job, spec in values["scrapeConfigs"].items() if spec.get("enabled", True)]
    assert enabled == ["kserve-gateway"]
    server = values["server"]
    assert server["persistentVolume"] == {"enabled": False} and server["retention"] == "2h"
    # rate(...[1m]) needs two samples a minute.
    assert server["global"]["scrape_interval"] == "15s"
    assert server["securityContext"]["runAsNonRoot"] is True and server["securityContext"]["runAsUser"] == 65534
    assert server["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    for container in (
        server["containerSecurityContext"],
        values["configmapReload"]["prometheus"]["containerSecurityContext"],
    ):
        assert container["allowPrivilegeEscalation"] is False and container["capabilities"] == {"drop": ["ALL"]}
    outputs = monitor.named("prod-keda").outputs
    assert outputs["prometheusAddress"] == "http://keda-prometheus-server.monitoring.svc.cluster.local:80"


def test_the_scrape_job_keeps_the_gateway_proxy_on_istios_merged_metrics_port(plan):
    job = _prometheus(plan(lambda: Keda("prod-keda", KedaArgs())))["values"]["scrapeConfigs"]["kserve-gateway"]
    assert job["metrics_path"] == "/stats/prometheus"
    [kept] = _targets(job, "kserve", GATEWAY_POD_LABELS, GATEWAY_POD_PORTS)
    assert kept["__meta_kubernetes_pod_container_port_number"] == "15020"
    # Another Gateway's proxy, the same proxy in another namespace: not scraped.
    other = {**GATEWAY_POD_LABELS, "gateway.networking.k8s.io/gateway-name": "other"}
    assert _targets(job, "kserve", other, GATEWAY_POD_PORTS) == []
    assert _targets(job, "istio-system", GATEWAY_POD_LABELS, GATEWAY_POD_PORTS) == []
    # Violating: a job keyed on a label istiod does not set keeps nothing.
    wrong = {
        **job,
        "relabel_configs": [
            {**job["relabel_configs"][0], "source_labels": ["__meta_kubernetes_pod_label_gateway_name"]}
        ],
    }
    assert _targets(wrong, "kserve", GATEWAY_POD_LABELS, GATEWAY_POD_PORTS) == []


def unresolved_triggers(result) -> list[str]:
    """Each KEDA prometheus trigger whose serverAddress names no Service the plan creates, itself or through a
    release of the prometheus chart (whose Services `keda.chart_services` lists, on `server.service.servicePort`)."""
    services = {
        (m["metadata"].get("namespace"), m["metadata"]["name"], port["port"])
        for m in result.manifests
        if m["kind"] == "Service"
        for port in m["spec"].get("ports", [])
    }
    for package in result.packages:
        if (package.get("chart"), package.get("repositoryOpts", {}).get("repo")) == (
            keda.PROMETHEUS.chart,
            keda.PROMETHEUS.repo,
        ):
            port = package["values"]["server"]["service"]["servicePort"]
            services |= {(package["namespace"], name, port) for name in keda.chart_services(package["name"])}
    problems = []
    for manifest in result.manifests:
        if manifest["kind"] != SCALED_OBJECT:
            continue
        for trigger in manifest["spec"]["triggers"]:
            address = urlsplit(trigger["metadata"]["serverAddress"])
            # <service>.<namespace>.svc[.cluster.local]
            host = (address.hostname or "").split(".")
            port = address.port or {"http": 80, "https": 443}[address.scheme]
            if host[2:3] != ["svc"] or (host[1], host[0], port) not in services:
                problems.append(f"{manifest['metadata']['name']}: {address.geturl()}")
    return problems


def _scaled_objects(result) -> list[dict]:
    return [m for m in result.manifests if m["kind"] == SCALED_OBJECT]


def test_every_keda_trigger_of_the_prod_plan_queries_a_prometheus_the_plan_installs(shipped):
    result = shipped("prod")
    assert _scaled_objects(result), "prod scales its LLM with KEDA"
    assert unresolved_triggers(result) == []
    # Violating: the address prod once carried (Prometheus Operator's Service, which nothing in the plan creates).
    mutated = copy.deepcopy(result)
    for manifest in _scaled_objects(mutated):
        manifest["spec"]["triggers"][0]["metadata"]["serverAddress"] = "http://prometheus-operated.monitoring.svc:9090"
    assert len(unresolved_triggers(mutated)) == len(_scaled_objects(result))


def test_every_llm_that_scales_queries_the_same_installed_prometheus(project):
    path = project / "Pulumi.prod.yaml"
    document = yaml.safe_load(path.read_text())
    servings = document["config"]["ml-platform:servings"]
    chat = copy.deepcopy(servings["assistant"])
    # One GPU a replica (the team's quota holds both LLMs); scales without going to zero.
    chat["llm"].update(gpus=1, scaling={"minReplicas": 1, "maxReplicas": 2})
    servings["chat"] = chat
    path.write_text(yaml.safe_dump(document))
    result = run_preview("prod", project)
    addresses = {
        m["metadata"]["name"]: m["spec"]["triggers"][0]["metadata"]["serverAddress"] for m in _scaled_objects(result)
    }
    assert set(addresses) == {"assistant", "chat"}
    assert set(addresses.values()) == {"http://keda-prometheus-server.monitoring.svc.cluster.local:80"}
    assert unresolved_triggers(result) == []
