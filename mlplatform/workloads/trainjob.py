"""A training job on Kubeflow Trainer v2 (2.3.0): one `TrainJob` against a `ClusterTrainingRuntime`.

What differs from the v1 jobs of `training.py` (kubeflow/trainer v2.3.0, `pkg/apis/trainer/v1alpha1`):
- The framework's wiring (torchrun, MPI, the JobSet of nodes, the `node` replicated job and container)
  lives in the runtime; the job names it in `spec.runtimeRef` (`kind: ClusterTrainingRuntime`, group
  `trainer.kubeflow.org`) and gives only the trainer: `image`, `command`, `args`, `env`, `numNodes`
  (the config's Worker replicas) and `resourcesPerNode` (requests and limits, GPUs).
- Volumes, placement and the account, which the trainer section does not carry, are a `runtimePatches` entry
  (owned by `manager: mlplatform.io/ml-platform`) on each replicated job that runs the training code: the
  dataset (read-only) and the model version (read-write) from the buckets, mounted in the `node` container,
  the GPU pool's toleration and node selector, and the job's ServiceAccount, the one its Pod Identity role is
  associated with. The built-in runtimes name that replicated job and container `node`
  (`manifests/base/runtimes/*.yaml`); the MPI runtimes (deepspeed-distributed, mlx-distributed) add a
  `launcher` job (container `node`, label `trainjob-ancestor-step: trainer`) that runs the trainer's image and
  command and, with `runLauncherAsNode: true`, is one of the nodes (`pkg/runtime/framework/plugins/jobset/
  builder.go` Trainer, `plugins/mpi/mpi.go` EnforceMLPolicy), so it is patched the same way. A patch naming a
  replicated job the runtime lacks is refused (`plugins/jobset/jobset.go` Validate), hence per runtime.
- Initializers: the built-in runtimes the config accepts (`rules.TRAINER_BUILTIN_RUNTIMES`) have no dataset or
  model initializer jobs and the job sets no `spec.initializer`: nothing else downloads with an identity.
- Waiting: the job carries `pulumi.com/waitFor: condition=Complete` (TrainJobComplete, `trainjob_types.go`),
  so servings of the version it writes are created after it succeeded; `activeDeadlineSeconds` bounds it.
- Like a v1 job, a new spec is a new training run: replace (delete first), never patch.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s

from mlplatform import config
from mlplatform.workloads.scheduling import GpuScheduling, placement
from mlplatform.workloads.security import RUN_AS, harden_pod, service_account
from mlplatform.workloads.training import (
    DATA_DIR,
    MODEL_DIR,
    TrainingRunArgs,
    container_env,
    run_metadata,
    run_options,
    training_storage,
)

API_VERSION = "trainer.kubeflow.org/v1alpha1"
RUNTIME_KIND = "ClusterTrainingRuntime"
# The replicated job and container of the built-in runtimes that run the training code.
NODE = "node"
# The MPI runtimes' launcher job, which runs the trainer as a node too (runLauncherAsNode: true), by runtime.
LAUNCHER = "launcher"
LAUNCHER_RUNTIMES = ("deepspeed-distributed", "mlx-distributed")
PATCH_MANAGER = "mlplatform.io/ml-platform"


@dataclass(frozen=True)
class TrainJobArgs(TrainingRunArgs):
    """A Trainer v2 TrainJob, on the ClusterTrainingRuntime its config names (`runtime`) or its framework's."""


def trainjob_spec(
    job: config.TrainingJob,
    env: list[dict],
    volumes: list[dict],
    mounts: list[dict],
    gpu: GpuScheduling,
    account: pulumi.Input[str],
) -> dict:
    """The TrainJob spec: runtime reference, the trainer, and the patch that mounts the buckets."""
    worker = job.roles["Worker"]
    fits = placement(worker.resources, gpu)
    trainer: dict = {
        "image": job.image,
        "numNodes": worker.replicas,
        "resourcesPerNode": fits.resources,
        "env": env,
    }
    if job.command:
        trainer["command"] = list(job.command)
    if job.args:
        trainer["args"] = list(job.args)
    pod = {"containers": [{"name": NODE, "volumeMounts": mounts}], "volumes": volumes, **fits.pod_fields()}
    # The patch's pod schema has securityContext and serviceAccountName but no automountServiceAccountToken
    # (trainer.kubeflow.org_trainjobs.yaml v2.3.0): the ServiceAccount itself turns the token off.
    pod = harden_pod(pod, RUN_AS["training"].with_user(job.run_as_user), account, automount_token=None)
    patched = [NODE, LAUNCHER] if job.trainer_runtime in LAUNCHER_RUNTIMES else [NODE]
    jobs = [{"name": each, "template": {"spec": {"template": {"spec": pod}}}} for each in patched]
    patch = {"manager": PATCH_MANAGER, "trainingRuntimeSpec": {"template": {"spec": {"replicatedJobs": jobs}}}}
    spec: dict = {
        "runtimeRef": {"apiGroup": "trainer.kubeflow.org", "kind": RUNTIME_KIND, "name": job.trainer_runtime},
        "trainer": trainer,
        "runtimePatches": [patch],
    }
    if job.active_deadline_minutes:
        spec["activeDeadlineSeconds"] = job.active_deadline_minutes * 60
    return spec


class TrainJob(pulumi.ComponentResource):
    """Outputs `model_version` ("color:v2") and `model_uri` ("oss://<models bucket>/color/v2/")."""

    def __init__(self, name: str, args: TrainJobArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("mlplatform:trainjob:TrainJob", name, None, opts)
        job = args.job
        self.model_version = job.model
        data = training_storage(name, job, args.storage, args.namespace, self)
        self.model_uri = data.model_uri
        dataset, output, identity = data.dataset, data.output, data.identity
        env = container_env(data.env, self.model_uri)
        self.service_account, account_name = service_account(name, args.namespace, parent=self)
        spec = trainjob_spec(
            job,
            env,
            [dataset.pod_volume("dataset"), output.pod_volume("model")],
            [dataset.mount("dataset", DATA_DIR), output.mount("model", MODEL_DIR)],
            args.gpu,
            account_name,
        )
        self.job = k8s.apiextensions.CustomResource(
            f"{name}-trainjob",
            api_version=API_VERSION,
            kind="TrainJob",
            metadata=run_metadata(name, args.namespace, job, "Complete"),
            spec=spec,
            # runtimeRef is immutable anyway: a new spec is a new run.
            opts=run_options(self, [dataset, output, *identity, self.service_account, *args.depends_on]),
        )
        self.register_outputs(
            {"kind": "TrainJob", "jobName": name, "modelVersion": self.model_version, "modelUri": self.model_uri}
        )
