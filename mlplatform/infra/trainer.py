"""Kubeflow Trainer v2.3.0: the controller of TrainJobs, with the ClusterTrainingRuntimes they run on.

Installed from its OCI chart as its README gives (`charts/kubeflow-trainer/README.md` at v2.3.0):
`oci://ghcr.io/kubeflow/charts/kubeflow-trainer`, chart version `2.3.0` (no `v`), namespace
`kubeflow-system`. The chart installs the CRDs (`crds.enabled`, default true; templates that no value annotates
`helm.sh/resource-policy: keep`, so the release is retained on delete) and JobSet (`jobset.install`,
default true) and applies the built-in runtimes from a post-install hook Job once the CRDs exist, one
value per runtime (`runtimes.torchDistributed.enabled`, ...; `values.yaml`). Which runtimes the stack
installs is `RUNTIME_VALUES`' keys the jobs ask for; `mlplatform.validation.webhooks` refuses a TrainJob
naming any other ClusterTrainingRuntime, as the Trainer webhook would (the runtime must exist).

The Kubeflow training-operator v1 (TFJob, PyTorchJob, ...; group kubeflow.org) stays installed beside it
(`mlplatform/infra/operators.py`): Trainer v2 serves another group (trainer.kubeflow.org), so v1 jobs keep working.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pulumi

from mlplatform import pins
from mlplatform.infra import helm

TRAINER_VERSION = pins.TRAINER.version
TRAINER_CHART = pins.TRAINER.chart
TRAINER_NAMESPACE = "kubeflow-system"
# ClusterTrainingRuntime name (manifests/base/runtimes at v2.3.0) -> the chart value that installs it.
RUNTIME_VALUES = {
    "torch-distributed": "torchDistributed",
    "deepspeed-distributed": "deepspeedDistributed",
    "mlx-distributed": "mlxDistributed",
    "jax-distributed": "jaxDistributed",
    "xgboost-distributed": "xgboostDistributed",
}


@dataclass(frozen=True)
class TrainerArgs:
    # ClusterTrainingRuntimes to install (keys of RUNTIME_VALUES); torch-distributed always.
    runtimes: Sequence[str] = ("torch-distributed",)


def chart_values(runtimes: Sequence[str]) -> dict:
    """The kubeflow-trainer values that enable exactly these built-in runtimes."""
    wanted = {"torch-distributed", *runtimes}
    return {"runtimes": {RUNTIME_VALUES[runtime]: {"enabled": True} for runtime in sorted(wanted)}}


class Trainer(pulumi.ComponentResource):
    """Outputs `ready` (the release, for TrainJobs to depend on) and `runtimes` (the ClusterTrainingRuntimes)."""

    def __init__(self, name: str, args: TrainerArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("mlplatform:trainer:Trainer", name, None, opts)
        namespace = helm.namespace(f"{name}-{TRAINER_NAMESPACE}-ns", TRAINER_NAMESPACE, self)
        self.runtimes = sorted({"torch-distributed", *args.runtimes})
        # wait_for_jobs: the runtimes come from a post-install hook Job; a TrainJob needs them to exist.
        self.release = helm.pinned_release(
            f"{name}-kubeflow-trainer",
            "kubeflow-trainer",
            TRAINER_CHART,
            TRAINER_VERSION,
            namespace.metadata.name,
            chart_values(self.runtimes),
            self,
            wait_for_jobs=True,
            # Its CRDs are templates of this release with no value to keep them (`crds.enabled` only,
            # templates/crd/ at v2.3.0): retained, so removing the last TrainJob uninstalls nothing cluster-wide.
            retain_on_delete=True,
        )
        self.ready: list[pulumi.Resource] = [self.release]
        self.register_outputs({"version": TRAINER_VERSION, "runtimes": self.runtimes})
