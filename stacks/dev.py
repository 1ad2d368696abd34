"""dev: a serverless cluster where models are trained and their candidates served on one replica each.

Everything is disposable: nothing is protected, and servings run a single replica without autoscaling
(a candidate is checked, not load-tested). dev publishes the model versions it holds as the stack
output `modelVersions`; prod reads it to decide what may be promoted.
"""

from __future__ import annotations

import pulumi

from mlplatform import config as cfg
from stacks import workloads
from stacks.base import build_platform


def candidate(serving: cfg.Serving) -> cfg.Serving:
    """The same serving at candidate scale: one replica per predictor, no autoscaling (either backend);
    an LLM serving at most one replica, still scaling to zero when it does."""
    predictors = [p.model_copy(update={"replicas": 1, "autoscaling": None}) for p in serving.predictors]
    update: dict = {"predictors": predictors}
    if serving.llm:
        scaling = serving.llm.scaling
        one = scaling.model_copy(update={"min_replicas": min(scaling.min_replicas, 1), "max_replicas": 1})
        update["llm"] = serving.llm.model_copy(update={"scaling": one})
    return serving.model_copy(update=update)


def compose(stack: str, settings: cfg.StackConfig) -> None:
    settings = settings.model_copy(
        update={"servings": {name: candidate(serving) for name, serving in settings.servings.items()}}
    )
    platform = build_platform(stack, "dev", settings)
    workloads.deploy(platform)
    pulumi.export("modelVersions", sorted(settings.known_versions()))
