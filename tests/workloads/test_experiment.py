"""Katib hyper-parameter tuning: the dev stack's Experiment, the Katib webhook rules it passes and those it would
break, the config errors a user reads, the trials' quota, flows and the install."""

import copy
from pathlib import Path

import pytest

from mlplatform import config, images, pins, validation
from mlplatform.config import ConfigError
from mlplatform.infra import flows, katib
from mlplatform.offline import stackfiles
from mlplatform.validation import crds

ROOT = Path(__file__).resolve().parents[2]


def values(stack: str = "dev") -> dict:
    return copy.deepcopy(stackfiles.load(ROOT, stack).namespace_values())


def refused(raw: dict) -> tuple[str, str]:
    with pytest.raises(ConfigError) as error:
        config.parse(raw)
    return error.value.path.removeprefix("ml-platform:"), error.value.reason


@pytest.fixture(scope="module")
def dev_experiment():
    from mlplatform.offline.preview import run_preview

    result = run_preview("dev", ROOT)
    return result, next(m for m in result.manifests if m["kind"] == "Experiment")


# ---------------------------------------------------------------- the shipped dev stack


def test_the_dev_stack_renders_an_experiment_whose_trials_are_a_tfjob(dev_experiment):
    _, experiment = dev_experiment
    assert experiment["apiVersion"] == "kubeflow.org/v1beta1"
    assert experiment["metadata"]["namespace"] == "training"
    spec = experiment["spec"]
    assert (spec["parallelTrialCount"], spec["maxTrialCount"]) == (2, 4)
    assert isinstance(spec["parallelTrialCount"], int) and isinstance(spec["maxTrialCount"], int)
    assert spec["algorithm"] == {"algorithmName": "random"}
    trial = spec["trialTemplate"]["trialSpec"]
    assert (trial["apiVersion"], trial["kind"]) == ("kubeflow.org/v1", "TFJob")
    assert "metadata" not in trial or not trial["metadata"].get("name")
    worker = trial["spec"]["tfReplicaSpecs"]["Worker"]["template"]["spec"]
    assert worker["serviceAccountName"] == "color-tuning"
    assert worker["securityContext"]["runAsNonRoot"] is True
    [container] = worker["containers"]
    assert container["args"] == ["--learning-rate=${trialParameters.learning-rate}"]
    env = {item["name"]: item["value"] for item in container["env"]}
    assert env["MODEL_DIR"] == "/model/trials/${trialParameters.trialName}"
    assert env["MODEL_URI"] == "oss://mlp-dev-models-hz/color/v3/trials/${trialParameters.trialName}/"
    assert spec["trialTemplate"]["primaryContainerName"] == container["name"] == "tensorflow"


def test_the_dev_experiment_is_valid_against_the_crd_and_katibs_webhook(dev_experiment):
    _, experiment = dev_experiment
    assert crds.schema("kubeflow.org/v1beta1", "Experiment") is not None
    assert validation.validate(experiment, strict=True) == []


def test_the_dev_stack_installs_katib_pinned_and_exports_the_best_trial_commands(dev_experiment):
    result, _ = dev_experiment
    [install] = [
        p for p in result.packages if p["type"].endswith("kustomize/v2:Directory") and "katib" in p["directory"]
    ]
    assert install["directory"] == images.KATIB.url.format(version=pins.KATIB.version)
    assert images.KATIB.version == pins.KATIB.version
    output = result.outputs["experiments"]["color-tuning"]
    assert output["trials"] == "oss://mlp-dev-models-hz/color/v3/trials/"
    assert "get experiment color-tuning" in output["bestTrial"]
    assert output["publish"].endswith(
        "ossutil cp -r oss://mlp-dev-models-hz/color/v3/trials/$BEST_TRIAL/ oss://mlp-dev-models-hz/color/v3/"
    )


def test_the_training_namespace_is_open_to_katib_metrics_injection(dev_experiment):
    result, _ = dev_experiment
    [training] = [m for m in result.manifests if m["kind"] == "Namespace" and m["metadata"]["name"] == "training"]
    assert training["metadata"]["labels"][katib.KATIB_INJECTION[0]] == "enabled"


def test_katib_flows_exist_only_with_experiments():
    with_experiments = config.parse(values())
    names = {flow.name for flow in flows.platform_flows(with_experiments)}
    assert {"katib-metrics-to-db-manager", "katib-controller-to-suggestions"} <= names
    raw = values()
    del raw["experiments"]
    assert not any(f.name.startswith("katib") for f in flows.platform_flows(config.parse(raw)))


def test_the_mirror_rewrites_katib_config_images():
    text = "runtime:\n  suggestions:\n    - algorithmName: random\n      image: ghcr.io/kubeflow/katib/suggestion-hyperopt:v0.19.0\n"
    mirrored = katib.katib_config(text, "registry.example.com/mirror")
    assert "image: registry.example.com/mirror/kubeflow/katib/suggestion-hyperopt:v0.19.0" in mirrored


# ---------------------------------------------------------------- Katib's webhook rules (violating cases)


def _with(experiment: dict, change) -> dict:
    changed = copy.deepcopy(experiment)
    change(changed["spec"])
    return changed


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        (lambda s: s.update(parallelTrialCount=5), "spec.parallelTrialCount: should be less than or equal to"),
        (lambda s: s.update(maxFailedTrialCount=9), "spec.maxFailedTrialCount: should be less than or equal to"),
        (lambda s: s["objective"].update(type="best"), "spec.objective.type: 'best' must be minimize or maximize"),
        (lambda s: s["algorithm"].update(algorithmName="genetic"), "no suggestion for algorithm 'genetic'"),
        (
            lambda s: s["trialTemplate"]["trialParameters"].append({"name": "momentum", "reference": "momentum"}),
            "parameter reference momentum does not exist in spec.parameters",
        ),
        (
            lambda s: s["trialTemplate"]["trialParameters"].pop(0),
            "parameters ${trialParameters.learning-rate} in spec.trialTemplate not found in spec.trialParameters",
        ),
        (
            lambda s: s["trialTemplate"]["trialSpec"].update(apiVersion="kubeflow.org/v1", kind="PaddleJob"),
            "PaddleJob.kubeflow.org/v1 is not a trial resource of katib-config",
        ),
        (
            lambda s: s["parameters"][0]["feasibleSpace"].pop("max"),
            "spec.parameters[0].feasibleSpace.max: feasibleSpace.max or feasibleSpace.min must be specified",
        ),
        (
            lambda s: s["trialTemplate"]["trialSpec"]["spec"]["tfReplicaSpecs"].update(Boss={}),
            "spec.trialTemplate.trialSpec: spec.tfReplicaSpecs.Boss: unsupported replica type 'Boss'",
        ),
    ],
)
def test_katibs_webhook_refuses(dev_experiment, change, problem):
    _, experiment = dev_experiment
    found = validation.validate(_with(experiment, change))
    assert any(problem in line for line in found), found


# ---------------------------------------------------------------- config


def test_a_trainjob_trial_renders_a_trainjob_and_installs_trainer(plan):
    from mlplatform.workloads.experiment import trial_template

    raw = values()
    raw["experiments"]["color-tuning"]["trial"] = {
        "framework": "pytorch",
        "api": "v2",
        "image": "registry.cn-hangzhou.aliyuncs.com/ml-platform/train-sentiment:v1",
        "command": ["torchrun", "/workspace/train.py", "--lr=${trialParameters.learning-rate}"],
        "roles": {"Worker": {"replicas": 1, "resources": {"cpu": "1", "memory": "2Gi"}}},
    }
    experiment = config.parse(raw).experiments["color-tuning"]
    template = trial_template(experiment, {"apiVersion": "trainer.kubeflow.org/v1alpha1", "kind": "TrainJob"})
    assert template["primaryContainerName"] == "node"
    assert template["primaryPodLabels"]["jobset.sigs.k8s.io/replicatedjob-name"] == "node"
    assert 'type=="Complete"' in template["successCondition"]


@pytest.mark.parametrize(
    ("change", "path", "reason"),
    [
        (
            lambda e: e.update(parallelTrials=5),
            "experiments.color-tuning.parallelTrials",
            "5 parallel trials exceed maxTrials 4",
        ),
        (
            lambda e: e["trial"].update(args=["--lr=${trialParameters.lr}"]),
            "experiments.color-tuning.trial.args[0]",
            "${trialParameters.lr} names no parameter (parameters: learning-rate)",
        ),
        (
            lambda e: e["trial"].update(args=[]),
            "experiments.color-tuning.parameters.learning-rate",
            "the trial never uses it",
        ),
        (lambda e: e.update(model="color:v2"), "experiments.color-tuning.model", "written by training job"),
        (
            lambda e: e["parameters"]["learning-rate"].update(values=["0.1"]),
            "experiments.color-tuning.parameters.learning-rate.values",
            "a double parameter is a range",
        ),
        (
            lambda e: e["trial"].update(model="color:v9"),
            "experiments.color-tuning.trial.model",
            "set on the experiment",
        ),
    ],
)
def test_config_refuses(change, path, reason):
    raw = values()
    change(raw["experiments"]["color-tuning"])
    found_path, found_reason = refused(raw)
    assert found_path == path
    assert reason in found_reason


def test_parallel_trials_that_do_not_fit_the_team_quota_are_refused():
    raw = values()
    raw["experiments"]["color-tuning"].update(parallelTrials=4, maxTrials=8)
    raw["experiments"]["color-tuning"]["trial"]["roles"]["Worker"]["resources"]["cpu"] = "2"
    path, reason = refused(raw)
    assert path == "experiments.color-tuning"
    assert "namespace training" in reason and "CPUs" in reason and "over the quota of 20" in reason


def test_katibs_database_claim_binds_on_every_cluster_and_outlives_katib():
    import pulumi

    from mlplatform.conventions import DISK_STORAGE_CLASS
    from mlplatform.infra.katib import CLAIM_TYPE, katib_transform

    claim = {
        "metadata": {"name": "katib-mysql", "namespace": "kubeflow"},
        "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "10Gi"}}},
    }
    args = pulumi.ResourceTransformArgs(
        custom=True, type_=CLAIM_TYPE, name="katib-mysql", props=claim, opts=pulumi.ResourceOptions()
    )
    result = katib_transform(None)(args)
    assert result.props["spec"]["storageClassName"] == DISK_STORAGE_CLASS  # ASK has no default class
    assert result.props["spec"]["resources"]["requests"]["storage"] == "20Gi"  # the smallest Alibaba Cloud disk
    assert result.props["spec"]["accessModes"] == ["ReadWriteOnce"]
    assert result.opts.retain_on_delete is True
