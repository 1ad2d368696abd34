"""A Katib v0.19.0 hyper-parameter tuning Experiment whose trials are the platform's training jobs.

Each trial is exactly the job `training.py` (a TFJob/PyTorchJob/XGBoostJob/MPIJob) or `trainjob.py` (a Trainer v2
TrainJob) renders for the experiment's `trial`, from their pure spec functions: the same hardened pods, GPU
placement, bucket volumes (the dataset read-only, the model version read-write) and ServiceAccount, here the
experiment's own (named like it), which its cloud identity is bound to, in the team's training namespace
(kubeflow/katib v0.19.0: the Trial controller creates the trial's job in the Experiment's namespace,
`pkg/controller.v1beta1/trial`). Katib fills in the hyper-parameters where the trial's command, args or env say
`${trialParameters.<name>}` (`spec.trialTemplate.trialParameters`, one per parameter, and `trialName`, the trial's
own name: the meta reference `${trialSpec.Name}`, validator.go `isMetaKey`).

What a trial writes, and how the best becomes the model version:
- Every trial mounts the version's prefix `<model>/<version>/` at MODEL_DIR's parent and writes its model under
  `trials/<trial name>/` of it (env MODEL_DIR, MODEL_EXPORT_DIR, MODEL_URI point there, TRIAL_NAME names it), so
  parallel trials never overwrite each other.
- The trial prints its metrics as `name=value` lines on stdout: Katib's StdOut collector, a sidecar its pod webhook
  injects into the trial's primary pod (`primaryPodLabels`: the training operator's `job-role: master` pod, the
  TrainJob's node 0; container `primaryContainerName`), reports them to the DB manager; Katib keeps the best trial
  in the Experiment's `status.currentOptimalTrial`.
- The Experiment carries `pulumi.com/waitFor: condition=Succeeded`, so `pulumi up` returns once it has run.
  Copying the best trial's `trials/<best>/` to `<model>/<version>/` is the user's step: pulumi-kubernetes' Python
  `CustomResource` exposes no `status`, and no controller of the platform reads it, so the stack output
  `experiments.<name>` gives the command that reads the best trial and the one that copies it (docs/tuning.md).
  The version is published (`modelVersions`) once it is listed under `models`, after that copy.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import pulumi
import pulumi_kubernetes as k8s

from mlplatform import config, rules
from mlplatform.conventions import config_path_annotation
from mlplatform.workloads import trainjob
from mlplatform.workloads.scheduling import GpuScheduling
from mlplatform.workloads.security import service_account
from mlplatform.workloads.training import (
    API_VERSION as TRAINING_API_VERSION,
)
from mlplatform.workloads.training import (
    DATA_DIR,
    FRAMEWORKS,
    MODEL_DIR,
    SERVING_EXPORT_VERSION,
    RunPod,
    container_env,
    run_options,
    training_storage,
    trainingjob_spec,
)
from mlplatform.workloads.volumes import BucketStorage

API_VERSION = "kubeflow.org/v1beta1"
# The trial parameter that holds the trial's own name (Katib consts.TrialTemplateMetaKeyOfName).
TRIAL_NAME = "trialName"
TRIALS_DIR = "trials"
# How Katib tells a trial's job succeeded or failed, and which of its pods carries the metrics collector: the
# defaults its Experiment defaulter sets for Kubeflow jobs (kubeflow/katib v0.19.0
# pkg/apis/controller/experiments/v1beta1/constants.go), written out since the validator requires them.
V1_CONDITIONS = (
    'status.conditions.#(type=="Succeeded")#|#(status=="True")#',
    'status.conditions.#(type=="Failed")#|#(status=="True")#',
)
TRAINJOB_CONDITIONS = (
    'status.conditions.#(type=="Complete")#|#(status=="True")#',
    'status.conditions.#(type=="Failed")#|#(status=="True")#',
)
V1_PRIMARY_POD = {"training.kubeflow.org/job-role": "master"}
TRAINJOB_PRIMARY_POD = {
    "jobset.sigs.k8s.io/replicatedjob-name": "node",
    "batch.kubernetes.io/job-completion-index": "0",
}
# The Experiment's condition once its trials are done (pkg/apis/controller/experiments/v1beta1 ExperimentSucceeded).
DONE = "Succeeded"


@dataclass(frozen=True)
class ExperimentArgs:
    experiment: config.Experiment
    namespace: pulumi.Input[str]
    storage: BucketStorage
    gpu: GpuScheduling = field(default_factory=GpuScheduling)
    # Katib, the trials' operator (the training operator, or Trainer v2 for TrainJob trials), the namespace.
    depends_on: Sequence[pulumi.Resource] = ()


def trial_reference(name: str) -> str:
    return f"${{trialParameters.{name}}}"


def katib_parameters(experiment: config.Experiment) -> list[dict]:
    """`spec.parameters`: each hyper-parameter's type and feasible space."""
    found = []
    for name, parameter in experiment.parameters.items():
        space = {
            "min": parameter.min,
            "max": parameter.max,
            "step": parameter.step,
            "list": list(parameter.values) or None,
            "distribution": parameter.distribution,
        }
        found.append(
            {
                "name": name,
                "parameterType": parameter.type,
                "feasibleSpace": {key: value for key, value in space.items() if value is not None},
            }
        )
    return found


def trial_parameters(experiment: config.Experiment) -> list[dict]:
    """`spec.trialTemplate.trialParameters`: one per hyper-parameter (same name), and the trial's name."""
    return [{"name": name, "reference": name} for name in experiment.parameters] + [
        {"name": TRIAL_NAME, "reference": "${trialSpec.Name}", "description": "the trial's name"}
    ]


def trial_environment(env: dict[str, str]) -> dict[str, str]:
    """A training run's environment (`training_storage`) with its model written to the trial's own folder."""
    trial = trial_reference(TRIAL_NAME)
    model_dir = f"{MODEL_DIR}/{TRIALS_DIR}/{trial}"
    return {
        **env,
        "MODEL_DIR": model_dir,
        "MODEL_EXPORT_DIR": f"{model_dir}/{SERVING_EXPORT_VERSION}",
        "TRIAL_NAME": trial,
    }


def trial_spec(name: str, job: config.TrainingJob, pod: RunPod) -> dict:
    """The trial's job, as the training renderers make it, without a name or namespace (Katib sets them)."""
    if job.api == "v2":
        spec = trainjob.trainjob_spec(job, pod.env, pod.volumes, pod.mounts, pod.gpu, pod.account)
        return {"apiVersion": trainjob.API_VERSION, "kind": "TrainJob", "spec": spec}
    spec = trainingjob_spec(name, job, pod)
    return {"apiVersion": TRAINING_API_VERSION, "kind": FRAMEWORKS[job.framework].kind, "spec": spec}


def trial_template(experiment: config.Experiment, spec: dict) -> dict:
    """`spec.trialTemplate`: the trial's job, its parameters, how Katib judges it and finds its metrics."""
    v2 = experiment.trial.api == "v2"
    success, failure = TRAINJOB_CONDITIONS if v2 else V1_CONDITIONS
    return {
        "primaryContainerName": trainjob.NODE if v2 else FRAMEWORKS[experiment.trial.framework].container,
        "primaryPodLabels": dict(TRAINJOB_PRIMARY_POD if v2 else V1_PRIMARY_POD),
        "successCondition": success,
        "failureCondition": failure,
        "trialParameters": trial_parameters(experiment),
        "trialSpec": spec,
    }


def experiment_spec(experiment: config.Experiment, spec: dict) -> dict:
    """The Experiment's spec around the trial's job `spec` (trial_spec)."""
    objective = experiment.objective
    found: dict = {
        "objective": {
            "type": objective.type,
            "objectiveMetricName": objective.metric,
            **({"goal": objective.goal} if objective.goal is not None else {}),
            **({"additionalMetricNames": list(objective.additional_metrics)} if objective.additional_metrics else {}),
        },
        "algorithm": {"algorithmName": experiment.algorithm},
        "parallelTrialCount": experiment.parallel_trials,
        "maxTrialCount": experiment.max_trials,
        "metricsCollectorSpec": {"collector": {"kind": "StdOut"}},
        "parameters": katib_parameters(experiment),
        "trialTemplate": trial_template(experiment, spec),
    }
    if experiment.max_failed_trials is not None:
        found["maxFailedTrialCount"] = experiment.max_failed_trials
    return found


class Experiment(pulumi.ComponentResource):
    """Outputs `model_version` ("color:v3") and `trials_uri` ("oss://<models bucket>/color/v3/trials/")."""

    def __init__(self, name: str, args: ExperimentArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("mlplatform:experiment:Experiment", name, None, opts)
        experiment = args.experiment
        job = experiment.trial
        self.model_version = experiment.model
        self.namespace = args.namespace
        self.experiment_name = name
        data = training_storage(name, job, args.storage, args.namespace, self)
        self.model_uri = data.model_uri
        self.trials_uri = pulumi.Output.concat(data.model_uri, f"{TRIALS_DIR}/")
        trial_uri = pulumi.Output.concat(self.trials_uri, trial_reference(TRIAL_NAME), "/")
        env = container_env(trial_environment(data.env), trial_uri)
        self.service_account, account_name = service_account(name, args.namespace, parent=self)
        volumes = [data.dataset.pod_volume("dataset"), data.output.pod_volume("model")]
        mounts = [data.dataset.mount("dataset", DATA_DIR), data.output.mount("model", MODEL_DIR)]
        spec = trial_spec(name, job, RunPod(env, volumes, mounts, args.gpu, account_name))
        model, version = rules.parse_model_version(experiment.model)
        self.experiment = k8s.apiextensions.CustomResource(
            f"{name}-experiment",
            api_version=API_VERSION,
            kind="Experiment",
            metadata={
                "name": name,
                "namespace": args.namespace,
                "labels": {"mlplatform.io/model": model, "mlplatform.io/model-version": version},
                "annotations": {
                    **config_path_annotation("experiments", name),
                    "mlplatform.io/model-version": experiment.model,
                    "pulumi.com/waitFor": f"condition={DONE}",
                    "pulumi.com/timeoutSeconds": str(experiment.timeout_minutes * 60),
                },
            },
            spec=experiment_spec(experiment, spec),
            # Katib refuses changes but to the trial counts (validator.go): a new spec is a new experiment.
            opts=run_options(self, [data.dataset, data.output, *data.identity, self.service_account, *args.depends_on]),
        )
        self.register_outputs(
            {"experimentName": name, "modelVersion": self.model_version, "trialsUri": self.trials_uri}
        )
