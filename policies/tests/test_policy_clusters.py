"""Cluster policies: Kubernetes support from the version catalog, and a private API endpoint in prod."""

import pytest
from mlpolicies.clusters import kubernetes_end_of_support, kubernetes_support_window, private_api_endpoint
from policy_harness import check, resource_args

ACK = "alicloud:cs/managedKubernetes:ManagedKubernetes"
EKS = "aws:eks/cluster:Cluster"


@pytest.fixture(autouse=True)
def today(monkeypatch):
    monkeypatch.setenv("MLP_TODAY", "2026-11-30")


def test_a_supported_version_passes_and_an_ended_one_is_reported():
    assert check(kubernetes_end_of_support, resource_args(ACK, {"version": "1.36.1-aliyun.1"}, name="ack")) == []
    [message] = check(kubernetes_end_of_support, resource_args(ACK, {"version": "1.34.1-aliyun.1"}, name="ack"))
    assert (
        message
        == "ManagedKubernetes ack runs Kubernetes 1.34.1-aliyun.1, whose support on alicloud ended 2026-09-30; upgrade it."
    )
    [message] = check(kubernetes_end_of_support, resource_args(EKS, {"version": "1.29"}, name="eks"))
    assert "which aws does not list as supported" in message


def test_the_end_is_judged_on_the_day_it_is_run(monkeypatch):
    monkeypatch.setenv("MLP_TODAY", "2027-04-01")
    [message] = check(kubernetes_end_of_support, resource_args(EKS, {"version": "1.35"}, name="eks"))
    assert "ended 2027-03-27" in message


def test_the_support_window_warns_within_90_days():
    [message] = check(kubernetes_support_window, resource_args(EKS, {"version": "1.34"}, name="eks"))
    assert message == (
        "Cluster eks runs Kubernetes 1.34, whose support on aws ends in 2 days (2026-12-02, counted from 2026-11-30); "
        "plan the upgrade."
    )
    assert check(kubernetes_support_window, resource_args(EKS, {"version": "1.35"})) == []  # 117 days left


def test_a_private_or_cidr_restricted_api_endpoint_passes_in_prod():
    private = {"vpcConfig": {"endpointPublicAccess": False, "endpointPrivateAccess": True}}
    assert check(private_api_endpoint, resource_args(EKS, private)) == []
    restricted = {"vpcConfig": {"endpointPublicAccess": True, "publicAccessCidrs": ["203.0.113.0/24"]}}
    assert check(private_api_endpoint, resource_args(EKS, restricted)) == []
    assert check(private_api_endpoint, resource_args(ACK, {"slbInternetEnabled": False})) == []


def test_an_api_endpoint_open_to_the_internet_is_reported_in_prod_only():
    open_eks = {"vpcConfig": {"endpointPublicAccess": True}}
    [message] = check(private_api_endpoint, resource_args(EKS, open_eks, name="eks"))
    assert message.startswith("Cluster eks has a public API endpoint open to 0.0.0.0/0")
    [message] = check(private_api_endpoint, resource_args(ACK, {"slbInternetEnabled": True}, name="ack"))
    assert "exposes its API server on the internet" in message
    assert check(private_api_endpoint, resource_args(EKS, open_eks, stack="dev")) is None  # not applicable
