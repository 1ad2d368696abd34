"""The pack on Katib Experiments: their trials' pods are judged as the training job they are, and an Experiment's
namespace must be fenced like any workload's."""

from mlpolicies.hardening import pod_hardening
from mlpolicies.tenancy import WORKLOAD_KINDS
from policy_harness import check, container, resource_args

EXPERIMENT = "kubernetes:kubeflow.org/v1beta1:Experiment"
CONFIG_PATH = "mlplatform.io/config-path"
POD_CONTEXT = {"runAsNonRoot": True, "runAsUser": 1000, "seccompProfile": {"type": "RuntimeDefault"}}
CONTAINER_CONTEXT = {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}}


def experiment(trial_container: dict, pod_context: dict | None) -> dict:
    pod = {"containers": [trial_container], **({"securityContext": pod_context} if pod_context else {})}
    trial = {
        "apiVersion": "kubeflow.org/v1",
        "kind": "TFJob",
        "spec": {"tfReplicaSpecs": {"Worker": {"replicas": 1, "template": {"spec": pod}}}},
    }
    return {
        "metadata": {
            "name": "color-tuning",
            "namespace": "training",
            "annotations": {CONFIG_PATH: "experiments.color-tuning"},
        },
        "spec": {"trialTemplate": {"primaryContainerName": "tensorflow", "trialSpec": trial}},
    }


def test_an_experiment_is_a_workload_kind():
    assert "Experiment" in WORKLOAD_KINDS


def test_hardened_trials_pass():
    hardened = container("tensorflow", securityContext=dict(CONTAINER_CONTEXT))
    assert check(pod_hardening, resource_args(EXPERIMENT, experiment(hardened, POD_CONTEXT))) == []


def test_unhardened_trials_are_reported_at_the_experiments_trial():
    [message] = check(pod_hardening, resource_args(EXPERIMENT, experiment(container("tensorflow"), None)))
    assert "experiments.color-tuning.trial" in message
    assert "Worker replicas" in message and "may run as root" in message
