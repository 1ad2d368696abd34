"""Policies on model servings (Seldon Core v1 SeldonDeployments, KServe InferenceServices) and on which model
versions reach prod."""

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
    INFERENCE_SERVICE,
    SELDON_DEPLOYMENT,
    UNKNOWN,
    as_dict,
    as_list,
    dig,
    is_prod,
    kserve_predictors,
    label,
    plain,
    setting,
    stack_of,
    string_list,
    whole_number,
)
from mlpolicies.vendor.rules import MODEL_VERSION_ANNOTATION, traffic_problem


def _predictors(props: dict) -> list[dict]:
    return [p for p in as_list(dig(props, "spec", "predictors")) if isinstance(p, dict)]


def _is_shadow(predictor: dict) -> bool:
    return predictor.get("shadow") is True


# ------------------------------------------------------------------ 1. traffic split


def _validate_kserve_traffic(args: ResourceValidationArgs, report: ReportViolation) -> None:
    """KServe: each canary's trafficPercent a whole percentage, all of them at most 100 (the stable takes the rest)."""
    who = label(args.resource_type, args.name)
    canaries = [
        (dig(canary, "predictor", "name"), dig(canary, "trafficPercent", default=0), canary)
        for canary in as_list(dig(plain(args.props), "spec", "canary"))
    ]
    judged = _percentages(canaries, f"{who}: canary", "trafficPercent", report)
    if judged is None:
        return
    total = sum(percent for _, percent, _ in judged)
    if total > 100:
        report(f"{who}: its canaries take {total}% of the traffic; the canaries' trafficPercent sum to at most 100.")


def _percentages(entries: list[tuple], who: str, field: str, report: ReportViolation) -> list[tuple] | None:
    """(name, percent, entry) for entries whose `field` is a whole percentage; None when one is unknown during
    preview (nothing to judge yet) or is not a percentage (reported)."""
    judged = []
    for name, traffic, entry in entries:
        if traffic is UNKNOWN:
            return None
        percent = whole_number(traffic)
        if percent is None or not 0 <= percent <= 100:
            report(f"{who} {name} has {field} {traffic!r}; {field} is a whole percentage from 0 to 100.")
            return None
        judged.append((name, percent, entry))
    return judged


def _validate_traffic(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if args.resource_type == INFERENCE_SERVICE:
        _validate_kserve_traffic(args, report)
        return
    if args.resource_type != SELDON_DEPLOYMENT:
        return
    props = plain(args.props)
    who = label(args.resource_type, args.name)
    predictors = [(p.get("name"), p.get("traffic", 0), p) for p in _predictors(props)]
    judged = _percentages(predictors, f"{who}: predictor", "traffic", report)
    if judged is None:
        return
    live = [(str(name), percent) for name, percent, predictor in judged if not _is_shadow(predictor)]
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
    "allowScaleToZero": {
        "type": "boolean",
        "default": True,
        "description": "Let prod LLM servings (KServe Hugging Face runtime scaled by KEDA, autoscalerClass "
        "external) scale to zero, accepting their cold start.",
    },
}
LLM_FORMAT = "huggingface"


def _kserve_format(predictor: dict) -> str | None:
    return dig(predictor, "model", "modelFormat", "name")


def _validate_kserve_availability(args: ResourceValidationArgs, report: ReportViolation) -> None:
    """The stable predictor autoscales from at least minReplicas; live canaries run at least that many."""
    props = plain(args.props)
    who = label(args.resource_type, args.name)
    least = setting(args.get_config(), AVAILABILITY_SCHEMA, "minReplicas")
    autoscaler = dig(props, "metadata", "annotations", "serving.kserve.io/autoscalerClass", default="hpa")
    for position, (where, predictor) in enumerate(kserve_predictors(props)):
        low = whole_number(predictor.get("minReplicas", 1))
        if position == 0:
            high = whole_number(predictor.get("maxReplicas", 0))
            llm = _kserve_format(predictor) == LLM_FORMAT and autoscaler == "external"
            if llm and low == 0:
                if not setting(args.get_config(), AVAILABILITY_SCHEMA, "allowScaleToZero"):
                    report(f"{who}: {where} scales to zero; prod LLM servings keep minReplicas >= 1 here.")
                if high is not None and high < 1:
                    report(f"{who}: {where} has maxReplicas {high}; an LLM serving needs at least 1.")
                continue
            if autoscaler == "none":
                report(
                    f"{who}: {where} does not autoscale (autoscalerClass none); use hpa or keda with "
                    f"minReplicas >= {least} and maxReplicas >= minReplicas."
                )
            if low is not None and low < least:
                report(f"{who}: {where} runs {low} replica(s); prod predictors run at least {least}.")
            if autoscaler != "none" and low is not None and high is not None and 0 < high < low:
                report(f"{who}: {where} has maxReplicas {high} below minReplicas {low}.")
            continue
        canaries = as_list(dig(props, "spec", "canary"))
        percent = whole_number(dig(canaries[position - 1], "trafficPercent", default=0))
        if percent and low is not None and low < least:
            report(f"{who}: {where} takes {percent}% of the traffic on {low} replica(s); prod runs at least {least}.")


def _validate_availability(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if args.resource_type not in (SELDON_DEPLOYMENT, INFERENCE_SERVICE):
        return
    if not is_prod(args.urn):
        args.not_applicable("servings outside prod may run a single replica")
    if args.resource_type == INFERENCE_SERVICE:
        _validate_kserve_availability(args, report)
        return
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
    description="Prod servings run at least 2 replicas per live predictor and autoscale with max >= min "
    "(LLM servings may scale to zero).",
    validate=_validate_availability,
    config_schema=PolicyConfigSchema(AVAILABILITY_SCHEMA),
)

# ------------------------------------------------------------------ 12. promoted model versions

STACK_REFERENCE = "pulumi:pulumi:StackReference"
PROMOTION_SCHEMA = {
    "publishingStack": {
        "type": "string",
        "default": "",
        "description": "The stack whose `modelVersions` output lists the versions prod may serve; by default "
        "prod's dev twin (prod -> dev, prod-aws -> dev-aws).",
    },
    "allowUnpublishedVersions": string_list(
        [], "Model versions (name:version) prod may serve without dev publishing them."
    ),
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


def _dev_twin(args: StackValidationArgs) -> str:
    """The dev stack a prod stack promotes from, by name: prod -> dev, prod-aws -> dev-aws."""
    stack = next((stack_of(r.urn) for r in args.resources), "prod")
    return "dev" + stack.removeprefix("prod") if stack.startswith("prod") else "dev"


def _validate_promotion(args: StackValidationArgs, report: ReportViolation) -> None:
    servings = [r for r in args.resources if r.resource_type in (SELDON_DEPLOYMENT, INFERENCE_SERVICE)]
    if not any(is_prod(r.urn) for r in args.resources):
        args.not_applicable("only prod serves promoted model versions")
    config = args.get_config()
    publisher = setting(config, PROMOTION_SCHEMA, "publishingStack") or _dev_twin(args)
    allowed = set(setting(config, PROMOTION_SCHEMA, "allowUnpublishedVersions"))
    published = _published_versions(args, publisher)
    if published is None:
        return
    shown = ", ".join(sorted(published)) or "none"
    for serving in servings:
        props = plain(serving.props)
        predictors = (
            [predictor for _, predictor in kserve_predictors(props)]
            if serving.resource_type == INFERENCE_SERVICE
            else _predictors(props)
        )
        for predictor in predictors:
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
