"""images-pinned, container-resources, notebook-access and no-plaintext-secrets on engine-shaped resources."""

from mlpolicies.workloads import container_resources, images_pinned, no_plaintext_secrets, notebook_access
from policy_harness import CONFIG_PATH, UNKNOWN, check, container, deployment, predictor, resource_args, secret, seldon

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


def tfjob(image: str, path: str | None = "trainingJobs.color-training", **worker_container) -> dict:
    """The TFJob of config `trainingJobs.color-training` (`path`: None for one no config entry rendered)."""
    spec = container("tensorflow", image, **worker_container)
    worker = {"replicas": 3, "template": {"spec": {"containers": [spec]}}}
    metadata = {"name": "color-training"} | ({"annotations": {CONFIG_PATH: path}} if path else {})
    return {"metadata": metadata, "spec": {"tfReplicaSpecs": {"Worker": worker}}}


def notebook(*containers: dict, annotations=None) -> dict:
    metadata = {"name": "data-science", "annotations": {CONFIG_PATH: "notebooks.data-science", **(annotations or {})}}
    return {"metadata": metadata, "spec": {"template": {"spec": {"containers": list(containers)}}}}


def web_deployment(*containers: dict) -> dict:
    """The Deployment of config `webServices.web`."""
    return deployment(*containers) | {"metadata": {"name": "web", "annotations": {CONFIG_PATH: "webServices.web"}}}


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
    assert message == (
        "trainingJobs.color-training.image: image 'fogdong/train-color:latest' uses the moving tag 'latest'; pin it "
        "to a release tag (e.g. fogdong/train-color:v1.2.3) or an @sha256 digest "
        "(TFJob color-training Worker replicas container 'tensorflow')."
    )
    [message] = check(images_pinned, resource_args(NOTEBOOK, notebook(container(image="localhost:5000/jupyter"))))
    assert message.startswith("notebooks.data-science.image: image 'localhost:5000/jupyter' has no tag")
    predictors = [predictor(path="servings.color.predictors[0]"), predictor("v2", path="servings.color.predictors[1]")]
    predictors[1]["componentSpecs"][0]["spec"]["containers"][0]["image"] = "team/color"
    [message] = check(images_pinned, resource_args(SELDON, seldon(*predictors)))
    assert message.startswith("servings.color.predictors[1].image: image 'team/color' has no tag")
    # An object no config entry rendered is named by its own fields.
    [message] = check(images_pinned, resource_args(TFJOB, tfjob("train:latest", path=None), name="color-training"))
    assert message.startswith("TFJob color-training Worker replicas container 'tensorflow': image 'train:latest'")


def test_an_image_unknown_during_preview_is_not_reported():
    assert check(images_pinned, resource_args(DEPLOYMENT, deployment(container(image=UNKNOWN)))) == []


# ------------------------------------------------------------------ container-resources


def test_requests_and_limits_for_cpu_and_memory_pass():
    assert check(container_resources, resource_args(DEPLOYMENT, deployment(container()))) == []


def test_missing_limits_are_named():
    bare = container()
    del bare["resources"]["limits"]
    [message] = check(container_resources, resource_args(DEPLOYMENT, web_deployment(bare), name="web"))
    assert message.startswith("webServices.web.resources: the container has no limits.cpu, limits.memory;")
    assert message.endswith("(Deployment web pod template container 'main' resources).")
    [message] = check(container_resources, resource_args(TFJOB, tfjob("train:v1", resources={})))
    assert message.startswith("trainingJobs.color-training.roles.Worker.resources: the container has no requests.cpu")


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
    assert "SeldonDeployment color predictor v1 componentSpecs: the prepackaged server 'classifier' runs" in message
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
        assert message.startswith("notebooks.data-science: the notebook turns Jupyter authentication off")
        assert message.endswith("(Notebook data-science container 'main').")


def test_exposed_notebook_is_reported():
    exposed = notebook(container(), annotations={"mlplatform.io/expose": "true"})
    [message] = check(notebook_access, resource_args(NOTEBOOK, exposed, name="data-science"))
    assert message == (
        "notebooks.data-science.expose: notebooks are reached through the Kubeflow dashboard, `kubectl port-forward` "
        "or notebookSso; turn expose off or configure notebookSso "
        "(Notebook data-science annotation mlplatform.io/expose: 'true')."
    )
    service = {
        "metadata": {"annotations": {CONFIG_PATH: "notebooks.data-science"}},
        "spec": {"type": "LoadBalancer", "selector": {"notebook-name": "data-science"}},
    }
    [message] = check(notebook_access, resource_args(SERVICE, service, name="nb"))
    assert message.startswith("notebooks.data-science.expose: a LoadBalancer service exposes notebook 'data-science'")
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
    assert message.startswith("Deployment web pod template container 'main' env OSS_ACCESS_KEY_SECRET: a credential")
    assert "secretKeyRef" in message
    [message] = check(no_plaintext_secrets, resource_args(TFJOB, tfjob("train:v1", env=env)))
    assert message.startswith(
        "trainingJobs.color-training.env.OSS_ACCESS_KEY_SECRET: a credential in a plain env value"
    )


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
