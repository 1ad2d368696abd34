"""The platform works as a whole on its network: every flow of mlplatform/infra/flows.py is permitted, and the
metadata services forbidden, by the NetworkPolicies the plan renders, as network-config-analyzer judges them."""

import copy
from pathlib import Path
from urllib.parse import urlparse

import pytest
import yaml
from network import Judge, plan_namespaces

from mlplatform.infra.flows import BLOCKED, CLOUD_NAMESPACES, platform_flows
from mlplatform.offline import stackfiles
from mlplatform.offline.preview import run_preview

ROOT = Path(__file__).resolve().parents[2]
STACKS = ("dev", "prod", "dev-aws", "prod-aws")


def settings_of(stack: str, project=ROOT):
    return stackfiles.load(project, stack).settings()


@pytest.fixture(scope="module")
def judges(shipped):
    made = {}

    def judge(stack: str) -> tuple[Judge, tuple]:
        if stack not in made:
            settings = settings_of(stack)
            result = shipped(stack)
            flows = platform_flows(settings)
            made[stack] = Judge(settings, result.manifests, result.packages, flows), flows
        return made[stack]

    return judge


@pytest.mark.parametrize("stack", STACKS)
def test_every_flow_is_permitted_by_the_rendered_policies(judges, stack):
    judge, flows = judges(stack)
    verdicts = {flow.name: judge.permits(flow) for flow in flows}
    assert {name: verdict for name, verdict in verdicts.items() if verdict} == {}
    assert {"dns", "same-namespace", "https"} <= set(verdicts)


@pytest.mark.parametrize("stack", STACKS)
def test_the_instance_metadata_stays_forbidden(judges, stack):
    judge, _ = judges(stack)
    assert {flow.name: judge.forbids(flow) for flow in BLOCKED if judge.forbids(flow)} == {}


@pytest.mark.parametrize("stack", STACKS)
def test_every_namespace_a_flow_names_is_in_the_plan_or_made_by_the_cloud(shipped, stack):
    settings, result = settings_of(stack), shipped(stack)
    planned = set(plan_namespaces(result.manifests, result.packages, settings.cloud)) - set(
        CLOUD_NAMESPACES[settings.cloud]
    )
    for flow in platform_flows(settings):
        for peer in (flow.source, flow.destination):
            if peer.namespace:
                assert peer.namespace in planned | set(CLOUD_NAMESPACES[settings.cloud]), flow.name


def test_the_managed_scraper_on_aws_reaches_the_seldon_metrics_port_from_the_private_subnets(judges):
    _, flows = judges("prod-aws")
    scrapes = [flow for flow in flows if flow.name.startswith("managed-prometheus")]
    assert [flow.source.cidr for flow in scrapes] == ["10.40.0.0/20", "10.40.16.0/20", "10.40.32.0/20"]
    assert {flow.ports for flow in scrapes} == {(("TCP", "metrics"),)}


def _absent_on_ask(flows) -> list[str]:
    """The flows naming an in-cluster end ASK does not run: the ARMS agent's namespace, kube-system's pods
    (managed CoreDNS)."""
    return [
        flow.name
        for flow in flows
        for peer in (flow.source, flow.destination)
        if peer.namespace == "arms-prom" or (peer.namespace == "kube-system" and peer.pods)
    ]


def test_on_ask_the_managed_scraper_comes_from_the_arms_vswitch_and_no_flow_names_what_ask_does_not_run(
    judges, shipped
):
    judge, flows = judges("dev")
    settings = settings_of("dev")
    assert settings.cluster.kind == "serverless"
    assert _absent_on_ask(flows) == []
    [scrape] = [flow for flow in flows if flow.name.startswith("managed-prometheus")]
    # The ARMS instance's vSwitch is the first zone's (observability.arms_vswitch): 10.10.1.0/24 in Pulumi.dev.yaml.
    assert scrape.source.cidr == settings.cluster.network.zones[0].cidr == "10.10.1.0/24"
    assert scrape.destination.kinds == ("models",)
    assert scrape.ports == (("TCP", "metrics"),)
    assert judge.permits(scrape) is None
    policies = [m for m in shipped("dev").manifests if m.get("kind") == "NetworkPolicy"]
    assert policies
    assert "arms-prom" not in str(policies) and "kube-dns" not in str(policies)


def test_on_ack_managed_the_in_cluster_agent_and_coredns_pods_are_what_the_ask_check_catches(judges):
    _, flows = judges("prod")
    assert set(_absent_on_ask(flows)) == {"arms-prom-scrapes-workloads", "arms-prom-scrapes-gpu-metrics", "dns"}
    assert not [flow for flow in flows if flow.name.startswith("managed-prometheus")]


def _without(manifests: list[dict], drop) -> list[dict]:
    """The manifests with every NetworkPolicy rule for which `drop(rule)` is true removed."""
    changed = copy.deepcopy(manifests)
    for manifest in changed:
        if manifest.get("kind") == "NetworkPolicy":
            for direction in ("ingress", "egress"):
                if direction in manifest["spec"]:
                    manifest["spec"][direction] = [rule for rule in manifest["spec"][direction] if not drop(rule)]
    return changed


def _is_dns(rule: dict) -> bool:
    return any(port.get("port") == 53 for port in rule.get("ports", []))


def _from(prefix: str):
    def matches(rule: dict) -> bool:
        return any(peer.get("ipBlock", {}).get("cidr", "").startswith(prefix) for peer in rule.get("from", []))

    return matches


def _deny_all_in(namespace: str):
    def change(manifests: list[dict]) -> list[dict]:
        deny = {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}
        policy = {"kind": "NetworkPolicy", "metadata": {"name": "deny", "namespace": namespace}, "spec": deny}
        return [*manifests, {"apiVersion": "networking.k8s.io/v1", **policy}]

    return change


@pytest.mark.parametrize(
    ("stack", "flow_prefix", "change"),
    [
        ("dev", "dns", lambda manifests: _without(manifests, _is_dns)),
        ("prod-aws", "managed-prometheus", lambda manifests: _without(manifests, _from("10.40."))),
        ("dev", "managed-prometheus", lambda manifests: _without(manifests, _from("10.10.1."))),
        ("prod", "dns", _deny_all_in("kube-system")),  # a fence on the platform's side counts too
        ("prod", "keda-queries-prometheus", _deny_all_in("monitoring")),
    ],
)
def test_a_flow_the_policies_block_fails_with_the_connection_named(shipped, stack, flow_prefix, change):
    settings, result = settings_of(stack), shipped(stack)
    flows = platform_flows(settings)
    judge = Judge(settings, change(result.manifests), result.packages, flows)
    verdict = judge.permits(next(flow for flow in flows if flow.name.startswith(flow_prefix)))
    assert verdict is not None
    assert "does not permit" in verdict


def test_opening_the_metadata_service_is_caught(shipped):
    settings, result = settings_of("prod"), shipped("prod")
    opened = _without(result.manifests, lambda rule: False)
    for manifest in opened:
        for rule in manifest["spec"].get("egress", []) if manifest.get("kind") == "NetworkPolicy" else []:
            for peer in rule.get("to", []):
                peer.get("ipBlock", {}).pop("except", None)
    judge = Judge(settings, opened, result.packages, platform_flows(settings))
    assert judge.forbids(BLOCKED[0]) is not None


def test_a_web_service_in_training_reaches_the_gateway_its_serving_url_names(project):
    stack_file = project / "Pulumi.dev.yaml"
    document = yaml.safe_load(stack_file.read_text())
    document["config"]["ml-platform:webServices"]["color-client"]["namespace"] = "training"
    stack_file.write_text(yaml.safe_dump(document, sort_keys=False))
    settings = settings_of("dev", project)
    result = run_preview("dev", project)
    [client] = [
        m for m in result.manifests if m.get("kind") == "Deployment" and m["metadata"]["name"] == "color-client"
    ]
    assert client["metadata"]["namespace"] == "training"
    env = {e["name"]: e.get("value") for e in client["spec"]["template"]["spec"]["containers"][0]["env"]}
    host = urlparse(env["SERVING_URL"]).hostname
    gateway_namespace = host.split(".")[1]
    flows = platform_flows(settings)
    judge = Judge(settings, result.manifests, result.packages, flows)
    [to_gateway] = [f for f in flows if f.name == f"workloads-to-{gateway_namespace}"]
    assert to_gateway.source.covers("training")
    assert judge.permits(to_gateway) is None
