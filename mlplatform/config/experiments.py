"""Config of hyper-parameter tuning: Katib v0.19.0 Experiments whose trials are the platform's training jobs
(mlplatform/workloads/experiment.py, docs/tuning.md)."""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import Field, model_validator

from mlplatform.config.base import Model, ModelVersionRef, PathError, Text
from mlplatform.config.workloads import TrainingJob

# The suggestion algorithms the pinned katib-config names (kubeflow/katib v0.19.0
# manifests/v1beta1/installs/katib-standalone/katib-config.yaml `runtime.suggestions`); the Experiment webhook refuses
# any other (`validateAlgorithm`: GetSuggestionConfigData). enas and darts search neural architectures (nasConfig),
# pbt needs a ReadWriteMany volume: not offered.
KATIB_ALGORITHMS = ("random", "tpe", "grid", "hyperband", "bayesianoptimization", "cmaes", "sobol", "multivariate-tpe")
# `${trialParameters.<name>}` in a trial's command, args or env (Katib consts.TrialTemplateParamReplaceFormat).
TRIAL_PARAMETER = re.compile(r"\$\{trialParameters\.(.+?)\}")


class Objective(Model):
    """What the trials are judged by: a metric each trial prints (`name=value` on stdout, Katib's StdOut collector)."""

    type: Literal["maximize", "minimize"]
    """Whether a larger (`maximize`) or smaller (`minimize`) value of `metric` is better."""
    metric: str = Field(min_length=1)
    """The objective metric's name, as the training code prints it (`accuracy=0.93`)."""
    goal: float | None = None
    """Stop the experiment once a trial reaches this value; unset: run `maxTrials` trials."""
    additional_metrics: list[str] = []
    """Further metrics Katib records for each trial (not the objective)."""

    @model_validator(mode="after")
    def _distinct(self) -> Objective:
        if self.metric in self.additional_metrics:
            index = self.additional_metrics.index(self.metric)
            raise PathError(("additionalMetrics", index), f"{self.metric!r} is the objective metric already")
        return self


class Parameter(Model):
    """One hyper-parameter Katib searches (its `feasibleSpace`)."""

    type: Literal["double", "int", "categorical", "discrete"]
    """`double`/`int`: a range (`min`, `max`, optional `step`); `categorical`/`discrete`: `values`."""
    min: Text | None = None
    """The smallest value of a double or int range (Katib takes it as text: `0.001`)."""
    max: Text | None = None
    """The largest value of a double or int range."""
    step: Text | None = None
    """The distance between the values tried in a range (grid search needs it for doubles)."""
    values: list[Text] = []
    """The values of a categorical or discrete parameter (Katib's `feasibleSpace.list`)."""
    distribution: Literal["uniform", "logUniform", "normal", "logNormal"] | None = None
    """How values of a range are drawn; unset: Katib's default, uniform."""

    @model_validator(mode="after")
    def _space(self) -> Parameter:
        """Katib v0.19.0 validator.go `validateParameters`: ranges need min and max and no list; lists no range."""
        if self.type in ("double", "int"):
            if self.values:
                raise PathError(("values",), f"a {self.type} parameter is a range: give min and max, not values")
            if self.min is None or self.max is None:
                raise PathError(("max" if self.min is not None else "min",), f"a {self.type} range needs min and max")
            try:
                low, high = float(self.min), float(self.max)
            except ValueError:
                raise PathError(("min",), f"min and max of a {self.type} range are numbers") from None
            if low > high:
                raise PathError(("min",), f"min {self.min} is above max {self.max}")
        else:
            if self.min is not None or self.max is not None or self.step is not None:
                raise PathError(("values",), f"a {self.type} parameter takes values, not min, max or step")
            if not self.values:
                raise PathError(("values",), f"a {self.type} parameter needs the values to try")
        return self


class Trial(TrainingJob):
    """A trial of an experiment: a training job whose model version and team are the experiment's."""

    model: ModelVersionRef | None = None  # type: ignore[assignment]
    """Set from the experiment's `model`; not given here."""


class Experiment(Model):
    """A Katib hyper-parameter tuning experiment whose trials are training jobs of the platform (v1 or Trainer v2)."""

    model: ModelVersionRef
    """The model version the experiment tunes: each trial writes under `<model>/<version>/trials/<trial>/`, and the
    best trial is copied to `<model>/<version>/` (docs/tuning.md)."""
    team: str | None = None
    """The team that owns it (a key of `teams`): trials run in its training namespace, under its quota."""
    objective: Objective
    """The metric the trials are judged by."""
    algorithm: Literal[KATIB_ALGORITHMS] = "random"
    """Katib's search algorithm (a suggestion service of the pinned katib-config)."""
    parameters: dict[Annotated[str, Field(pattern=r"^[a-zA-Z][-a-zA-Z0-9_]*$")], Parameter] = Field(min_length=1)
    """The hyper-parameters by name; the trial refers to each as `${trialParameters.<name>}` in its command, args
    or env."""
    parallel_trials: int = Field(default=1, ge=1)
    """How many trials run at once (each a whole training job: the team quota must hold them all)."""
    max_trials: int = Field(ge=1)
    """How many trials the experiment runs at most."""
    max_failed_trials: int | None = Field(default=None, ge=0)
    """Stop the experiment after this many failed trials; unset: Katib's default (no limit)."""
    trial: Trial
    """Each trial: a training job (`framework`, `api`, `image`, `roles`, ...) without its own `model` or `team`."""
    timeout_minutes: int = Field(default=240, ge=1)
    """How long `pulumi up` waits for the experiment to succeed."""

    @model_validator(mode="before")
    @classmethod
    def _trial_model(cls, data: Any) -> Any:
        """The trial writes the experiment's model version; it names none of its own."""
        if isinstance(data, dict) and isinstance(data.get("trial"), dict) and "model" in data:
            trial = data["trial"]
            for field in ("model", "team", "dependsOn"):
                if field in trial:
                    raise PathError(("trial", field), f"set on the experiment, not its trial ({field})")
            return {**data, "trial": {**trial, "model": data["model"], "team": data.get("team")}}
        return data

    @model_validator(mode="after")
    def _trials(self) -> Experiment:
        """Katib v0.19.0 validator.go: parallelTrialCount <= maxTrialCount, maxFailedTrialCount <= maxTrialCount;
        every trial parameter substituted in the template and every substitution a trial parameter."""
        if self.parallel_trials > self.max_trials:
            raise PathError(
                ("parallelTrials",), f"{self.parallel_trials} parallel trials exceed maxTrials {self.max_trials}"
            )
        if self.max_failed_trials is not None and self.max_failed_trials > self.max_trials:
            raise PathError(("maxFailedTrials",), f"above maxTrials {self.max_trials}")
        used: set[str] = set()
        for path, text in self.trial_texts():
            for name in TRIAL_PARAMETER.findall(text):
                if name not in self.parameters:
                    raise PathError(
                        ("trial", *path),
                        f"${{trialParameters.{name}}} names no parameter (parameters: {', '.join(self.parameters)})",
                    )
                used.add(name)
        for name in self.parameters:
            if name not in used:
                raise PathError(
                    ("parameters", name),
                    f"the trial never uses it: put ${{trialParameters.{name}}} in the trial's command, args or env",
                )
        return self

    def trial_texts(self):
        """(path within the trial, text) of every command, argument and environment value of the trial."""
        for index, text in enumerate(self.trial.command):
            yield ("command", index), text
        for index, text in enumerate(self.trial.args):
            yield ("args", index), text
        for key, text in self.trial.env.items():
            yield ("env", key), text

    @property
    def depends_on(self) -> list[str]:
        return []


def check_experiments(settings) -> None:
    """An experiment's trials write `<model>/<version>/trials/<trial>/` and its best trial becomes the version: the
    version is the experiment's alone, no training job's and no other experiment's (StackConfig's cross-check)."""
    trained = settings.trained_versions()
    tuned: dict[str, str] = {}
    for name, experiment in settings.experiments.items():
        path, version = ("experiments", name, "model"), experiment.model
        if version in trained:
            raise PathError(path, f"{version!r} is written by training job {trained[version]!r}: tune a new version")
        if version in tuned:
            raise PathError(path, f"{version!r} is tuned by experiment {tuned[version]!r} already")
        tuned[version] = name
