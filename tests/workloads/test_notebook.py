"""Notebooks as the notebook controller receives them: workspace, GPU, authentication on, private by default."""

import json
import re

import pulumi
from support import s3_storage, strings

from mlplatform import validation as conformance
from mlplatform.config import Notebook as NotebookConfig
from mlplatform.offline import engine as offline
from mlplatform.offline.engine import SECRET_SIG, SIG_KEY
from mlplatform.workloads.notebook import Notebook, NotebookArgs
from mlplatform.workloads.scheduling import GpuScheduling

GPU = GpuScheduling(taint_key="pool", taint_value="gpu", node_selector={"pool": "gpu"})
STORAGE = s3_storage("mlp-datasets", "mlp-models")
IMAGE = "kubeflownotebookswg/jupyter-scipy:v1.9.0"
TOKEN = "generated-token-7f3a9c"


def render(plan, **overrides):
    notebook = NotebookConfig.model_validate({"image": IMAGE, **overrides})

    def program():
        Notebook("alice", NotebookArgs(notebook=notebook, namespace="notebooks", storage=STORAGE, gpu=GPU))

    return plan(program)


def notebook_pod(monitor) -> dict:
    [notebook] = monitor.of_type("kubernetes:kubeflow.org/v1:Notebook")
    return notebook.inputs["spec"]["template"]["spec"]


def test_notebook_is_accepted_with_its_workspace_volume_and_resources(plan):
    monitor = render(plan, volumeSize="20Gi", resources={"cpu": "2", "memory": "8Gi"})

    [notebook] = monitor.of_type("kubernetes:kubeflow.org/v1:Notebook")
    assert conformance.validate(notebook.inputs) == []
    assert notebook.inputs["metadata"]["name"] == "alice"
    assert notebook.inputs["metadata"]["namespace"] == "notebooks"
    [claim] = [c for c in monitor.of_type("kubernetes:core/v1:PersistentVolumeClaim") if c.name == "alice-workspace"]
    assert claim.inputs["spec"]["resources"]["requests"]["storage"] == "20Gi"
    assert claim.inputs["spec"]["storageClassName"] == "ml-platform-disk"
    pod = notebook_pod(monitor)
    [container] = pod["containers"]
    assert container["name"] == "alice"
    assert container["image"] == IMAGE
    assert container["resources"] == {
        "requests": {"cpu": "2", "memory": "8Gi"},
        "limits": {"cpu": "2", "memory": "8Gi"},
    }
    assert {"name": "workspace", "mountPath": "/home/jovyan"} in container["volumeMounts"]
    assert {"name": "workspace", "persistentVolumeClaim": {"claimName": claim.inputs["metadata"]["name"]}} in pod[
        "volumes"
    ]
    assert "tolerations" not in pod and "nodeSelector" not in pod


def test_the_users_home_outlives_the_notebook(plan):
    """Renaming, removing or moving the notebook leaves its workspace claim (and the class keeps the disk:
    tests/infra/test_workspace.py); the claim keeps the class name it always had, which is immutable on a claim."""
    claims = {c.name: c for c in render(plan).of_type("kubernetes:core/v1:PersistentVolumeClaim")}
    workspace = claims.pop("alice-workspace")
    assert workspace.retain_on_delete
    assert workspace.inputs["spec"]["storageClassName"] == "ml-platform-disk"
    # The bucket volumes are the bucket's objects, which deleting a claim never touches: nothing to retain there.
    assert claims and not any(claim.retain_on_delete for claim in claims.values())


def test_a_gpu_notebook_requests_the_gpu_and_lands_on_the_gpu_pool(plan):
    pod = notebook_pod(render(plan, resources={"gpu": 1}))

    assert pod["containers"][0]["resources"]["limits"]["nvidia.com/gpu"] == "1"
    assert pod["tolerations"] == [{"key": "pool", "operator": "Equal", "value": "gpu", "effect": "NoSchedule"}]
    assert pod["nodeSelector"] == {"pool": "gpu"}


def test_jupyter_keeps_token_authentication_on(plan):
    monitor = render(plan)

    pod = notebook_pod(monitor)
    [container] = pod["containers"]
    [secret] = monitor.of_type("kubernetes:core/v1:Secret")
    assert container["env"] == [
        {
            "name": "JUPYTER_TOKEN",
            "valueFrom": {"secretKeyRef": {"name": secret.inputs["metadata"]["name"], "key": "token"}},
        }
    ]
    # The image's s6 service script (which passes an empty token) is replaced by one that leaves auth on.
    [run_mount] = [m for m in container["volumeMounts"] if m["mountPath"] == "/etc/services.d/jupyterlab/run"]
    [run_volume] = [v for v in pod["volumes"] if v["name"] == run_mount["name"]]
    assert run_volume["configMap"]["defaultMode"] == 0o755
    [config_map] = monitor.of_type("kubernetes:core/v1:ConfigMap")
    assert config_map.inputs["metadata"]["name"] == run_volume["configMap"]["name"]
    script = config_map.inputs["data"][run_mount["subPath"]]
    assert script.startswith("#!/command/with-contenv bash\n")
    assert "jupyter lab" in script
    # No `--ServerApp.token=""` / `--ServerApp.password=""` (auth off) and no `allow_origin="*"`.
    assert not re.search(r"--\w+\.(token|password|allow_origin)", script)


class TokenMocks(offline.PlanMocks):
    """The random provider's answer, so the test can look for the token everywhere it must not be."""

    def new_resource(self, args):
        if args.typ == "random:index/randomPassword:RandomPassword":
            return f"{args.name}-id", {**args.inputs, "result": TOKEN}
        return super().new_resource(args)


def plain_strings(value):
    """Every string in a registration that is not inside a secret."""
    return strings(value, skip=lambda node: node.get(SIG_KEY) == SECRET_SIG)


def test_the_token_is_a_secret_everywhere_and_never_plain_text(plan, monkeypatch):
    monkeypatch.setattr(offline, "PlanMocks", TokenMocks)
    notebook = NotebookConfig(image=IMAGE)

    def program():
        created = Notebook("alice", NotebookArgs(notebook=notebook, namespace="notebooks", storage=STORAGE, gpu=GPU))
        pulumi.export("aliceToken", created.token)

    monitor = plan(program)

    [secret] = monitor.of_type("kubernetes:core/v1:Secret")
    assert secret.inputs["stringData"][SIG_KEY] == SECRET_SIG
    assert secret.inputs["stringData"]["value"] == {"token": TOKEN}
    stack = monitor.of_type("pulumi:pulumi:Stack")[0]
    assert stack.outputs["aliceToken"][SIG_KEY] == SECRET_SIG
    assert monitor.named("alice").outputs["token"][SIG_KEY] == SECRET_SIG
    for registration in monitor.registrations.values():
        # The random provider's own state holds the value (its `result` is an additional secret output).
        outputs = {} if registration.type == "random:index/randomPassword:RandomPassword" else registration.outputs
        for text in plain_strings([registration.inputs, outputs]):
            assert TOKEN not in text, f"token in plain text in {registration.type} {registration.name}"
    assert TOKEN not in json.dumps(notebook_pod(monitor))


def test_a_notebook_is_private_by_default_and_reached_by_port_forward(plan):
    monitor = render(plan)

    [notebook] = monitor.of_type("kubernetes:kubeflow.org/v1:Notebook")
    assert notebook.inputs["metadata"]["annotations"]["mlplatform.io/expose"] == "false"
    assert monitor.of_type("kubernetes:core/v1:Service") == []
    outputs = monitor.named("alice").outputs
    assert outputs["portForward"] == "kubectl -n notebooks port-forward svc/alice 8888:80"
    assert outputs["url"] == "http://localhost:8888/notebook/notebooks/alice/"


def test_expose_puts_a_load_balancer_in_front_of_the_notebook(plan):
    monitor = render(plan, expose=True)

    [notebook] = monitor.of_type("kubernetes:kubeflow.org/v1:Notebook")
    assert notebook.inputs["metadata"]["annotations"]["mlplatform.io/expose"] == "true"
    [service] = monitor.of_type("kubernetes:core/v1:Service")
    assert service.inputs["spec"]["type"] == "LoadBalancer"
    assert service.inputs["spec"]["selector"] == {"notebook-name": "alice"}
    assert service.inputs["spec"]["ports"] == [{"name": "http", "port": 80, "targetPort": 8888, "protocol": "TCP"}]
    # Reachable from the VPC only (the stack's cloud is EKS here: STORAGE is S3 with Pod Identity).
    assert service.inputs["metadata"]["annotations"] == {
        "mlplatform.io/config-path": "notebooks.alice",
        "service.beta.kubernetes.io/aws-load-balancer-internal": "true",
    }


def test_public_makes_the_notebooks_load_balancer_internet_facing(plan):
    [service] = render(plan, expose=True, public=True).of_type("kubernetes:core/v1:Service")
    assert service.inputs["metadata"]["annotations"] == {"mlplatform.io/config-path": "notebooks.alice"}


def reveal(value):
    """The object as the API server receives it: secrets unwrapped."""
    if isinstance(value, dict):
        if value.get(SIG_KEY) == SECRET_SIG:
            return reveal(value["value"])
        return {key: reveal(item) for key, item in value.items()}
    if isinstance(value, list):
        return [reveal(item) for item in value]
    return value


def test_every_rendered_kubernetes_object_is_accepted(plan, monkeypatch):
    monkeypatch.setattr(offline, "PlanMocks", TokenMocks)
    monitor = render(plan, expose=True, resources={"gpu": 1})

    rendered = [reveal(r.inputs) for r in monitor.registrations.values() if r.type.startswith("kubernetes:")]
    assert {"Notebook", "Secret", "ConfigMap", "PersistentVolumeClaim", "PersistentVolume", "Service"} <= {
        obj["kind"] for obj in rendered
    }
    assert conformance.validate_all(rendered, strict=True) == {}


def test_a_notebook_reads_datasets_and_writes_only_its_own_prefix(plan):
    monitor = render(plan)
    mounts = {m["name"]: m for m in notebook_pod(monitor)["containers"][0]["volumeMounts"]}
    assert mounts["datasets"] == {"name": "datasets", "mountPath": "/home/jovyan/datasets", "readOnly": True}
    assert mounts["bucket"] == {"name": "bucket", "mountPath": "/home/jovyan/bucket", "readOnly": False}
    [policy] = [json.loads(r.inputs["policy"]) for r in monitor.of_type("aws:iam/rolePolicy:RolePolicy")]
    writes = [s for s in policy["Statement"] if "s3:PutObject" in s["Action"]]
    assert [s["Resource"] for s in writes] == [["arn:aws:s3:::mlp-datasets/notebooks/alice/*"]]
    [association] = monitor.of_type("aws:eks/podIdentityAssociation:PodIdentityAssociation")
    assert (association.inputs["namespace"], association.inputs["serviceAccount"]) == ("notebooks", "alice")
