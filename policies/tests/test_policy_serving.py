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


def test_split_not_summing_to_100_is_reported_in_the_configs_words():
    predictors = (predictor("v1", 90, path="servings.color.predictors[0]"), predictor("v2", 20))
    [message] = check(serving_traffic_split, resource_args(SELDON, seldon(*predictors, path="servings.color")))
    assert message == (
        "servings.color.predictors: the traffic of the live predictors v1=90 + v2=20 sums to 110; make it sum to 100 "
        "(SeldonDeployment subject predictors[].traffic)."
    )
    # An object no config entry rendered is named by its own fields.
    [message] = check(serving_traffic_split, resource_args(SELDON, seldon(predictor("v1", 90), predictor("v2", 20))))
    assert message == (
        "SeldonDeployment subject predictors[].traffic: the traffic of the live predictors v1=90 + v2=20 sums to "
        "110; make it sum to 100."
    )


def test_fractional_traffic_is_reported():
    predictors = (predictor("v1", 90.5, path="servings.color.predictors[0]"), predictor("v2", 9.5))
    [message] = check(serving_traffic_split, resource_args(SELDON, seldon(*predictors)))
    assert message == (
        "servings.color.predictors[0].traffic: traffic 90.5 is not a whole percentage from 0 to 100; set one "
        "(SeldonDeployment subject predictor v1 traffic)."
    )


def test_traffic_unknown_during_preview_is_not_reported():
    assert (
        check(serving_traffic_split, resource_args(SELDON, seldon(predictor("v1", UNKNOWN), predictor("v2", 5)))) == []
    )


# ------------------------------------------------------------------ prod-serving-availability


def test_prod_predictor_with_two_replicas_and_autoscaling_passes():
    assert check(prod_serving_availability, resource_args(SELDON, seldon(predictor()))) == []


def reviews(**fields) -> dict:
    """`servings.reviews` with one predictor, annotated as the platform renders it."""
    return seldon(predictor(path="servings.reviews.predictors[0]", **fields), path="servings.reviews")


def test_single_replica_missing_or_inverted_autoscaling_is_reported_as_config_settings():
    [message] = check(prod_serving_availability, resource_args(SELDON, reviews(replicas=1)))
    assert message == (
        "servings.reviews.predictors[0].replicas: runs 1 replica(s); prod predictors run at least 2: set it to 2 or "
        "more (SeldonDeployment subject predictor v1 replicas)."
    )
    [message] = check(prod_serving_availability, resource_args(SELDON, reviews(hpa=None)))
    assert message == (
        "servings.reviews.predictors[0].autoscaling: does not autoscale; set autoscaling with minReplicas >= 2 and "
        "maxReplicas >= minReplicas (SeldonDeployment subject predictor v1 has no componentSpecs[].hpaSpec)."
    )
    [message] = check(prod_serving_availability, resource_args(SELDON, reviews(hpa=(1, 4))))
    assert message == (
        "servings.reviews.predictors[0].autoscaling.minReplicas: autoscales down to 1 replica(s); prod predictors "
        "run at least 2: set it to 2 or more (SeldonDeployment subject predictor v1 hpaSpec.minReplicas)."
    )
    [message] = check(prod_serving_availability, resource_args(SELDON, reviews(hpa=(3, 2))))
    assert message.startswith("servings.reviews.predictors[0].autoscaling.maxReplicas: maxReplicas 2 is below")


def test_minimum_comes_from_the_pack_config_and_reads_as_an_integer():
    # The CLI hands policy config over as JSON: every number a double.
    for least in (3, 3.0):
        config = {"minReplicas": least}
        [message] = check(prod_serving_availability, resource_args(SELDON, reviews(hpa=(3, 5)), config=config))
        assert "runs 2 replica(s); prod predictors run at least 3: set it to 3 or more" in message


def test_availability_does_not_apply_in_dev():
    assert check(prod_serving_availability, resource_args(SELDON, seldon(predictor(replicas=1)), stack="dev")) is None


# ------------------------------------------------------------------ promoted-model-versions


def dev_reference(versions, source="dev", stack="prod") -> object:
    outputs = {"name": f"organization/ml-platform/{source}", "outputs": {"modelVersions": versions}}
    return stack_resource(STACK_REFERENCE, outputs, name=f"organization/ml-platform/{source}", stack=stack)


def serving(*versions: str, stack="prod"):
    predictors = [
        predictor(f"p{i}", version=version, path=f"servings.color.predictors[{i}]")
        for i, version in enumerate(versions)
    ]
    return stack_resource(SELDON, seldon(*predictors), stack=stack, name="color")


def test_prod_serving_published_versions_passes():
    assert check_stack(promoted_model_versions, [dev_reference(["color:v1", "color:v2"]), serving("color:v2")]) == []


def test_prod_serving_an_unpublished_version_is_reported_at_its_config_setting():
    [message] = check_stack(promoted_model_versions, [dev_reference(["color:v1"]), serving("color:v1", "color:v3")])
    assert message == (
        "servings.color.predictors[1].model: serves color:v3, which stack 'dev' has not published "
        "(published: color:v1); train and publish it in dev first, or list it in the policy's "
        "allowUnpublishedVersions (SeldonDeployment color predictor p1)."
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


def test_the_publishing_stack_is_the_one_the_plans_stack_reference_reads_whatever_the_stacks_name():
    # A prod stack promoting from dev-aws (config `promotion.stack: dev-aws`): nothing in its name says so.
    for stack in ("prod", "prod-eu"):
        published = [dev_reference(["color:v1"], source="dev-aws", stack=stack)]
        assert check_stack(promoted_model_versions, [*published, serving("color:v1", stack=stack)]) == []
        [message] = check_stack(promoted_model_versions, [*published, serving("color:v2", stack=stack)])
        assert message.startswith(
            "servings.color.predictors[0].model: serves color:v2, which stack 'dev-aws' has not published "
            "(published: color:v1); train and publish it in dev-aws first"
        )


def test_publishing_stack_in_the_pack_config_picks_among_the_references():
    references = [dev_reference(["color:v1"], source="dev"), dev_reference(["color:v2"], source="staging")]
    for named in ("staging", "organization/ml-platform/staging"):
        config = {"publishingStack": named}
        assert check_stack(promoted_model_versions, [*references, serving("color:v2")], config) == []
        [message] = check_stack(promoted_model_versions, [*references, serving("color:v1")], config)
        assert f"which stack {named!r} has not published (published: color:v2)" in message


def test_a_prod_plan_that_reads_no_publishing_stack_serves_nothing_unpublished():
    [message] = check_stack(promoted_model_versions, [serving("color:v1")])
    assert message.startswith(
        "servings.color.predictors[0].model: serves color:v1, but the plan reads no stack that publishes versions"
    )


def test_promotion_does_not_apply_to_dev():
    assert check_stack(promoted_model_versions, [serving("color:v9", stack="dev")]) is None
