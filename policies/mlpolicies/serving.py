"""Policies on model servings (Seldon Core v1 SeldonDeployments) and on which model versions reach prod."""

from __future__ import annotations

from pulumi_policy import (
    PolicyConfigSchema,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)

from mlpolicies.props import (
    SELDON_DEPLOYMENT,
    UNKNOWN,
    as_dict,
    as_list,
    dig,
    is_prod,
    label,
    plain,
    setting,
    whole_number,
)
from mlpolicies.rules import MODEL_VERSION_ANNOTATION, traffic_problem


def _predictors(props: dict) -> list[dict]:
    return [p for p in as_list(dig(props, "spec", "predictors")) if isinstance(p, dict)]


def _is_shadow(predictor: dict) -> bool:
    return predictor.get("shadow") is True


# ------------------------------------------------------------------ 1. traffic split


def _validate_traffic(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if args.resource_type != SELDON_DEPLOYMENT:
        return
    props = plain(args.props)
    who = label(args.resource_type, args.name)
    live: list[tuple[str, int]] = []
    for predictor in _predictors(props):
        name, traffic = predictor.get("name"), predictor.get("traffic", 0)
        if traffic is UNKNOWN:
            return
        percent = whole_number(traffic)
        if percent is None or not 0 <= percent <= 100:
            report(f"{who}: predictor {name} has traffic {traffic!r}; traffic is a whole percentage from 0 to 100.")
            return
        if not _is_shadow(predictor):
            live.append((str(name), percent))
    problem = traffic_problem(live)
    if problem and problem.kind == "sum":
        report(f"{who}: the traffic of its predictors {problem.split} sums to {problem.total}; make it sum to 100.")
    elif problem:
        report(
            f"{who}: its only live predictor {live[0][0]} gets {problem.total}% of traffic; "
            "give it 100 (or leave it unset)."
        )


serving_traffic_split = ResourceValidationPolicy(
    name="serving-traffic-split",
    description="A serving's traffic split is whole percentages that sum to 100 over its live predictors.",
    validate=_validate_traffic,
)

# ------------------------------------------------------------------ 6. prod serving availability

AVAILABILITY_SCHEMA = {
    "minReplicas": {
        "type": "integer",
        "minimum": 1,
        "default": 2,
        "description": "Fewest replicas (and HPA minReplicas) of a live prod predictor.",
    },
}


def _validate_availability(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if args.resource_type != SELDON_DEPLOYMENT:
        return
    if not is_prod(args.urn):
        args.not_applicable("servings outside prod may run a single replica")
    props = plain(args.props)
    who = label(args.resource_type, args.name)
    least = setting(args.get_config(), AVAILABILITY_SCHEMA, "minReplicas")
    for predictor in _predictors(props):
        if _is_shadow(predictor):
            continue
        name = predictor.get("name")
        components = [c for c in as_list(predictor.get("componentSpecs")) if isinstance(c, dict)]
        for replicas in [predictor.get("replicas", 1)] + [c["replicas"] for c in components if "replicas" in c]:
            count = whole_number(replicas)
            if count is not None and count < least:
                report(f"{who}: predictor {name} runs {count} replica(s); prod predictors run at least {least}.")
        autoscalers = [as_dict(c.get("hpaSpec")) for c in components if c.get("hpaSpec") is not None]
        if not autoscalers:
            report(
                f"{who}: predictor {name} does not autoscale; add componentSpecs[].hpaSpec with "
                f"minReplicas >= {least} and maxReplicas >= minReplicas."
            )
        for hpa in autoscalers:
            low, high = whole_number(hpa.get("minReplicas", 1)), whole_number(hpa.get("maxReplicas"))
            if low is not None and low < least:
                report(f"{who}: predictor {name} autoscales down to {low}; set hpaSpec.minReplicas >= {least}.")
            if low is not None and high is not None and high < low:
                report(f"{who}: predictor {name} has hpaSpec.maxReplicas {high} below minReplicas {low}.")


prod_serving_availability = ResourceValidationPolicy(
    name="prod-serving-availability",
    description="Prod servings run at least 2 replicas per live predictor and autoscale with max >= min.",
    validate=_validate_availability,
    config_schema=PolicyConfigSchema(AVAILABILITY_SCHEMA),
)

# ------------------------------------------------------------------ 12. promoted model versions

STACK_REFERENCE = "pulumi:pulumi:StackReference"
PROMOTION_SCHEMA = {
    "publishingStack": {
        "type": "string",
        "default": "dev",
        "description": "The stack whose `modelVersions` output lists the versions prod may serve.",
    },
    "allowUnpublishedVersions": {
        "type": "array",
        "items": {"type": "string"},
        "default": [],
        "description": "Model versions (name:version) prod may serve without dev publishing them.",
    },
}


def _published_versions(args: StackValidationArgs, publisher: str) -> set[str] | None:
    """Versions in the publishing stack's `modelVersions` output; None if unknown during preview."""
    published: set[str] = set()
    for resource in args.resources:
        if resource.resource_type != STACK_REFERENCE:
            continue
        props = plain(resource.props)
        if str(props.get("name", resource.name)).rsplit("/", 1)[-1] != publisher:
            continue
        versions = dig(props, "outputs", "modelVersions", default=[])
        if versions is UNKNOWN or UNKNOWN in as_list(versions):
            return None
        published.update(v for v in as_list(versions) if isinstance(v, str))
    return published


def _validate_promotion(args: StackValidationArgs, report: ReportViolation) -> None:
    servings = [r for r in args.resources if r.resource_type == SELDON_DEPLOYMENT]
    if not any(is_prod(r.urn) for r in args.resources):
        args.not_applicable("only prod serves promoted model versions")
    config = args.get_config()
    publisher = setting(config, PROMOTION_SCHEMA, "publishingStack")
    allowed = set(setting(config, PROMOTION_SCHEMA, "allowUnpublishedVersions"))
    published = _published_versions(args, publisher)
    if published is None:
        return
    shown = ", ".join(sorted(published)) or "none"
    for serving in servings:
        for predictor in _predictors(plain(serving.props)):
            version = dig(predictor, "annotations", MODEL_VERSION_ANNOTATION)
            if isinstance(version, str) and version not in published and version not in allowed:
                report(
                    f"{label(serving.resource_type, serving.name)}: predictor {predictor.get('name')} serves {version}, "
                    f"which stack {publisher!r} has not published (published: {shown}); train and publish it in "
                    f"{publisher} first, or list it in allowUnpublishedVersions.",
                    serving.urn,
                )


promoted_model_versions = StackValidationPolicy(
    name="promoted-model-versions",
    description="Every model version served in prod is one the dev stack has published.",
    validate=_validate_promotion,
    config_schema=PolicyConfigSchema(PROMOTION_SCHEMA),
)
