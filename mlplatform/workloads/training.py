"""A distributed training job on the Kubeflow training operator v1.9: TFJob, PyTorchJob, XGBoostJob or MPIJob.

The job reads its dataset from the datasets bucket (mounted read-only at DATA_DIR) and writes the model version
it names (`color:v2`) to the models bucket under `color/v2/` (mounted read-write at MODEL_DIR), so the version is
a name servings can refer to before it exists. The job carries pulumi-kubernetes' `pulumi.com/waitFor`
annotation: `pulumi up` holds the job until the operator reports it Succeeded, and anything registered with
`depends_on=[job]` (a serving of the version) is created only after the model has been written.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import pulumi
import pulumi_kubernetes as k8s

from mlplatform import config, rules
from mlplatform.conventions import config_path_annotation
from mlplatform.workloads.identity import pod_identity
from mlplatform.workloads.scheduling import GpuScheduling, placement
from mlplatform.workloads.security import RUN_AS, harden_pod, service_account
from mlplatform.workloads.volumes import BucketStorage, BucketVolume, BucketVolumeArgs

API_VERSION = "kubeflow.org/v1"
DATA_DIR = "/data"
MODEL_DIR = "/model"
# The numbered subfolder TensorFlow Serving looks for under a model's base path.
SERVING_EXPORT_VERSION = 1
# How long `pulumi up` waits for a job without activeDeadlineMinutes to succeed.
DEFAULT_TIMEOUT_MINUTES = 60
# Counted against runPolicy.backoffLimit; the operator restarts a failed replica's pod in place.
RESTART_POLICY = "OnFailure"
# After the job ends, delete the pods still running (TF parameter servers, MPI workers), keep the finished ones'
# logs. No ttlSecondsAfterFinished: a deleted job would look gone to Pulumi and be trained again.
CLEAN_POD_POLICY = "Running"


@dataclass(frozen=True)
class Framework:
    kind: str
    replica_specs: str
    # The operator finds the training process by this container name (its webhook rejects other names).
    container: str


FRAMEWORKS = {
    "tensorflow": Framework("TFJob", "tfReplicaSpecs", "tensorflow"),
    "pytorch": Framework("PyTorchJob", "pytorchReplicaSpecs", "pytorch"),
    "xgboost": Framework("XGBoostJob", "xgbReplicaSpecs", "xgboost"),
    "mpi": Framework("MPIJob", "mpiReplicaSpecs", "mpi"),
}


@dataclass(frozen=True)
class TrainingRunArgs:
    """What a training run takes, a v1 job (`TrainingJob`) or a Trainer v2 `TrainJob` (trainjob.py) alike. The
    component's name is the run's Kubernetes name (a DNS-1035 label, checked by config)."""

    job: config.TrainingJob
    namespace: pulumi.Input[str]
    storage: BucketStorage
    gpu: GpuScheduling = field(default_factory=GpuScheduling)
    # What must exist before the run is created: its operator (the training operator for a v1 job, Trainer v2
    # and its runtimes for a TrainJob), the namespace, the bucket Secret.
    depends_on: Sequence[pulumi.Resource] = ()


@dataclass(frozen=True)
class TrainingJobArgs(TrainingRunArgs):
    """A training-operator v1 job: TFJob, PyTorchJob, XGBoostJob or MPIJob, by the config's framework."""


def dataset_prefix(dataset: str) -> str:
    """`colors`, `colors/` or `/colors/` -> `colors/`; no dataset -> the whole bucket."""
    trimmed = dataset.strip("/")
    return f"{trimmed}/" if trimmed else ""


@dataclass(frozen=True)
class TrainingStorage:
    """What a training run mounts and knows: its dataset (read-only), its model version (read-write), the identity
    that may reach both (EKS Pod Identity; RRSA roles sit on the volumes), and the environment naming them."""

    dataset: BucketVolume
    output: BucketVolume
    identity: list[pulumi.Resource]
    env: dict[str, str]
    model_uri: pulumi.Output[str]


def container_env(env: dict[str, str], model_uri: pulumi.Input[str]) -> list[dict]:
    """A training container's `env`: the run's variables by name (an order that never depends on config order),
    then MODEL_URI, where the run's model is written."""
    return [{"name": key, "value": value} for key, value in sorted(env.items())] + [
        {"name": "MODEL_URI", "value": model_uri}
    ]


def training_storage(
    name: str, job: config.TrainingJob, storage: BucketStorage, namespace: pulumi.Input[str], parent: pulumi.Resource
) -> TrainingStorage:
    """The bucket volumes of a training run (TFJob/PyTorchJob/... or TrainJob) named `name`."""
    model, version = rules.parse_model_version(job.model)
    version_prefix = f"{rules.model_prefix(job.model)}/"
    child = pulumi.ResourceOptions(parent=parent)

    def volume(role: str, bucket: pulumi.Input[str], prefix: str, writable: bool) -> BucketVolume:
        arguments = BucketVolumeArgs(
            storage, bucket, prefix, namespace, writable=writable, purpose="training", service_accounts=(name,)
        )
        return BucketVolume(f"{name}-{role}", arguments, opts=child)

    dataset = volume("dataset", storage.datasets_bucket, dataset_prefix(job.dataset), writable=False)
    output = volume("model", storage.models_bucket, version_prefix, writable=True)
    # The platform's variables win over a user variable of the same name.
    env = {
        **job.env,
        "DATA_DIR": DATA_DIR,
        "MODEL_DIR": MODEL_DIR,
        # TensorFlow Serving (Seldon's TENSORFLOW_SERVER) loads `<model base>/<integer>/saved_model.pb`:
        # a SavedModel exported here is servable as it is (tensorflow.org/tfx/serving/serving_basic).
        "MODEL_EXPORT_DIR": f"{MODEL_DIR}/{SERVING_EXPORT_VERSION}",
        "MODEL_NAME": model,
        "MODEL_VERSION": version,
    }
    return TrainingStorage(
        dataset=dataset,
        output=output,
        # EKS: the job's pods mount with their own Pod Identity role (read the dataset, write this version).
        identity=pod_identity(name, namespace, name, [dataset.grant, output.grant], storage.identity, parent),
        env=env,
        model_uri=storage.uri(storage.models_bucket, version_prefix),
    )


def run_metadata(name: str, namespace: pulumi.Input[str], job: config.TrainingJob, done: str) -> dict:
    """A training run's metadata: its model version, and how long `pulumi up` waits for condition `done`."""
    model, version = rules.parse_model_version(job.model)
    timeout_minutes = job.active_deadline_minutes or DEFAULT_TIMEOUT_MINUTES
    return {
        "name": name,
        "namespace": namespace,
        "labels": {"mlplatform.io/model": model, "mlplatform.io/model-version": version},
        "annotations": {
            **config_path_annotation("trainingJobs", name),
            "mlplatform.io/model-version": job.model,
            "pulumi.com/waitFor": f"condition={done}",
            "pulumi.com/timeoutSeconds": str(timeout_minutes * 60),
        },
    }


def run_options(parent: pulumi.Resource, depends_on: list[pulumi.Resource]) -> pulumi.ResourceOptions:
    """A new spec is a new training run: replace the job (same name, so delete it first) rather than patch it."""
    return pulumi.ResourceOptions(
        parent=parent, depends_on=depends_on, replace_on_changes=["spec"], delete_before_replace=True
    )


class TrainingJob(pulumi.ComponentResource):
    """Outputs `model_version` ("color:v2") and `model_uri` ("oss://<models bucket>/color/v2/")."""

    model_version: str
    model_uri: pulumi.Output[str]
    job: k8s.apiextensions.CustomResource

    def __init__(self, name: str, args: TrainingJobArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("mlplatform:training:TrainingJob", name, None, opts)
        job = args.job
        framework = FRAMEWORKS[job.framework]
        self.model_version = job.model
        data = training_storage(name, job, args.storage, args.namespace, self)
        self.model_uri = data.model_uri
        dataset, output, identity = data.dataset, data.output, data.identity
        env = container_env(data.env, self.model_uri)
        # The job's own ServiceAccount (named like the job); cloud identity is bound to this name.
        self.service_account, account_name = service_account(name, args.namespace, parent=self)
        volumes = [dataset.pod_volume("dataset"), output.pod_volume("model")]
        mounts = [dataset.mount("dataset", DATA_DIR), output.mount("model", MODEL_DIR)]
        spec = trainingjob_spec(name, job, RunPod(env, volumes, mounts, args.gpu, account_name))
        self.job = k8s.apiextensions.CustomResource(
            f"{name}-{framework.kind.lower()}",
            api_version=API_VERSION,
            kind=framework.kind,
            metadata=run_metadata(name, args.namespace, job, "Succeeded"),
            spec=spec,
            opts=run_options(self, [dataset, output, *identity, self.service_account, *args.depends_on]),
        )
        self.register_outputs(
            {"kind": framework.kind, "jobName": name, "modelVersion": self.model_version, "modelUri": self.model_uri}
        )

    @staticmethod
    def _replica_spec(
        name: str,
        job: config.TrainingJob,
        role: str,
        replica: config.Replica,
        container: dict,
        volumes: list[dict],
        gpu: GpuScheduling,
        account: pulumi.Input[str],
    ) -> dict:
        where = placement(replica.resources, gpu)
        role_container = {**container, "resources": where.resources}
        # MPI workers wait for the launcher's mpirun (the operator keeps them alive); only the launcher runs the program.
        runs_program = not (job.framework == "mpi" and role == "Worker")
        launches_mpi = job.framework == "mpi" and role == "Launcher"
        if runs_program and job.command:
            role_container["command"] = list(job.command)
        if runs_program and job.args:
            role_container["args"] = list(job.args)
        return {
            "replicas": replica.replicas,
            "restartPolicy": RESTART_POLICY,
            "template": {
                "metadata": {"labels": {"mlplatform.io/training-job": name, "mlplatform.io/role": role.lower()}},
                "spec": harden_pod(
                    {"containers": [role_container], "volumes": volumes, **where.pod_fields()},
                    RUN_AS["training"].with_user(job.run_as_user),
                    # Every replica, the MPI launcher too, runs as the job's account: the one its Pod Identity
                    # role is associated with, so the launcher can mount the job's S3 volumes. The launcher runs
                    # `kubectl exec` in the workers: the operator binds its Role `<job>-launcher` (get/list/watch
                    # pods, pods/exec on the workers) to the account the launcher template names
                    # (kubeflow/trainer v1.9.4 pkg/controller.v1/mpi/mpijob_controller.go
                    # getOrCreateLauncherServiceAccount, newLauncherRoleBinding), and only the launcher mounts
                    # the token (the account turns automounting off for the others).
                    account,
                    automount_token=launches_mpi,
                ),
            },
        }

    @staticmethod
    def _run_policy(job: config.TrainingJob) -> dict:
        policy = {"backoffLimit": job.backoff_limit, "cleanPodPolicy": CLEAN_POD_POLICY}
        if job.active_deadline_minutes:
            policy["activeDeadlineSeconds"] = job.active_deadline_minutes * 60
        return policy

    @staticmethod
    def _slots_per_worker(job: config.TrainingJob) -> int:
        """One MPI rank per GPU of a worker, or one per worker on CPU."""
        worker = job.roles.get("Worker")
        return worker.resources.gpu if worker is not None and worker.resources.gpu else 1


@dataclass(frozen=True)
class RunPod:
    """What every pod of a training run gets besides the job's config: its environment, volumes and their mounts,
    GPU placement and ServiceAccount."""

    env: list[dict]
    volumes: list[dict]
    mounts: list[dict]
    gpu: GpuScheduling
    account: pulumi.Input[str]


def trainingjob_spec(name: str, job: config.TrainingJob, pod: RunPod) -> dict:
    """The spec of the v1 job of `job`'s framework (its replicas labelled `name`, running as `pod.account`)."""
    framework = FRAMEWORKS[job.framework]
    container = {"name": framework.container, "image": job.image, "env": pod.env, "volumeMounts": pod.mounts}
    replica_specs = {
        role: TrainingJob._replica_spec(name, job, role, replica, container, pod.volumes, pod.gpu, pod.account)
        for role, replica in job.roles.items()
    }
    spec: dict = {framework.replica_specs: replica_specs, "runPolicy": TrainingJob._run_policy(job)}
    if job.framework == "mpi":
        spec["slotsPerWorker"] = TrainingJob._slots_per_worker(job)
        # kubectl exec from the launcher runs the ranks in this container of each worker.
        spec["mainContainer"] = framework.container
    return spec
