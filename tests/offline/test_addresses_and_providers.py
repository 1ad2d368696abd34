"""Day two: addresses are outputs of the load balancer Services the plan owns (never a read, never a placeholder
the program writes), and every Kubernetes provider carries a cluster identifier a kubeconfig change leaves alone."""

from types import SimpleNamespace
from urllib.parse import urlsplit

import pytest

from mlplatform.offline import engine
from mlplatform.offline.preview import run_preview
from mlplatform.workloads.addresses import load_balancer_address
from stacks.base import kubernetes_provider

STACKS = ("dev", "prod", "dev-aws", "prod-aws")
PROVIDER = "pulumi:providers:kubernetes"


@pytest.mark.parametrize("stack", STACKS)
def test_every_kubernetes_provider_names_its_cluster(shipped, stack):
    records = shipped(stack).resources
    providers = [r for r in records if r["type"] == PROVIDER]
    clusters = {r["urn"].rsplit("::", 1)[-1] for r in records if r["type"] == "mlplatform:cluster:Cluster"}
    assert providers and {r["inputs"].get("clusterIdentifier") for r in providers} == {f"{stack}-cluster"} == clusters


def test_a_new_kubeconfig_keeps_the_identifier(plan):
    def identifiers(kubeconfig):
        monitor = plan(lambda: kubernetes_provider("prod", kubeconfig), stack="prod")
        return [r.inputs.get("clusterIdentifier") for r in monitor.of_type(PROVIDER)]

    assert (
        identifiers("apiVersion: v1\nclusters: [a]") == identifiers("apiVersion: v1\nclusters: [b]") == ["prod-cluster"]
    )


def test_public_endpoints_are_the_addresses_of_the_load_balancers_the_plan_owns(monkeypatch):
    """Each LoadBalancer Service answers with an address of its own: the endpoints show which one they took."""
    cloud_outputs = engine._cloud_outputs

    def addressed(type_, name, inputs):
        outputs = cloud_outputs(type_, name, inputs)
        if "status" in outputs:
            outputs["status"] = {"loadBalancer": {"ingress": [{"hostname": f"{name}.elb.example"}]}}
        return outputs

    monkeypatch.setattr(engine, "_cloud_outputs", addressed)
    endpoints = run_preview("prod").outputs["publicEndpoints"]
    assert {name: urlsplit(url).hostname for name, url in endpoints.items()} == {
        "color": "prod-operators-ingress-lb.elb.example",
        "style": "prod-operators-ingress-lb.elb.example",
        "sentiment": "prod-kserve-gateway-lb.elb.example",
        "assistant": "prod-kserve-gateway-lb.elb.example",
    }


def _status(*ingress):
    return SimpleNamespace(load_balancer=SimpleNamespace(ingress=[SimpleNamespace(**i) for i in ingress]))


def test_the_address_is_the_first_ip_or_hostname():
    assert load_balancer_address(_status({"ip": None, "hostname": "a.elb.example"})) == "a.elb.example"
    assert load_balancer_address(_status({"ip": "10.0.0.7", "hostname": None})) == "10.0.0.7"


@pytest.mark.parametrize("status", [None, _status(), _status({"ip": None, "hostname": None})])
def test_a_service_without_an_address_is_an_error_not_a_placeholder(status):
    with pytest.raises(ValueError, match="no load balancer address"):
        load_balancer_address(status)
