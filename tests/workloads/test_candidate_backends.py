"""dev's candidate rules (stacks/dev.py `candidate`) hold for Seldon, KServe and LLM servings alike."""

from mlplatform.config import Serving
from stacks.dev import candidate

SCALING = {"minReplicas": 2, "maxReplicas": 6}


def test_a_kserve_serving_runs_one_replica_per_predictor_without_autoscaling():
    serving = Serving.model_validate(
        {
            "backend": "kserve",
            "protocol": "tensorflow",
            "predictors": [
                {"name": "v1", "model": "color:v1", "traffic": 90, "replicas": 3, "autoscaling": SCALING},
                {"name": "v2", "model": "color:v2", "traffic": 10, "replicas": 2},
            ],
        }
    )
    shrunk = candidate(serving)
    assert [(p.replicas, p.autoscaling) for p in shrunk.predictors] == [(1, None), (1, None)]
    assert shrunk.backend == "kserve" and [p.traffic for p in shrunk.predictors] == [90, 10]


def test_an_llm_serving_runs_at_most_one_replica_and_still_scales_to_zero():
    scaling = {"minReplicas": 0, "maxReplicas": 4}
    serving = Serving.model_validate(
        {"backend": "kserve", "kind": "llm", "llm": {"model": "qwen:v1", "scaling": scaling}}
    )
    shrunk = candidate(serving).llm.scaling
    assert (shrunk.min_replicas, shrunk.max_replicas) == (0, 1)
    always_on = Serving.model_validate(
        {
            "backend": "kserve",
            "kind": "llm",
            "llm": {"model": "qwen:v1", "scaling": {"minReplicas": 2, "maxReplicas": 3}},
        }
    )
    assert (candidate(always_on).llm.scaling.min_replicas, candidate(always_on).llm.scaling.max_replicas) == (1, 1)
