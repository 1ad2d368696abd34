"""serving-traffic-split, prod-serving-availability and promoted-model-versions."""

from mlpolicies.serving import prod_serving_availability, promoted_model_versions, serving_traffic_split
from policy_harness import UNKNOWN, check, check_stack, predictor, resource_args, seldon, stack_resource

SELDON = "kubernetes:machinelearning.seldon.io/v1:SeldonDeployment"
STACK_REFERENCE = "pulumi:pulumi:StackReference"


# ------------------------------------------------------------------ serving-traffic-split


def test_split_summing_to_100_passes_and_shadows_do_not_count():
    shadow = predictor("shadow", traffic=0, shadow=True)
    canary = seldon(predictor("v1", 90), predictor("v2", 10), shadow)
    assert check(serving_traffic_split, resource_args(SELDON, canary)) == []
    assert check(serving_traffic_split, resource_args(SELDON, seldon(predictor("only", traffic=0)))) == []


def test_split_not_summing_to_100_is_reported():
    [message] = check(serving_traffic_split, resource_args(SELDON, seldon(predictor("v1", 90), predictor("v2", 20))))
    assert (
        message
        == "SeldonDeployment subject: the traffic of its predictors v1=90 + v2=20 sums to 110; make it sum to 100."
    )


def test_fractional_traffic_is_reported():
    [message] = check(serving_traffic_split, resource_args(SELDON, seldon(predictor("v1", 90.5), predictor("v2", 9.5))))
    assert "predictor v1 has traffic 90.5; traffic is a whole percentage" in message


def test_traffic_unknown_during_preview_is_not_reported():
    assert (
        check(serving_traffic_split, resource_args(SELDON, seldon(predictor("v1", UNKNOWN), predictor("v2", 5)))) == []
    )


# ------------------------------------------------------------------ prod-serving-availability


def test_prod_predictor_with_two_replicas_and_autoscaling_passes():
    assert check(prod_serving_availability, resource_args(SELDON, seldon(predictor()))) == []


def test_single_replica_missing_or_inverted_autoscaling_is_reported():
    [message] = check(prod_serving_availability, resource_args(SELDON, seldon(predictor(replicas=1))))
    assert "predictor v1 runs 1 replica(s); prod predictors run at least 2" in message
    [message] = check(prod_serving_availability, resource_args(SELDON, seldon(predictor(hpa=None))))
    assert "predictor v1 does not autoscale" in message
    [message] = check(prod_serving_availability, resource_args(SELDON, seldon(predictor(hpa=(3, 2)))))
    assert "hpaSpec.maxReplicas 2 below minReplicas 3" in message


def test_minimum_comes_from_the_pack_config():
    config = {"minReplicas": 3}
    [message] = check(prod_serving_availability, resource_args(SELDON, seldon(predictor(hpa=(3, 5))), config=config))
    assert "runs 2 replica(s); prod predictors run at least 3" in message


def test_availability_does_not_apply_in_dev():
    assert check(prod_serving_availability, resource_args(SELDON, seldon(predictor(replicas=1)), stack="dev")) is None


# ------------------------------------------------------------------ promoted-model-versions


def dev_reference(versions, source="dev", stack="prod") -> object:
    outputs = {"name": f"organization/ml-platform/{source}", "outputs": {"modelVersions": versions}}
    return stack_resource(STACK_REFERENCE, outputs, name=f"organization/ml-platform/{source}", stack=stack)


def serving(*versions: str, stack="prod"):
    predictors = [predictor(f"p{i}", version=version) for i, version in enumerate(versions)]
    return stack_resource(SELDON, seldon(*predictors), stack=stack, name="color")


def test_prod_serving_published_versions_passes():
    assert check_stack(promoted_model_versions, [dev_reference(["color:v1", "color:v2"]), serving("color:v2")]) == []


def test_prod_serving_an_unpublished_version_is_reported():
    [message] = check_stack(promoted_model_versions, [dev_reference(["color:v1"]), serving("color:v1", "color:v3")])
    assert message == (
        "SeldonDeployment color: predictor p1 serves color:v3, which stack 'dev' has not published "
        "(published: color:v1); train and publish it in dev first, or list it in allowUnpublishedVersions."
    )


def test_allow_listed_versions_pass():
    config = {"allowUnpublishedVersions": ["color:v3"]}
    assert check_stack(promoted_model_versions, [dev_reference([]), serving("color:v3")], config) == []


def test_published_versions_unknown_during_preview_are_not_judged():
    assert check_stack(promoted_model_versions, [dev_reference(UNKNOWN), serving("color:v9")]) == []


def test_prod_aws_reads_what_dev_aws_published_not_dev():
    published = [dev_reference(["color:v1"], source="dev-aws", stack="prod-aws")]
    assert check_stack(promoted_model_versions, [*published, serving("color:v1", stack="prod-aws")]) == []
    [message] = check_stack(promoted_model_versions, [*published, serving("color:v2", stack="prod-aws")])
    assert "which stack 'dev-aws' has not published" in message


def test_promotion_does_not_apply_to_dev():
    assert check_stack(promoted_model_versions, [serving("color:v9", stack="dev")]) is None
