"""images-pinned, container-resources, notebook-access and no-plaintext-secrets on engine-shaped resources."""

from mlpolicies.workloads import container_resources, images_pinned, no_plaintext_secrets, notebook_access
from policy_harness import UNKNOWN, check, container, deployment, predictor, resource_args, secret, seldon

DEPLOYMENT = "kubernetes:apps/v1:Deployment"
SELDON = "kubernetes:machinelearning.seldon.io/v1:SeldonDeployment"
TFJOB = "kubernetes:kubeflow.org/v1:TFJob"
NOTEBOOK = "kubernetes:kubeflow.org/v1:Notebook"
SERVICE = "kubernetes:core/v1:Service"
CONFIG_MAP = "kubernetes:core/v1:ConfigMap"
GPU_POD = {
    "tolerations": [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}],
    "nodeSelector": {"mlplatform.io/accelerator": "nvidia-gpu"},
}


def tfjob(image: str) -> dict:
    worker = {"replicas": 3, "template": {"spec": {"containers": [container("tensorflow", image)]}}}
    return {"metadata": {"name": "color-training"}, "spec": {"tfReplicaSpecs": {"Worker": worker}}}


def notebook(*containers: dict, annotations=None) -> dict:
    metadata = {"name": "data-science", "annotations": annotations or {}}
    return {"metadata": metadata, "spec": {"template": {"spec": {"containers": list(containers)}}}}


def gpu_container(request="1", limit="1") -> dict:
    spec = container("model")
    spec["resources"]["requests"]["nvidia.com/gpu"] = request
    spec["resources"]["limits"]["nvidia.com/gpu"] = limit
    return spec


# ------------------------------------------------------------------ images-pinned


def test_pinned_tags_and_digests_pass_in_training_serving_and_notebooks():
    digest = "repo/model@sha256:" + "a" * 64
    assert check(images_pinned, resource_args(TFJOB, tfjob("fogdong/train-color:v1"))) == []
    assert check(images_pinned, resource_args(NOTEBOOK, notebook(container(image=digest)))) == []
    assert check(images_pinned, resource_args(SELDON, seldon(predictor()))) == []


def test_latest_or_missing_tag_is_reported_with_the_container_and_the_fix():
    [message] = check(images_pinned, resource_args(TFJOB, tfjob("fogdong/train-color:latest"), name="color-training"))
    assert "TFJob color-training: Worker replicas container 'tensorflow'" in message
    assert "'latest'" in message and "pin it" in message
    [message] = check(images_pinned, resource_args(NOTEBOOK, notebook(container(image="localhost:5000/jupyter"))))
    assert "has no tag" in message


def test_an_image_unknown_during_preview_is_not_reported():
    assert check(images_pinned, resource_args(DEPLOYMENT, deployment(container(image=UNKNOWN)))) == []


# ------------------------------------------------------------------ container-resources


def test_requests_and_limits_for_cpu_and_memory_pass():
    assert check(container_resources, resource_args(DEPLOYMENT, deployment(container()))) == []


def test_missing_limits_are_named():
    bare = container()
    del bare["resources"]["limits"]
    [message] = check(container_resources, resource_args(DEPLOYMENT, deployment(bare), name="web"))
    assert "Deployment web: pod template container 'main' has no limits.cpu, limits.memory" in message


def test_gpu_pod_with_equal_request_and_limit_on_a_gpu_pool_passes():
    assert check(container_resources, resource_args(DEPLOYMENT, deployment(gpu_container(), **GPU_POD))) == []


def test_gpu_request_different_from_limit_is_reported():
    [message] = check(container_resources, resource_args(DEPLOYMENT, deployment(gpu_container("1", "2"), **GPU_POD)))
    assert "requests nvidia.com/gpu: 1 but limits it to 2" in message


def test_gpu_pod_without_toleration_and_node_selection_is_reported_twice():
    messages = check(container_resources, resource_args(DEPLOYMENT, deployment(gpu_container())))
    assert len(messages) == 2
    assert "does not tolerate the GPU pool taint (nvidia.com/gpu)" in messages[0]
    assert "does not select GPU nodes" in messages[1]


def test_prepackaged_seldon_server_needs_a_container_with_resources():
    served = predictor()
    served["graph"] = {"name": "classifier", "implementation": "TENSORFLOW_SERVER", "modelUri": "oss://m/color/v1"}
    [message] = check(container_resources, resource_args(SELDON, seldon(served), name="color"))
    assert "predictor v1 runs the prepackaged server 'classifier' without resources" in message
    served["componentSpecs"][0]["spec"]["containers"][0]["name"] = "classifier"
    assert check(container_resources, resource_args(SELDON, seldon(served))) == []


# ------------------------------------------------------------------ notebook-access


def test_notebook_with_default_authentication_passes():
    assert check(notebook_access, resource_args(NOTEBOOK, notebook(container(args=["--ServerApp.port=8888"])))) == []


def test_empty_token_flag_env_or_shell_command_is_reported():
    for jupyter in (
        container(args=["--ServerApp.token=''"]),
        container(args=["--NotebookApp.password", ""]),
        container(command=["sh", "-c", "jupyter lab --IdentityProvider.token='' --ip=0.0.0.0"]),
        container(env=[{"name": "JUPYTER_TOKEN", "value": ""}]),
    ):
        [message] = check(notebook_access, resource_args(NOTEBOOK, notebook(jupyter), name="data-science"))
        assert message.startswith("Notebook data-science: container 'main' turns Jupyter authentication off")


def test_exposed_notebook_is_reported():
    exposed = notebook(container(), annotations={"mlplatform.io/expose": "true"})
    [message] = check(notebook_access, resource_args(NOTEBOOK, exposed))
    assert "mlplatform.io/expose" in message
    service = {"spec": {"type": "LoadBalancer", "selector": {"notebook-name": "data-science"}}}
    [message] = check(notebook_access, resource_args(SERVICE, service, name="nb"))
    assert "Service nb exposes notebook 'data-science' through a LoadBalancer service" in message
    service["spec"]["type"] = "ClusterIP"
    assert check(notebook_access, resource_args(SERVICE, service)) == []


# ------------------------------------------------------------------ no-plaintext-secrets


def test_credentials_from_a_secret_ref_pass():
    ref = {"name": "AWS_SECRET_ACCESS_KEY", "valueFrom": {"secretKeyRef": {"name": "storage", "key": "secret"}}}
    plain_env = {"name": "SERVING", "value": "color"}
    assert check(no_plaintext_secrets, resource_args(DEPLOYMENT, deployment(container(env=[ref, plain_env])))) == []


def test_a_pulumi_secret_in_an_env_value_still_lands_in_plain_text_in_the_pod_spec():
    # The SDK unwraps secrets before validators run: the policy sees the value, not its secretness.
    env = [{"name": "OSS_ACCESS_KEY_SECRET", "value": secret("s3cr3t")}]
    [message] = check(no_plaintext_secrets, resource_args(DEPLOYMENT, deployment(container(env=env)), name="web"))
    assert "sets OSS_ACCESS_KEY_SECRET as a plain env value" in message and "secretKeyRef" in message


def test_a_credential_unknown_during_preview_is_not_reported():
    env = [{"name": "AWS_SECRET_ACCESS_KEY", "value": UNKNOWN}]
    assert check(no_plaintext_secrets, resource_args(DEPLOYMENT, deployment(container(env=env)))) == []


def test_credentials_in_a_config_map_are_reported():
    pem = "-----BEGIN RSA PRIVATE KEY-----\nMIIE...\n-----END RSA PRIVATE KEY-----"
    messages = check(no_plaintext_secrets, resource_args(CONFIG_MAP, {"data": {"db_password": "x", "tls": pem}}))
    assert any("key 'db_password' looks like a credential" in m for m in messages)
    assert any("data.tls holds a private key" in m for m in messages)


def test_a_kubernetes_secret_and_a_provider_kubeconfig_hold_credentials_legitimately():
    kubeconfig = "users:\n- name: admin\n  user:\n    client-key-data: LS0tLS1CRUdJTi=="
    secret_props = {"stringData": secret({"kubeconfig": kubeconfig})}
    assert check(no_plaintext_secrets, resource_args("kubernetes:core/v1:Secret", secret_props)) == []
    provider = {"kubeconfig": secret(kubeconfig)}
    assert check(no_plaintext_secrets, resource_args("pulumi:providers:kubernetes", provider)) == []
    leaked = {"metadata": {"annotations": {"config": kubeconfig}}}
    [message] = check(no_plaintext_secrets, resource_args(CONFIG_MAP, leaked))
    assert "metadata.annotations.config holds a private key or kubeconfig credential" in message
