"""Kubeflow Trainer v2.3.0: the controller of TrainJobs, with the ClusterTrainingRuntimes they run on.

Installed from its OCI chart as its README gives (`charts/kubeflow-trainer/README.md` at v2.3.0):
`oci://ghcr.io/kubeflow/charts/kubeflow-trainer`, chart version `2.3.0` (no `v`), namespace
`kubeflow-system`. The chart installs the CRDs (`crds.enabled`, default true; templates that no value annotates
`helm.sh/resource-policy: keep`, so the release is retained on delete) and JobSet (`jobset.install`, default true).

The built-in runtimes are this component's, not the chart's. The chart applies them from a post-install hook Job
(`templates/runtimes/installer-job.yaml`) that runs `docker.io/alpine:3.21` and `apk add kubectl` from the Alpine
CDN, which no image mirror serves; with `atomic: true` a failed hook rolls the whole release back. The hook and its
ConfigMap, RBAC and pre-delete cleanup Job render only when a runtime is enabled (`trainer.runtimes.enabled` in
`templates/runtimes/_runtimes.tpl`: `runtimes.defaultEnabled` or any `runtimes.*.enabled`, all false by default),
so the chart enables none, and each runtime the jobs ask for is a ClusterTrainingRuntime rendered here, transcribed
from the chart's `files/runtimes/<name>.yaml` (the `trainer.runtimeImage` it renders: `ghcr.io/kubeflow/trainer/
<runtime>:v2.3.0`), its images through `operators.imageRegistry` when set. Which runtimes the stack installs is
`RUNTIMES`' keys the jobs ask for; `mlplatform.validation.webhooks` refuses a TrainJob naming any other
ClusterTrainingRuntime, as the Trainer webhook would (the runtime must exist).

The Kubeflow training-operator v1 (TFJob, PyTorchJob, ...; group kubeflow.org) stays installed beside it
(`mlplatform/infra/operators.py`): Trainer v2 serves another group (trainer.kubeflow.org), so v1 jobs keep working.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple

import pulumi
import pulumi_kubernetes as k8s

from mlplatform import images, pins
from mlplatform.conventions import mirrored
from mlplatform.infra import helm

TRAINER_VERSION = pins.TRAINER.version
TRAINER_CHART = pins.TRAINER.chart
TRAINER_NAMESPACE = "kubeflow-system"
RUNTIME_API = "trainer.kubeflow.org/v1alpha1"
# The label the trainer's own runtimes carry, marking the job step that runs the training code.
ANCESTOR = {"trainer.kubeflow.org/trainjob-ancestor-step": "trainer"}
# OpenMPI over SSH, as the MPI runtimes of files/runtimes/{deepspeed,mlx}-distributed.yaml configure it.
MPI_POLICY = {
    "numProcPerNode": 1,
    "mpiImplementation": "OpenMPI",
    "sshAuthMountPath": "/home/mpiuser/.ssh",
    "runLauncherAsNode": True,
}


class Runtime(NamedTuple):
    framework: str  # the `trainer.kubeflow.org/framework` label
    ml_policy: dict  # `spec.mlPolicy` besides `numNodes: 1`


# ClusterTrainingRuntime name (charts/kubeflow-trainer/files/runtimes at v2.3.0) -> its framework and ML policy.
RUNTIMES = {
    "torch-distributed": Runtime("torch", {"torch": {}}),
    "deepspeed-distributed": Runtime("deepspeed", {"mpi": MPI_POLICY}),
    "mlx-distributed": Runtime("mlx", {"mpi": MPI_POLICY}),
    "jax-distributed": Runtime("jax", {"jax": {}}),
    "xgboost-distributed": Runtime("xgboost", {"xgboost": {}}),
}


def _job(name: str, pod: dict, labels: dict | None = None, depends_on: list | None = None) -> dict:
    template: dict = {"spec": {"template": {"spec": pod}}}
    if labels:
        template["metadata"] = {"labels": labels}
    job: dict = {"name": name, "template": template}
    if depends_on:
        job["dependsOn"] = depends_on
    return job


def runtime_spec(name: str, image: str) -> dict:
    """The ClusterTrainingRuntime `name` of the chart's files/runtimes/<name>.yaml, its nodes running `image`."""
    runtime = RUNTIMES[name]
    spec: dict = {"mlPolicy": {"numNodes": 1, **runtime.ml_policy}}
    if "mpi" not in runtime.ml_policy:
        spec["template"] = {
            "spec": {"replicatedJobs": [_job("node", {"containers": [{"name": "node", "image": image}]}, ANCESTOR)]}
        }
        return spec
    # The MPI runtimes: `node` runs sshd as mpiuser (1000); `launcher`, once the nodes are ready, is a node too.
    user = {"securityContext": {"runAsUser": 1000}}
    sshd = {
        "name": "node",
        "image": image,
        **user,
        "command": ["/usr/sbin/sshd"],
        "args": ["-De", "-f", "/home/mpiuser/.sshd_config"],
        "readinessProbe": {"tcpSocket": {"port": 2222}, "initialDelaySeconds": 5},
    }
    launcher = {"name": "node", "image": image, **user}
    group = {"securityContext": {"fsGroup": 1000}}
    spec["template"] = {
        "spec": {
            "network": {"publishNotReadyAddresses": True},
            "successPolicy": {"operator": "All", "targetReplicatedJobs": ["launcher"]},
            "replicatedJobs": [
                _job("node", {**group, "containers": [sshd]}),
                _job("launcher", {**group, "containers": [launcher]}, ANCESTOR, [{"name": "node", "status": "Ready"}]),
            ],
        }
    }
    return spec


@dataclass(frozen=True)
class TrainerArgs:
    # ClusterTrainingRuntimes to install (keys of RUNTIMES); torch-distributed always.
    runtimes: Sequence[str] = ("torch-distributed",)
    # The registry every image is pulled through (`operators.imageRegistry`); None: the upstream registries.
    image_registry: str | None = None


def chart_values(image_registry: str | None = None) -> dict:
    """The kubeflow-trainer values: no built-in runtime (so no installer hook), every image through the mirror."""
    return images.mirror_values(images.TRAINER, image_registry)


class Trainer(pulumi.ComponentResource):
    """Outputs `ready` (the release and the runtimes, for TrainJobs to depend on) and `runtimes` (their names)."""

    def __init__(self, name: str, args: TrainerArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("mlplatform:trainer:Trainer", name, None, opts)
        namespace = helm.namespace(f"{name}-{TRAINER_NAMESPACE}-ns", TRAINER_NAMESPACE, self)
        self.runtimes = sorted({"torch-distributed", *args.runtimes})
        self.release = helm.pinned_release(
            f"{name}-kubeflow-trainer",
            "kubeflow-trainer",
            TRAINER_CHART,
            TRAINER_VERSION,
            namespace.metadata.name,
            chart_values(args.image_registry),
            self,
            # Its CRDs are templates of this release with no value to keep them (`crds.enabled` only,
            # templates/crd/ at v2.3.0): retained, so removing the last TrainJob uninstalls nothing cluster-wide.
            retain_on_delete=True,
        )
        runtimes = [
            k8s.apiextensions.CustomResource(
                f"{name}-runtime-{runtime}",
                api_version=RUNTIME_API,
                kind="ClusterTrainingRuntime",
                metadata={"name": runtime, "labels": {"trainer.kubeflow.org/framework": RUNTIMES[runtime].framework}},
                spec=runtime_spec(runtime, mirrored(images.TRAINER_RUNTIME_IMAGES[runtime], args.image_registry)),
                # The CRD and the webhook that admits runtimes come with the release.
                opts=pulumi.ResourceOptions(parent=self, depends_on=[self.release]),
            )
            for runtime in self.runtimes
        ]
        self.ready: list[pulumi.Resource] = [self.release, *runtimes]
        self.register_outputs({"version": TRAINER_VERSION, "runtimes": self.runtimes})
