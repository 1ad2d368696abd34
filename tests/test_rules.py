"""One rule, one place: the library's rules module is what config, rendering, validation and the pack use."""

import sys
from pathlib import Path

import pytest

from mlplatform import config, rules, validation
from mlplatform.config import ConfigError

ROOT = Path(__file__).resolve().parents[1]


def test_model_versions_parse_and_map_to_their_bucket_prefix():
    assert rules.parse_model_version("color:v2") == ("color", "v2")
    assert rules.parse_model_version("Color:v2") is None
    assert rules.model_prefix("style:2024.1") == "style/2024.1"
    with pytest.raises(ValueError, match="is not a model version"):
        rules.model_prefix("color")


def test_traffic_problems_are_the_same_in_config_and_the_webhook_transcription():
    assert rules.traffic_problem([("v1", 80), ("v2", 10)]) == rules.TrafficProblem("sum", "v1=80 + v2=10", 90)
    assert rules.traffic_problem([("v1", 50)]).kind == "single"
    assert rules.traffic_problem([("v1", 0)]) is None and rules.traffic_problem([("v1", 90), ("v2", 10)]) is None
    raw_predictors = [
        {"name": "v1", "model": "color:v1", "traffic": 80},
        {"name": "v2", "model": "color:v2", "traffic": 10},
    ]
    serving = {"protocol": "tensorflow", "predictors": raw_predictors}
    with pytest.raises(Exception, match="traffic must sum to 100, got v1=80 \\+ v2=10 = 90"):
        config.Serving.model_validate(serving)
    seldon = {
        "apiVersion": "machinelearning.seldon.io/v1",
        "kind": "SeldonDeployment",
        "metadata": {"name": "color"},
        "spec": {
            "predictors": [
                {"name": p["name"], "traffic": p["traffic"], "graph": {"name": "m", "modelUri": "s3://b/m"}}
                for p in raw_predictors
            ]
        },
    }
    for predictor in seldon["spec"]["predictors"]:
        predictor["graph"]["implementation"] = "SKLEARN_SERVER"
    assert any("traffic must sum to 100" in problem for problem in validation.validate(seldon))


def test_training_roles_come_from_one_table():
    assert rules.role_problems("pytorch", {"Worker": 2}) == [((), "a pytorch job needs a Master role")]
    assert (
        rules.role_problems("tensorflow", {"Chief": 1, "Master": 1})[0][1]
        == "a TFJob has at most one of Chief and Master"
    )
    assert config.FRAMEWORK_ROLES is rules.FRAMEWORK_ROLES


def test_gpu_instance_types_are_one_table_for_config_and_the_pack():
    sys.path.insert(0, str(ROOT / "policies"))  # the pack imports itself as `mlpolicies`, as the CLI runs it
    from mlpolicies import infrastructure

    defaults = infrastructure.CAP_SCHEMA["gpuInstanceTypePrefixes"]["default"]
    assert set(defaults) == {p for prefixes in rules.GPU_INSTANCE_PREFIXES.values() for p in prefixes}
    assert rules.is_gpu_instance_type("ecs.gn7i-c8g1.2xlarge", "alicloud")
    assert not rules.is_gpu_instance_type("ecs.gn7i-c8g1.2xlarge", "aws")
    assert not rules.is_gpu_instance_type("g4ad.xlarge", "aws")  # AMD GPUs: no NVIDIA device plugin
    with pytest.raises(ConfigError, match=r"nodePools.gpu.instanceTypes\[0\]: 'm5.xlarge' is not a GPU instance type"):
        config.parse(
            {
                "cloud": "aws",
                "region": "us-east-1",
                "cluster": {
                    "kind": "managed",
                    "kubernetesVersion": "1.35",
                    "network": {"vpcId": "v", "subnetIds": ["s"]},
                },
                "nodePools": {"gpu": {"instanceTypes": ["m5.xlarge"], "minSize": 0, "maxSize": 1, "gpu": True}},
            }
        )


def test_internal_load_balancers_are_one_rule_for_rendering_and_the_pack():
    assert rules.is_internal_load_balancer(rules.internal_load_balancer_annotations("aws"))
    assert rules.is_internal_load_balancer(rules.internal_load_balancer_annotations("alicloud"))
    assert not rules.is_internal_load_balancer({"service.beta.kubernetes.io/aws-load-balancer-scheme": "internal"})
