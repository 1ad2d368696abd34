"""pod-hardening and notebook-sso on engine-shaped resources."""

from mlpolicies.hardening import notebook_sso, pod_hardening
from policy_harness import UNKNOWN, check, check_stack, container, deployment, resource_args, stack_resource

DEPLOYMENT = "kubernetes:apps/v1:Deployment"
SELDON = "kubernetes:machinelearning.seldon.io/v1:SeldonDeployment"
TFJOB = "kubernetes:kubeflow.org/v1:TFJob"
TRAIN_JOB = "kubernetes:trainer.kubeflow.org/v1alpha1:TrainJob"
INFERENCE_SERVICE = "kubernetes:serving.kserve.io/v1beta1:InferenceService"
NOTEBOOK = "kubernetes:kubeflow.org/v1:Notebook"
POD_CONTEXT = {"runAsNonRoot": True, "runAsUser": 1000, "seccompProfile": {"type": "RuntimeDefault"}}
CONTAINER_CONTEXT = {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}}


def hardened(name="main") -> dict:
    return container(name, securityContext=dict(CONTAINER_CONTEXT))


def trainjob(pod: dict | None) -> dict:
    spec: dict = {"trainer": {"image": "team/train:v1", "numNodes": 2}}
    if pod is not None:
        job = {"name": "node", "template": {"spec": {"template": {"spec": pod}}}}
        spec["runtimePatches"] = [
            {
                "manager": "mlplatform.io/ml-platform",
                "trainingRuntimeSpec": {"template": {"spec": {"replicatedJobs": [job]}}},
            }
        ]
    return {"metadata": {"name": "color"}, "spec": spec}


# ------------------------------------------------------------------ pod-hardening


def test_hardened_pods_pass_in_every_workload_kind():
    assert check(pod_hardening, resource_args(DEPLOYMENT, deployment(hardened(), securityContext=POD_CONTEXT))) == []
    worker = {
        "replicas": 2,
        "template": {"spec": {"containers": [hardened("tensorflow")], "securityContext": POD_CONTEXT}},
    }
    tfjob = {"metadata": {"name": "t"}, "spec": {"tfReplicaSpecs": {"Worker": worker}}}
    assert check(pod_hardening, resource_args(TFJOB, tfjob)) == []
    component = {"spec": {"containers": [hardened("model")], "securityContext": POD_CONTEXT}}
    seldon = {"metadata": {"name": "color"}, "spec": {"predictors": [{"name": "v1", "componentSpecs": [component]}]}}
    assert check(pod_hardening, resource_args(SELDON, seldon)) == []
    patch = {"containers": [{"name": "node", "securityContext": CONTAINER_CONTEXT}], "securityContext": POD_CONTEXT}
    assert check(pod_hardening, resource_args(TRAIN_JOB, trainjob(patch))) == []
    predictor = {"name": "v1", "securityContext": POD_CONTEXT, "model": {"securityContext": CONTAINER_CONTEXT}}
    assert (
        check(
            pod_hardening,
            resource_args(INFERENCE_SERVICE, {"metadata": {"name": "s"}, "spec": {"predictor": predictor}}),
        )
        == []
    )


def test_container_level_fields_satisfy_the_pod_level_rules():
    context = {**CONTAINER_CONTEXT, "runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}}
    props = deployment(container("main", securityContext=context))
    assert check(pod_hardening, resource_args(DEPLOYMENT, props)) == []


def test_a_pod_without_security_context_is_reported_with_every_missing_field():
    [message] = check(pod_hardening, resource_args(DEPLOYMENT, deployment(container("web"))))

    assert message.startswith("Deployment subject pod template: ")
    assert "container 'web' may run as root" in message
    annotated = deployment(container("web")) | {
        "metadata": {"annotations": {"mlplatform.io/config-path": "webServices.web"}}
    }
    [message] = check(pod_hardening, resource_args(DEPLOYMENT, annotated))
    assert message.startswith("webServices.web: container 'web' may run as root")
    assert message.endswith("(Deployment subject pod template).")
    assert "no seccompProfile RuntimeDefault" in message
    assert "allowPrivilegeEscalation: false" in message
    assert "does not drop ALL capabilities" in message


def test_root_privileged_and_added_capabilities_are_reported():
    context = {**CONTAINER_CONTEXT, "privileged": True, "capabilities": {"drop": ["ALL"], "add": ["NET_RAW"]}}
    pod = {**POD_CONTEXT, "runAsUser": 0}
    [message] = check(
        pod_hardening,
        resource_args(DEPLOYMENT, deployment(container("web", securityContext=context), securityContext=pod)),
    )

    assert "runs as user 0" in message
    assert "is privileged" in message
    assert "adds capabilities NET_RAW" in message


def test_an_unhardened_seldon_predictor_and_a_trainjob_without_patch_are_reported():
    component = {"spec": {"containers": [container("model")]}}
    seldon = {"metadata": {"name": "color"}, "spec": {"predictors": [{"name": "v1", "componentSpecs": [component]}]}}
    [message] = check(pod_hardening, resource_args(SELDON, seldon))
    assert "predictor v1 componentSpecs[0]" in message

    [message] = check(pod_hardening, resource_args(TRAIN_JOB, trainjob(None)))
    assert "its nodes get no securityContext" in message


def test_values_unknown_during_preview_are_not_reported():
    props = deployment(hardened(), securityContext={**POD_CONTEXT, "runAsUser": UNKNOWN})
    assert check(pod_hardening, resource_args(DEPLOYMENT, props)) == []


# ------------------------------------------------------------------ notebook-sso


def notebook(annotations=None) -> dict:
    return {"metadata": {"name": "alice", "annotations": annotations or {}}, "spec": {"template": {"spec": {}}}}


def proxy(args: list) -> dict:
    return deployment(container("oauth2-proxy", args=args))


GUARD = ["--provider=oidc", "--upstream=http://alice.notebooks.svc.cluster.local:80/", "--allowed-group=ml"]


def test_a_prod_notebook_behind_its_proxy_passes():
    resources = [
        stack_resource(NOTEBOOK, notebook({"mlplatform.io/sso-proxy": "alice-sso"}), name="alice-notebook"),
        stack_resource(DEPLOYMENT, proxy(GUARD), name="alice-sso-deployment"),
    ]
    assert check_stack(notebook_sso, resources) == []


def test_a_prod_notebook_without_sso_is_a_violation():
    [message] = check_stack(notebook_sso, [stack_resource(NOTEBOOK, notebook(), name="alice-notebook")])

    assert message.startswith("Notebook alice: a prod notebook is reached only through single sign-on")
    annotated = notebook({"mlplatform.io/config-path": "notebooks.alice"})
    [message] = check_stack(notebook_sso, [stack_resource(NOTEBOOK, annotated, name="alice-notebook")])
    assert message.startswith("notebooks.alice: a prod notebook is reached only through single sign-on")
    assert message.endswith("for this stack (Notebook alice).")


def test_a_proxy_without_an_allow_list_or_for_another_notebook_does_not_count():
    open_proxy = [a for a in GUARD if not a.startswith("--allowed-group")]
    other = [a.replace("alice.", "bob.") for a in GUARD]
    for args in (open_proxy, other):
        resources = [stack_resource(NOTEBOOK, notebook()), stack_resource(DEPLOYMENT, proxy(args), name="p")]
        assert len(check_stack(notebook_sso, resources)) == 1


def test_a_dev_notebook_without_sso_is_not_reported():
    assert check_stack(notebook_sso, [stack_resource(NOTEBOOK, notebook(), stack="dev")]) == []
