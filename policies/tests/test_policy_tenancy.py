"""Tenancy policy: a namespace that runs workloads has a default-deny NetworkPolicy, a ResourceQuota and a PSA label."""

from mlpolicies.tenancy import namespaces_fenced
from policy_harness import check_stack, stack_resource

SELDON = "kubernetes:machinelearning.seldon.io/v1:SeldonDeployment"


def namespace(name: str, enforce: str | None = "baseline"):
    labels = {"pod-security.kubernetes.io/enforce": enforce} if enforce else {}
    return stack_resource("kubernetes:core/v1:Namespace", {"metadata": {"name": name, "labels": labels}}, name=name)


def fence(name: str, pod_selector: dict | None = None):
    return [
        stack_resource(
            "kubernetes:networking.k8s.io/v1:NetworkPolicy",
            {
                "metadata": {"name": "default-deny", "namespace": name},
                "spec": {"podSelector": pod_selector or {}, "policyTypes": ["Ingress", "Egress"]},
            },
            name=f"{name}-deny",
        ),
        stack_resource(
            "kubernetes:core/v1:ResourceQuota",
            {"metadata": {"name": "team-quota", "namespace": name}, "spec": {"hard": {"requests.cpu": "64"}}},
            name=f"{name}-quota",
        ),
    ]


def serving(namespace_name: str = "models", name: str = "color", path: str | None = None):
    metadata = {"name": name, "namespace": namespace_name}
    metadata |= {"annotations": {"mlplatform.io/config-path": path}} if path else {}
    return stack_resource(SELDON, {"metadata": metadata}, name=name)


def test_a_fenced_workload_namespace_passes():
    assert check_stack(namespaces_fenced, [namespace("models"), *fence("models"), serving()]) == []


def test_a_namespace_without_workloads_needs_no_fence():
    assert check_stack(namespaces_fenced, [namespace("empty", enforce=None)]) == []


def test_an_unfenced_workload_namespace_is_reported_with_what_it_lacks():
    [message] = check_stack(namespaces_fenced, [namespace("models", enforce=None), serving()])
    assert message.startswith("namespace 'models' runs workloads (SeldonDeployment color) but lacks ")
    assert "a NetworkPolicy selecting all its pods (default deny)" in message
    assert "a ResourceQuota" in message
    assert "`pod-security.kubernetes.io/enforce` label of baseline or restricted" in message


def test_a_policy_for_some_pods_or_a_privileged_namespace_does_not_fence():
    partial = fence("models", pod_selector={"matchLabels": {"app": "color"}})
    [message] = check_stack(namespaces_fenced, [namespace("models", "privileged"), *partial, serving()])
    assert "NetworkPolicy selecting all its pods" in message
    assert "ResourceQuota" not in message
    assert "label of baseline or restricted" in message


def test_a_workload_in_a_namespace_the_stack_does_not_create_is_reported():
    [message] = check_stack(namespaces_fenced, [*fence("models"), serving("elsewhere")])
    assert message.startswith("namespace 'elsewhere' runs workloads")


def test_workloads_are_named_by_their_config_entries():
    workloads = [serving(path="servings.color"), serving(name="style")]
    [message] = check_stack(namespaces_fenced, [namespace("models", enforce=None), *workloads])
    assert message.startswith("namespace 'models' runs workloads (servings.color, SeldonDeployment style) but lacks ")
