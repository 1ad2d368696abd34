"""`promote` and `traffic` on a KServe serving: the new version becomes a canary (no autoscaling)."""

from pathlib import Path

import pytest
from test_promote import copy_project, namespace_values, publish, run

from mlplatform import config


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return copy_project(tmp_path)


def test_promote_into_a_kserve_serving_adds_a_canary_without_autoscaling(project, capsys):
    publish(project, "sentiment:v3")

    code, out, _ = run(project, capsys, "promote", "--model", "sentiment:v3", "--from", "dev", "--to", "prod")

    assert code == 0, out
    sentiment = config.parse(namespace_values(project, "prod")).servings["sentiment"]
    added = sentiment.predictors[-1]
    assert (added.name, added.model, added.traffic, added.autoscaling) == ("v3", "sentiment:v3", 10, None)
    assert added.server == "TRITON_SERVER" and added.replicas == 2  # the other settings of the busiest predictor
    assert sum(p.traffic for p in sentiment.predictors) == 100
    assert sentiment.stable.autoscaling is not None  # the stable predictor keeps autoscaling


def test_traffic_sets_a_kserve_split(project, capsys):
    code, out, _ = run(
        project, capsys, "traffic", "--stack", "prod", "--serving", "sentiment", "stable=80", "candidate=20"
    )

    assert code == 0, out
    sentiment = config.parse(namespace_values(project, "prod")).servings["sentiment"]
    assert {p.name: p.traffic for p in sentiment.predictors} == {"stable": 80, "candidate": 20}
