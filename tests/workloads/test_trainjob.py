"""Trainer v2 TrainJobs (`api: v2`): runtime reference, trainer, bucket mounts through runtimePatches, waiting."""

import pytest
from support import ack_stack, config_error, oss_storage

from mlplatform import validation
from mlplatform.config import TrainingJob as TrainingJobConfig
from mlplatform.config import parse
from mlplatform.conventions import plain_json
from mlplatform.workloads.scheduling import GpuScheduling
from mlplatform.workloads.trainjob import TrainJob, TrainJobArgs

TRAINJOB = "kubernetes:trainer.kubeflow.org/v1alpha1:TrainJob"
OSS = oss_storage()


def job(**fields) -> dict:
    """Raw config of a Trainer v2 job: PyTorch, two workers, writing color:v3; `fields` change or add keys."""
    return {
        "framework": "pytorch",
        "api": "v2",
        "image": "x/train:v1",
        "model": "color:v3",
        "roles": {"Worker": {"replicas": 2}},
        **fields,
    }


def job_config(**overrides) -> TrainingJobConfig:
    """The job the rendering tests plan: reading a dataset, with a command and a GPU on each worker."""
    fields = {
        "image": "registry.example.com/train-color:v3",
        "dataset": "coco/grey",
        "command": ["python", "train.py"],
        "roles": {"Worker": {"replicas": 2, "resources": {"cpu": "4", "memory": "16Gi", "gpu": 1}}},
        **overrides,
    }
    return TrainingJobConfig.model_validate(job(**fields))


def render(plan, job: TrainingJobConfig) -> dict:
    def program():
        TrainJob("color-train", TrainJobArgs(job=job, namespace="training", storage=OSS, gpu=GpuScheduling()))

    [registration] = plan(program).of_type(TRAINJOB)
    obj = plain_json(registration.inputs)
    assert validation.validate(obj, strict=True) == []
    return obj


def test_trainjob_references_the_cluster_training_runtime_and_runs_the_trainer(plan):
    obj = render(plan, job_config())
    spec = obj["spec"]
    assert spec["runtimeRef"] == {
        "apiGroup": "trainer.kubeflow.org",
        "kind": "ClusterTrainingRuntime",
        "name": "torch-distributed",
    }
    trainer = spec["trainer"]
    assert trainer["image"] == "registry.example.com/train-color:v3"
    assert trainer["numNodes"] == 2 and trainer["command"] == ["python", "train.py"]
    assert trainer["resourcesPerNode"]["limits"]["nvidia.com/gpu"] == "1"
    env = {e["name"]: e["value"] for e in trainer["env"]}
    assert env["MODEL_DIR"] == "/model" and env["MODEL_VERSION"] == "v3"
    assert env["MODEL_URI"] == "oss://acme-models/color/v3/"
    assert obj["metadata"]["annotations"]["pulumi.com/waitFor"] == "condition=Complete"


def test_buckets_and_gpu_placement_reach_the_node_pods_through_a_runtime_patch(plan):
    [patch] = render(plan, job_config())["spec"]["runtimePatches"]
    assert patch["manager"] == "mlplatform.io/ml-platform"
    [node] = patch["trainingRuntimeSpec"]["template"]["spec"]["replicatedJobs"]
    assert node["name"] == "node"
    pod = node["template"]["spec"]["template"]["spec"]
    [container] = pod["containers"]
    assert container["name"] == "node"
    mounts = {m["mountPath"]: m for m in container["volumeMounts"]}
    assert mounts["/data"]["readOnly"] is True and mounts["/model"]["readOnly"] is False
    assert mounts["/model"]["subPath"] == "color/v3"
    claims = {v["name"]: v["persistentVolumeClaim"]["claimName"] for v in pod["volumes"]}
    assert claims == {"dataset": "color-train-dataset", "model": "color-train-model"}
    assert pod["tolerations"][0]["key"] == "nvidia.com/gpu"
    assert pod["nodeSelector"] == {"mlplatform.io/accelerator": "nvidia-gpu"}


def test_runtime_and_deadline_come_from_config(plan):
    obj = render(plan, job_config(runtime="deepspeed-distributed", activeDeadlineMinutes=90))
    assert obj["spec"]["runtimeRef"]["name"] == "deepspeed-distributed"
    assert obj["spec"]["activeDeadlineSeconds"] == 5400


def test_the_webhook_refuses_a_runtime_the_stack_does_not_install():
    obj = {
        "apiVersion": "trainer.kubeflow.org/v1alpha1",
        "kind": "TrainJob",
        "metadata": {"name": "color-train", "namespace": "training"},
        "spec": {"runtimeRef": {"name": "my-runtime"}, "trainer": {"image": "x/y:v1"}},
    }
    [problem] = validation.validate(obj)
    assert "spec.runtimeRef.name: ClusterTrainingRuntime 'my-runtime' must be created before the TrainJob" in problem
    obj["spec"]["runtimeRef"] = {"name": "torch-distributed", "kind": "Runtime"}
    [problem] = validation.validate(obj)
    assert "spec.runtimeRef: unsupported runtime: Runtime.trainer.kubeflow.org" in problem


def stack_config(jobs: dict) -> dict:
    return ack_stack(trainingJobs=jobs)


@pytest.mark.parametrize(
    ("raw", "path", "reason"),
    [
        (job(runtime="my-runtime"), "runtime", "no ClusterTrainingRuntime 'my-runtime'"),
        (job(framework="tensorflow"), "framework", "Trainer v2 has no tensorflow runtime"),
        (job(roles={"Master": {"replicas": 1}, "Worker": {"replicas": 2}}), "roles.Master", "one role, Worker"),
        ({**job(runtime="torch-distributed"), "api": "v1"}, "runtime", "set api: v2"),
    ],
)
def test_trainjob_runtime_reference_mistakes_are_config_errors(raw, path, reason):
    error = config_error(stack_config({"color-train": raw}))
    assert error.path == f"ml-platform:trainingJobs.color-train.{path}"
    assert reason in error.reason


def test_v1_jobs_keep_working():
    settings = parse(stack_config({"color-train": {**job(), "api": "v1", "framework": "tensorflow"}}))
    assert settings.training_jobs["color-train"].api == "v1"


@pytest.mark.parametrize("runtime", ["deepspeed-distributed", "mlx-distributed"])
def test_an_mpi_runtimes_launcher_runs_the_trainer_so_it_gets_the_volumes_and_account_too(plan, runtime):
    # Both runtimes run the trainer in `launcher` too (runLauncherAsNode: true, trainjob-ancestor-step: trainer).
    [patch] = render(plan, job_config(framework="mpi", runtime=runtime))["spec"]["runtimePatches"]
    jobs = {
        j["name"]: j["template"]["spec"]["template"]["spec"]
        for j in patch["trainingRuntimeSpec"]["template"]["spec"]["replicatedJobs"]
    }
    assert set(jobs) == {"node", "launcher"}
    assert jobs["launcher"] == jobs["node"]
    assert jobs["launcher"]["serviceAccountName"] == "color-train"
    assert {v["name"] for v in jobs["launcher"]["volumes"]} == {"dataset", "model"}


def test_a_runtime_without_a_launcher_is_patched_on_its_nodes_only(plan):
    # The webhook refuses a patch naming a replicated job the runtime lacks (plugins/jobset/jobset.go Validate).
    [patch] = render(plan, job_config())["spec"]["runtimePatches"]
    assert [j["name"] for j in patch["trainingRuntimeSpec"]["template"]["spec"]["replicatedJobs"]] == ["node"]
