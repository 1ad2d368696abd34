"""GPU observability: the DCGM exporter on every GPU pool, scraped by the cloud's Prometheus, and the idle-GPU alert."""

import pytest
import yaml
from support import ack_stack, config_error, eks_stack

from mlplatform import pins
from mlplatform.config import parse
from mlplatform.conventions import GPU_NODE_LABEL, GPU_TAINT
from mlplatform.infra import gpu_monitoring
from mlplatform.infra.flows import monitors_gpus, platform_flows
from mlplatform.infra.gpu_monitoring import IdleThreshold
from mlplatform.infra.observability import Observability, ObservabilityArgs

THRESHOLD = IdleThreshold(utilization=15, minutes=90)
GPU_POOL = {"instanceTypes": ["g5.2xlarge"], "minSize": 0, "maxSize": 2, "gpu": True}


def _records(result, type_: str) -> list[dict]:
    return [record for record in result.resources if record["type"] == type_]


def _observability(plan, cloud: str, gpu: IdleThreshold | None = THRESHOLD):
    def program():
        Observability(
            "obs",
            ObservabilityArgs(
                cloud=cloud,
                cluster_id="cluster-1",
                cluster_name="prod-cluster",
                cluster_arn="arn:eks:prod",
                subnet_ids=["subnet-1"],
                gpu=gpu,
            ),
        )

    return plan(program)


def test_the_exporter_runs_on_gpu_nodes_only_tolerating_the_gpu_taint_hardened():
    values = gpu_monitoring.exporter_values()
    assert values["nodeSelector"] == dict([GPU_NODE_LABEL])
    assert values["tolerations"] == [{"key": GPU_TAINT[0], "operator": "Exists", "effect": GPU_TAINT[2]}]
    context = values["securityContext"]
    assert context["capabilities"] == {"add": ["SYS_ADMIN"], "drop": ["ALL"]}
    assert context["allowPrivilegeEscalation"] is False
    assert values["podSecurityContext"] == {"seccompProfile": {"type": "RuntimeDefault"}}
    assert values["serviceMonitor"] == {"enabled": False}  # no Prometheus operator: the cloud's path scrapes it


def test_prod_aws_installs_the_pinned_exporter_scrapes_it_and_alerts_on_idle_gpus(shipped):
    result = shipped("prod-aws")
    [release] = [p for p in result.packages if p.get("name") == gpu_monitoring.RELEASE]
    assert (release["chart"], release["version"]) == (pins.DCGM_EXPORTER.chart, pins.DCGM_EXPORTER.version)
    assert release["namespace"] == gpu_monitoring.NAMESPACE
    assert release["values"]["nodeSelector"] == dict([GPU_NODE_LABEL])
    [scraper] = _records(result, "aws:amp/scraper:Scraper")
    jobs = yaml.safe_load(scraper["inputs"]["scrapeConfiguration"])["scrape_configs"]
    assert gpu_monitoring.scrape_job() in jobs
    [rules] = _records(result, "aws:amp/ruleGroupNamespace:RuleGroupNamespace")
    [rule] = yaml.safe_load(rules["inputs"]["data"])["groups"][0]["rules"]
    assert rule["expr"].startswith("avg by (namespace) (DCGM_FI_DEV_GPU_UTIL{")
    assert rule["expr"].endswith("< 10") and rule["for"] == "60m"  # the config defaults


def test_alibaba_scrapes_the_exporter_with_a_pod_monitor_and_alerts_with_an_arms_rule(plan):
    monitor = _observability(plan, "alicloud")
    pod_monitor = yaml.safe_load(monitor.named("obs-gpu-metrics").inputs["configYaml"])
    assert pod_monitor["spec"]["namespaceSelector"] == {"matchNames": ["gpu-monitoring"]}
    # The exporter's `namespace` (the GPU's user) is kept, not renamed exported_namespace.
    assert pod_monitor["spec"]["podMetricsEndpoints"][0]["honorLabels"] is True
    rule = monitor.named("obs-idle-gpu").inputs
    assert rule["expression"] == (
        'avg by (namespace) (DCGM_FI_DEV_GPU_UTIL{namespace!="",namespace!="gpu-monitoring"}) < 15'
    )
    assert rule["duration"] == "90m"
    assert "{{ $labels.namespace }}" in rule["message"]


def test_aws_alert_rule_comes_from_config_and_no_gpu_pool_means_no_gpu_monitoring(plan):
    monitor = _observability(plan, "aws")
    [rule] = yaml.safe_load(monitor.named("obs-gpu-rules").inputs["data"])["groups"][0]["rules"]
    assert (rule["for"], rule["expr"][-4:]) == ("90m", "< 15")
    plain = _observability(plan, "aws", gpu=None)
    assert not plain.of_type("aws:amp/ruleGroupNamespace:RuleGroupNamespace")
    jobs = yaml.safe_load(plain.named("obs-seldon-metrics").inputs["scrapeConfiguration"])["scrape_configs"]
    assert "dcgm-exporter" not in [job["job_name"] for job in jobs]


def test_the_idle_threshold_is_config_with_its_bounds():
    settings = parse(eks_stack(nodePools={"gpu": GPU_POOL}, observability={"idleGpu": {"utilization": 5}}))
    assert (settings.observability.idle_gpu.utilization, settings.observability.idle_gpu.minutes) == (5, 60)
    error = config_error(eks_stack(observability={"idleGpu": {"minutes": 2000}}))
    assert "observability.idleGpu.minutes" in str(error)


@pytest.mark.parametrize("stack", [ack_stack, eks_stack])
def test_the_scraper_reaches_the_exporter_port_in_the_flows_table(stack):
    pool = GPU_POOL if stack is eks_stack else {**GPU_POOL, "instanceTypes": ["ecs.gn7i-c8g1.2xlarge"], "minSize": 1}
    settings = parse(stack(nodePools={"gpu": pool}))
    assert monitors_gpus(settings)
    flows = [flow for flow in platform_flows(settings) if flow.name.endswith("-scrapes-gpu-metrics")]
    assert flows and {flow.ports for flow in flows} == {(("TCP", gpu_monitoring.PORT),)}
    assert {flow.destination.namespace for flow in flows} == {gpu_monitoring.NAMESPACE}
    assert not monitors_gpus(parse(stack()))  # no GPU pool, no exporter, no flow
