"""Training jobs as the training operator receives them: every framework/role combination, mounts, GPUs, waiting."""

import dataclasses
import itertools
import json

import pulumi
import pulumi_kubernetes as k8s
import pytest
from support import oss_storage, ram_policies, s3_storage

from mlplatform import rules
from mlplatform import validation as conformance
from mlplatform.config import FRAMEWORK_ROLES
from mlplatform.config import TrainingJob as TrainingJobConfig
from mlplatform.workloads.scheduling import GpuScheduling
from mlplatform.workloads.training import TrainingJob, TrainingJobArgs
from mlplatform.workloads.volumes import BucketStorage

OSS = oss_storage(allow_delete=True)
S3 = dataclasses.replace(s3_storage(), endpoint="https://s3.eu-west-1.amazonaws.com")
GPU = GpuScheduling(taint_key="pool", taint_value="gpu", node_selector={"pool": "gpu"})
KINDS = {"tensorflow": "TFJob", "pytorch": "PyTorchJob", "xgboost": "XGBoostJob", "mpi": "MPIJob"}
SPECS = {
    "tensorflow": "tfReplicaSpecs",
    "pytorch": "pytorchReplicaSpecs",
    "xgboost": "xgbReplicaSpecs",
    "mpi": "mpiReplicaSpecs",
}
SINGLE_REPLICA_ROLES = ("Chief", "Master", "Launcher")


def job_config(**overrides) -> TrainingJobConfig:
    raw = {
        "framework": "tensorflow",
        "image": "registry.example.com/train-color:v2",
        "model": "color:v2",
        "dataset": "colors",
        "roles": {"Worker": {"replicas": 3}},
        **overrides,
    }
    return TrainingJobConfig.model_validate(raw)


def render(plan, job: TrainingJobConfig, storage: BucketStorage = OSS, name: str = "color-train"):
    def program():
        TrainingJob(name, TrainingJobArgs(job=job, namespace="training", storage=storage, gpu=GPU))

    monitor = plan(program)
    [rendered] = monitor.of_type(f"kubernetes:kubeflow.org/v1:{KINDS[job.framework]}")
    return monitor, rendered.inputs


def role_sets():
    """Every set of roles the config accepts, per framework."""
    for framework, roles in FRAMEWORK_ROLES.items():
        for size in range(1, len(roles) + 1):
            for chosen in itertools.combinations(roles, size):
                raw = {role: {"replicas": 1 if role in SINGLE_REPLICA_ROLES else 2} for role in chosen}
                try:
                    job_config(framework=framework, roles=raw)
                except ValueError:
                    continue
                yield pytest.param(framework, raw, id=f"{framework}-{'+'.join(chosen)}")


def pod_spec(job: dict, framework: str, role: str) -> dict:
    return job["spec"][SPECS[framework]][role]["template"]["spec"]


@pytest.mark.parametrize(("framework", "roles"), list(role_sets()))
def test_every_framework_and_role_combination_renders_an_accepted_job(plan, framework, roles):
    _, job = render(plan, job_config(framework=framework, roles=roles))

    assert conformance.validate(job) == []
    assert job["apiVersion"] == "kubeflow.org/v1"
    assert job["metadata"]["name"] == "color-train"
    replica_specs = job["spec"][SPECS[framework]]
    assert set(replica_specs) == set(roles)
    for role, replica in replica_specs.items():
        assert replica["replicas"] == roles[role]["replicas"]
        assert isinstance(replica["replicas"], int)
        assert replica["restartPolicy"] == "OnFailure"
        [container] = replica["template"]["spec"]["containers"]
        assert (
            container["name"]
            == {"tensorflow": "tensorflow", "pytorch": "pytorch", "xgboost": "xgboost", "mpi": "mpi"}[framework]
        )


def test_job_runs_the_image_with_its_command_arguments_and_environment(plan):
    job = job_config(command=["python", "train.py"], args=["--epochs", "5"], env={"EPOCHS": "5", "MODEL_DIR": "/tmp"})
    _, rendered = render(plan, job)

    [container] = pod_spec(rendered, "tensorflow", "Worker")["containers"]
    assert container["image"] == "registry.example.com/train-color:v2"
    assert container["command"] == ["python", "train.py"]
    assert container["args"] == ["--epochs", "5"]
    env = {item["name"]: item["value"] for item in container["env"]}
    # The platform's locations win over a user variable of the same name.
    assert env == {
        "EPOCHS": "5",
        "DATA_DIR": "/data",
        "MODEL_DIR": "/model",
        "MODEL_EXPORT_DIR": "/model/1",
        "MODEL_NAME": "color",
        "MODEL_VERSION": "v2",
        "MODEL_URI": "oss://acme-models/color/v2/",
    }


def test_resources_are_requests_and_limits_and_only_gpu_roles_land_on_the_gpu_pool(plan):
    roles = {
        "PS": {"replicas": 2, "resources": {"cpu": "2", "memory": "4Gi", "cpuLimit": "4"}},
        "Worker": {"replicas": 3, "resources": {"cpu": "4", "memory": "16Gi", "gpu": 2}},
    }
    _, rendered = render(plan, job_config(roles=roles))

    ps = pod_spec(rendered, "tensorflow", "PS")
    assert ps["containers"][0]["resources"] == {
        "requests": {"cpu": "2", "memory": "4Gi"},
        "limits": {"cpu": "4", "memory": "4Gi"},
    }
    assert "tolerations" not in ps and "nodeSelector" not in ps
    worker = pod_spec(rendered, "tensorflow", "Worker")
    assert worker["containers"][0]["resources"] == {
        "requests": {"cpu": "4", "memory": "16Gi", "nvidia.com/gpu": "2"},
        "limits": {"cpu": "4", "memory": "16Gi", "nvidia.com/gpu": "2"},
    }
    assert worker["tolerations"] == [{"key": "pool", "operator": "Equal", "value": "gpu", "effect": "NoSchedule"}]
    assert worker["nodeSelector"] == {"pool": "gpu"}


def test_a_gpu_memory_slice_is_requested_as_the_shared_gpu_resource(plan):
    roles = {"Master": {"resources": {"gpuMemoryGb": 8}}}
    _, rendered = render(plan, job_config(framework="pytorch", roles=roles))

    master = pod_spec(rendered, "pytorch", "Master")
    assert master["containers"][0]["resources"]["limits"]["aliyun.com/gpu-mem"] == "8"
    assert "nvidia.com/gpu" not in master["containers"][0]["resources"]["limits"]
    assert master["nodeSelector"] == {"pool": "gpu"}


def test_run_policy_carries_backoff_deadline_and_cleans_up_running_pods(plan):
    _, rendered = render(plan, job_config(backoffLimit=5, activeDeadlineMinutes=90))

    assert rendered["spec"]["runPolicy"] == {
        "backoffLimit": 5,
        "activeDeadlineSeconds": 5400,
        "cleanPodPolicy": "Running",
    }

    _, default = render(plan, job_config())
    assert default["spec"]["runPolicy"] == {"backoffLimit": 3, "cleanPodPolicy": "Running"}


def test_pulumi_waits_for_the_job_to_succeed_within_its_deadline_or_an_hour(plan):
    _, rendered = render(plan, job_config(activeDeadlineMinutes=90))
    annotations = rendered["metadata"]["annotations"]
    assert annotations["pulumi.com/waitFor"] == "condition=Succeeded"
    assert annotations["pulumi.com/timeoutSeconds"] == "5400"
    assert annotations["mlplatform.io/model-version"] == "color:v2"

    _, default = render(plan, job_config())
    assert default["metadata"]["annotations"]["pulumi.com/timeoutSeconds"] == "3600"


def test_a_workload_depending_on_the_job_waits_for_the_job_and_the_job_for_its_prerequisites(plan):
    def program():
        operator = k8s.core.v1.Namespace("training-operator", metadata={"name": "kubeflow"})
        job = TrainingJob(
            "color-train",
            TrainingJobArgs(job=job_config(), namespace="training", storage=OSS, gpu=GPU, depends_on=[operator]),
        )
        k8s.core.v1.ConfigMap("serving", data={"model": "color:v2"}, opts=pulumi.ResourceOptions(depends_on=[job]))

    monitor = plan(program)
    [job] = monitor.of_type("kubernetes:kubeflow.org/v1:TFJob")
    assert job.urn in monitor.named("serving").dependencies
    assert monitor.named("training-operator").urn in job.dependencies
    assert monitor.named("color-train-dataset-pvc").urn in job.dependencies


def test_oss_mounts_the_dataset_read_only_and_writes_the_model_under_its_version(plan):
    monitor, rendered = render(plan, job_config())

    volumes = {
        v.inputs["metadata"]["name"]: v.inputs["spec"] for v in monitor.of_type("kubernetes:core/v1:PersistentVolume")
    }
    dataset, model = volumes["training-color-train-dataset"], volumes["training-color-train-model"]
    for volume in (dataset, model):
        assert volume["csi"]["driver"] == "ossplugin.csi.alibabacloud.com"
        # No keys: ossfs assumes the volume's own RAM role through RRSA.
        assert "nodePublishSecretRef" not in volume["csi"]
        assert volume["csi"]["volumeAttributes"]["authType"] == "rrsa"
        assert volume["csi"]["volumeAttributes"]["url"] == "https://oss-cn-hangzhou-internal.aliyuncs.com"
        assert volume["persistentVolumeReclaimPolicy"] == "Retain"
    assert dataset["csi"]["volumeAttributes"]["bucket"] == "acme-datasets"
    assert dataset["accessModes"] == ["ReadOnlyMany"]
    assert "-o ro" in dataset["csi"]["volumeAttributes"]["otherOpts"]
    assert dataset["csi"]["volumeAttributes"]["path"] == "/colors/"  # a read-only prefix exists: mount it
    assert model["csi"]["volumeAttributes"]["bucket"] == "acme-models"
    assert model["accessModes"] == ["ReadWriteMany"]
    assert "-o ro" not in model["csi"]["volumeAttributes"]["otherOpts"]
    claims = {
        c.inputs["metadata"]["name"]: c.inputs for c in monitor.of_type("kubernetes:core/v1:PersistentVolumeClaim")
    }
    assert claims["color-train-model"]["spec"]["volumeName"] == "training-color-train-model"
    assert claims["color-train-model"]["metadata"]["namespace"] == "training"

    worker = pod_spec(rendered, "tensorflow", "Worker")
    mounts = {m["name"]: m for m in worker["containers"][0]["volumeMounts"]}
    # ossfs cannot mount a directory that does not exist yet: the kubelet narrows the mount with subPath.
    assert mounts["dataset"] == {"name": "dataset", "mountPath": "/data", "readOnly": True}
    assert mounts["model"] == {"name": "model", "mountPath": "/model", "readOnly": False, "subPath": "color/v2"}
    claims_used = {v["name"]: v["persistentVolumeClaim"] for v in worker["volumes"]}
    assert claims_used["dataset"] == {"claimName": "color-train-dataset", "readOnly": True}
    assert claims_used["model"] == {"claimName": "color-train-model", "readOnly": False}


def test_s3_volumes_are_scoped_to_the_dataset_and_the_model_version_prefixes(plan):
    monitor, rendered = render(plan, job_config(dataset="/colors/"), storage=S3)

    volumes = {
        v.inputs["metadata"]["name"]: v.inputs["spec"] for v in monitor.of_type("kubernetes:core/v1:PersistentVolume")
    }
    dataset, model = volumes["training-color-train-dataset"], volumes["training-color-train-model"]
    assert dataset["csi"] == {
        "driver": "s3.csi.aws.com",
        "volumeHandle": "training-color-train-dataset",
        "readOnly": True,
        "volumeAttributes": {"bucketName": "acme-datasets", "authenticationSource": "pod"},
    }
    assert dataset["mountOptions"] == ["allow-other", "region eu-west-1", "read-only", "prefix colors/"]
    assert model["csi"]["volumeAttributes"] == {"bucketName": "acme-models", "authenticationSource": "pod"}
    assert model["mountOptions"] == ["allow-other", "region eu-west-1", "allow-overwrite", "prefix color/v2/"]
    mounts = pod_spec(rendered, "tensorflow", "Worker")["containers"][0]["volumeMounts"]
    assert mounts == [
        {"name": "dataset", "mountPath": "/data", "readOnly": True},
        {"name": "model", "mountPath": "/model", "readOnly": False},
    ]


def test_oss_roles_trust_only_the_csi_fuse_pod_and_reach_only_their_prefix(plan):
    monitor, _ = render(plan, job_config())
    roles = {r.inputs["roleName"]: r.inputs for r in monitor.of_type("alicloud:ram/role:Role")}
    assert set(roles) == {"mlp-dev-color-train-dataset", "mlp-dev-color-train-model"}
    trust = json.loads(roles["mlp-dev-color-train-model"]["assumeRolePolicyDocument"])["Statement"][0]
    assert trust["Principal"] == {"Federated": ["acs:ram::1:oidc-provider/ack-rrsa-c1"]}
    assert trust["Condition"]["StringEquals"]["oidc:sub"] == "system:serviceaccount:ack-csi-fuse:csi-fuse-ossfs"
    policies = ram_policies(monitor)
    dataset, model = policies["mlp-dev-color-train-dataset"], policies["mlp-dev-color-train-model"]
    assert dataset["Statement"][1] == {
        "Effect": "Allow",
        "Action": ["oss:GetObject"],
        "Resource": ["acs:oss:*:*:acme-datasets/colors/*"],
    }
    assert model["Statement"][1]["Resource"] == ["acs:oss:*:*:acme-models/color/v2/*"]
    assert "oss:PutObject" in model["Statement"][1]["Action"]
    assert not monitor.of_type("alicloud:ram/accessKey:AccessKey") and not monitor.of_type("kubernetes:core/v1:Secret")


def test_on_eks_the_job_mounts_with_its_own_pod_identity(plan):
    monitor, _ = render(plan, job_config(dataset="colors"), storage=S3)
    [association] = monitor.of_type("aws:eks/podIdentityAssociation:PodIdentityAssociation")
    assert (association.inputs["namespace"], association.inputs["serviceAccount"]) == ("training", "color-train")
    [policy] = [json.loads(r.inputs["policy"]) for r in monitor.of_type("aws:iam/rolePolicy:RolePolicy")]
    objects = [s for s in policy["Statement"] if "s3:GetObject" in s["Action"]]
    assert [s["Resource"] for s in objects] == [
        ["arn:aws:s3:::acme-datasets/colors/*"],
        ["arn:aws:s3:::acme-models/color/v2/*"],
    ]
    assert objects[0]["Action"] == ["s3:GetObject"]  # the dataset is read-only
    assert "s3:DeleteObject" not in objects[1]["Action"]  # no delete unless the stack allows it
    [job] = monitor.of_type("kubernetes:kubeflow.org/v1:TFJob")
    assert association.urn in job.dependencies


def test_without_a_dataset_the_whole_datasets_bucket_is_mounted(plan):
    monitor, _ = render(plan, job_config(dataset=""), storage=S3)
    volumes = {
        v.inputs["metadata"]["name"]: v.inputs["spec"] for v in monitor.of_type("kubernetes:core/v1:PersistentVolume")
    }
    assert not any(option.startswith("prefix") for option in volumes["training-color-train-dataset"]["mountOptions"])


def test_the_model_version_is_a_name_with_a_bucket_uri(plan):
    monitor, _ = render(plan, job_config(model="color:v2"), storage=S3)

    component = monitor.named("color-train")
    assert component.type == "mlplatform:training:TrainingJob"
    assert component.outputs["modelVersion"] == "color:v2"
    assert component.outputs["modelUri"] == "s3://acme-models/color/v2/"
    [job] = monitor.of_type("kubernetes:kubeflow.org/v1:TFJob")
    assert job.inputs["metadata"]["labels"] == {"mlplatform.io/model": "color", "mlplatform.io/model-version": "v2"}


def test_mpi_launcher_runs_the_program_and_workers_host_one_rank_per_gpu(plan):
    roles = {"Launcher": {}, "Worker": {"replicas": 2, "resources": {"gpu": 4}}}
    _, rendered = render(plan, job_config(framework="mpi", roles=roles, command=["mpirun", "python", "train.py"]))

    assert rendered["spec"]["slotsPerWorker"] == 4
    assert rendered["spec"]["mainContainer"] == "mpi"
    launcher = pod_spec(rendered, "mpi", "Launcher")["containers"][0]
    worker = pod_spec(rendered, "mpi", "Worker")["containers"][0]
    assert launcher["command"] == ["mpirun", "python", "train.py"]
    # The operator keeps workers alive for mpirun's ranks when they have no command of their own.
    assert "command" not in worker
    assert conformance.validate(rendered) == []


@pytest.mark.parametrize("storage", [OSS, S3], ids=["oss", "s3"])
def test_every_rendered_kubernetes_object_is_accepted(plan, storage):
    roles = {"Launcher": {}, "Worker": {"replicas": 2, "resources": {"gpu": 1}}}
    monitor, _ = render(plan, job_config(framework="mpi", roles=roles), storage=storage)

    rendered = [r.inputs for r in monitor.registrations.values() if r.type.startswith("kubernetes:")]
    assert len(rendered) == 6  # the MPIJob, its ServiceAccount, and a volume and a claim for each bucket
    assert conformance.validate_all(rendered, strict=True) == {}


def test_the_mpi_launcher_mounts_the_volumes_as_the_jobs_associated_account(plan):
    # Issue 21: under the operator's `<job>-launcher` account the launcher had no Pod Identity and its mount failed.
    roles = {"Launcher": {}, "Worker": {"replicas": 2, "resources": {"gpu": 1}}}
    monitor, rendered = render(plan, job_config(framework="mpi", roles=roles), storage=S3)

    [association] = monitor.of_type("aws:eks/podIdentityAssociation:PodIdentityAssociation")
    launcher, worker = pod_spec(rendered, "mpi", "Launcher"), pod_spec(rendered, "mpi", "Worker")
    for pod in (launcher, worker):
        assert {v["name"] for v in pod["volumes"]} == {"dataset", "model"}
        assert pod["serviceAccountName"] == association.inputs["serviceAccount"] == "color-train"
    # The operator binds its exec Role to the launcher's account; only the launcher mounts the API token.
    assert (launcher["automountServiceAccountToken"], worker["automountServiceAccountToken"]) == (True, False)


def test_the_pod_identity_role_trusts_only_the_jobs_namespace_and_account(plan):
    monitor, _ = render(plan, job_config(dataset="colors"), storage=S3)
    [role] = monitor.of_type("aws:iam/role:Role")
    [statement] = json.loads(role.inputs["assumeRolePolicy"])["Statement"]
    assert statement["Principal"] == {"Service": "pods.eks.amazonaws.com"}
    assert statement["Condition"] == {
        "StringEquals": {
            "aws:RequestTag/eks-cluster-name": "dev-cluster",
            "aws:RequestTag/kubernetes-namespace": "training",
            "aws:RequestTag/kubernetes-service-account": "color-train",
        }
    }
    assert rules.unscoped_pod_identity_statements(json.loads(role.inputs["assumeRolePolicy"])) == []
    unscoped = {**statement, "Condition": {"StringEquals": {"aws:RequestTag/eks-cluster-name": "dev-cluster"}}}
    assert rules.unscoped_pod_identity_statements({"Statement": [unscoped]}) == [
        "#0 lacks aws:RequestTag/kubernetes-namespace, aws:RequestTag/kubernetes-service-account"
    ]
