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
    config_path,
    dig,
    is_prod,
    kserve_predictors,
    label,
    plain,
    setting,
    string_list,
    verdict,
    whole_number,
    within,
)
from mlpolicies.vendor.rules import MODEL_VERSION_ANNOTATION, traffic_problem


def _predictors(props: dict) -> list[dict]:
    return [p for p in as_list(dig(props, "spec", "predictors")) if isinstance(p, dict)]


def _is_shadow(predictor: dict) -> bool:
    return predictor.get("shadow") is True


# ------------------------------------------------------------------ 1. traffic split


def _validate_kserve_traffic(args: ResourceValidationArgs, report: ReportViolation) -> None:
    """KServe: each canary's trafficPercent a whole percentage, all of them at most 100 (the stable takes the rest)."""
    props = plain(args.props)
    who = label(args.resource_type, args.name)
    canaries = [
        (dig(canary, "predictor", "name"), dig(canary, "trafficPercent", default=0), dig(canary, "predictor"))
        for canary in as_list(dig(props, "spec", "canary"))
    ]
    judged = _percentages(canaries, f"{who} canary", "trafficPercent", report)
    if judged is None:
        return
    total = sum(percent for _, percent, _ in judged)
    if total > 100:
        text = f"the canaries take {total}% of the traffic; give them at most 100 together"
        report(verdict(within(config_path(props), "predictors"), f"{who} spec.canary[].trafficPercent", text))


def _percentages(entries: list[tuple], who: str, field: str, report: ReportViolation) -> list[tuple] | None:
    """(name, percent, predictor) for entries whose `field` is a whole percentage; None when one is unknown during
    preview (nothing to judge yet) or is not a percentage (reported)."""
    judged = []
    for name, traffic, predictor in entries:
        if traffic is UNKNOWN:
            return None
        percent = whole_number(traffic)
        if percent is None or not 0 <= percent <= 100:
            text = f"traffic {traffic!r} is not a whole percentage from 0 to 100; set one"
            report(verdict(within(config_path(predictor), "traffic"), f"{who} {name} {field}", text))
            return None
        judged.append((name, percent, predictor))
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
    judged = _percentages(predictors, f"{who} predictor", "traffic", report)
    if judged is None:
        return
    live = [(str(name), percent, predictor) for name, percent, predictor in judged if not _is_shadow(predictor)]
    problem = traffic_problem([(name, percent) for name, percent, _ in live])
    if problem and problem.kind == "sum":
        text = f"the traffic of the live predictors {problem.split} sums to {problem.total}; make it sum to 100"
        report(verdict(within(config_path(props), "predictors"), f"{who} predictors[].traffic", text))
    elif problem:
        name, _, predictor = live[0]
        text = f"the only live predictor gets {problem.total}% of the traffic; set 100 or leave traffic unset"
        report(verdict(within(config_path(predictor), "traffic"), f"{who} predictor {name} traffic", text))


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


def _kserve_settings(predictor: dict, autoscaler: str) -> dict[str, str]:
    """Where the config sets the replicas of a KServe predictor: an LLM's `scaling`, a predictor's `autoscaling`
    (its `replicas` when it does not autoscale)."""
    if _kserve_format(predictor) == LLM_FORMAT:
        return {"scaling": "scaling", "min": "scaling.minReplicas", "max": "scaling.maxReplicas"}
    low = "replicas" if autoscaler == "none" else "autoscaling.minReplicas"
    return {"scaling": "autoscaling", "min": low, "max": "autoscaling.maxReplicas"}


def _validate_kserve_availability(args: ResourceValidationArgs, report: ReportViolation) -> None:
    """The stable predictor autoscales from at least minReplicas; live canaries run at least that many."""
    props = plain(args.props)
    who = label(args.resource_type, args.name)
    least = setting(args.get_config(), AVAILABILITY_SCHEMA, "minReplicas")
    at_least = f"prod predictors run at least {least}: set it to {least} or more"
    autoscaler = dig(props, "metadata", "annotations", "serving.kserve.io/autoscalerClass", default="hpa")
    for position, (where, predictor) in enumerate(kserve_predictors(props)):
        path, rendered = config_path(predictor), f"{who} {where}"
        low = whole_number(predictor.get("minReplicas", 1))
        if position == 0:
            fields = _kserve_settings(predictor, autoscaler)
            high = whole_number(predictor.get("maxReplicas", 0))
            llm = _kserve_format(predictor) == LLM_FORMAT and autoscaler == "external"
            if llm and low == 0:
                if not setting(args.get_config(), AVAILABILITY_SCHEMA, "allowScaleToZero"):
                    text = "scales to zero; prod LLM servings keep at least 1 replica here: set it to 1 or more"
                    report(verdict(within(path, fields["min"]), f"{rendered} minReplicas", text))
                if high is not None and high < 1:
                    text = f"allows {high} replicas; an LLM serving needs at least 1: set it to 1 or more"
                    report(verdict(within(path, fields["max"]), f"{rendered} maxReplicas", text))
                continue
            if autoscaler == "none":
                text = (
                    f"does not autoscale; set {fields['scaling']} with minReplicas >= {least} and "
                    "maxReplicas >= minReplicas"
                )
                report(verdict(within(path, fields["scaling"]), f"{who} autoscalerClass none", text))
            if low is not None and low < least:
                text = f"runs {low} replica(s); {at_least}"
                report(verdict(within(path, fields["min"]), f"{rendered} minReplicas", text))
            if autoscaler != "none" and low is not None and high is not None and 0 < high < low:
                text = f"maxReplicas {high} is below minReplicas {low}; set it to {low} or more"
                report(verdict(within(path, fields["max"]), f"{rendered} maxReplicas", text))
            continue
        canaries = as_list(dig(props, "spec", "canary"))
        percent = whole_number(dig(canaries[position - 1], "trafficPercent", default=0))
        if percent and low is not None and low < least:
            text = f"takes {percent}% of the traffic on {low} replica(s); {at_least}"
            report(verdict(within(path, "replicas"), f"{rendered} minReplicas", text))


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
    at_least = f"prod predictors run at least {least}: set it to {least} or more"
    for predictor in _predictors(props):
        if _is_shadow(predictor):
            continue
        path, rendered = config_path(predictor), f"{who} predictor {predictor.get('name')}"
        components = [c for c in as_list(predictor.get("componentSpecs")) if isinstance(c, dict)]
        counts = [("replicas", predictor.get("replicas", 1))]
        counts += [("componentSpecs[].replicas", c["replicas"]) for c in components if "replicas" in c]
        for field, replicas in counts:
            count = whole_number(replicas)
            if count is not None and count < least:
                text = f"runs {count} replica(s); {at_least}"
                report(verdict(within(path, "replicas"), f"{rendered} {field}", text))
        autoscalers = [as_dict(c.get("hpaSpec")) for c in components if c.get("hpaSpec") is not None]
        if not autoscalers:
            text = f"does not autoscale; set autoscaling with minReplicas >= {least} and maxReplicas >= minReplicas"
            report(verdict(within(path, "autoscaling"), f"{rendered} has no componentSpecs[].hpaSpec", text))
        for hpa in autoscalers:
            low, high = whole_number(hpa.get("minReplicas", 1)), whole_number(hpa.get("maxReplicas"))
            if low is not None and low < least:
                text = f"autoscales down to {low} replica(s); {at_least}"
                report(verdict(within(path, "autoscaling.minReplicas"), f"{rendered} hpaSpec.minReplicas", text))
            if low is not None and high is not None and high < low:
                text = f"maxReplicas {high} is below minReplicas {low}; set it to {low} or more"
                report(verdict(within(path, "autoscaling.maxReplicas"), f"{rendered} hpaSpec.maxReplicas", text))


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
        "description": "The stack whose `modelVersions` output lists the versions prod may serve (`dev-aws` or "
        "`organization/ml-platform/dev-aws`); by default the one the plan's StackReference reads (the stack "
        "config's `promotion`).",
    },
    "allowUnpublishedVersions": string_list(
        [], "Model versions (name:version) prod may serve without dev publishing them."
    ),
}


def _publisher(args: StackValidationArgs, named: str) -> tuple[str, list[dict]]:
    """(the publishing stack as messages name it, the StackReferences reading it). `named` (the policy's
    publishingStack: a stack name or org/project/stack) picks among the plan's references; otherwise it is the
    stack the plan references, as prod reads what it may serve through a StackReference (config `promotion`)."""
    references: dict[str, list[dict]] = {}
    for resource in args.resources:
        if resource.resource_type == STACK_REFERENCE:
            props = plain(resource.props)
            references.setdefault(str(props.get("name", resource.name)), []).append(props)
    if named:
        return named, [p for name, held in references.items() if named in (name, _short(name)) for p in held]
    return ", ".join(sorted(_short(name) for name in references)), [p for held in references.values() for p in held]


def _short(reference: str) -> str:
    """`organization/ml-platform/dev-aws` -> `dev-aws`, the stack name config's `promotion.stack` gives."""
    return reference.rsplit("/", 1)[-1]


def _published_versions(references: list[dict]) -> set[str] | None:
    """Versions in the references' `modelVersions` outputs; None if unknown during preview."""
    published: set[str] = set()
    for props in references:
        versions = dig(props, "outputs", "modelVersions", default=[])
        if versions is UNKNOWN or UNKNOWN in as_list(versions):
            return None
        published.update(v for v in as_list(versions) if isinstance(v, str))
    return published


def _validate_promotion(args: StackValidationArgs, report: ReportViolation) -> None:
    servings = [r for r in args.resources if r.resource_type in (SELDON_DEPLOYMENT, INFERENCE_SERVICE)]
    if not any(is_prod(r.urn) for r in args.resources):
        args.not_applicable("only prod serves promoted model versions")
    config = args.get_config()
    publisher, references = _publisher(args, setting(config, PROMOTION_SCHEMA, "publishingStack"))
    allowed = set(setting(config, PROMOTION_SCHEMA, "allowUnpublishedVersions"))
    published = _published_versions(references)
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
                rendered = f"{label(serving.resource_type, serving.name)} predictor {predictor.get('name')}"
                text = (
                    f"serves {version}, which stack {publisher!r} has not published (published: {shown}); train "
                    f"and publish it in {publisher} first"
                    if publisher
                    else f"serves {version}, but the plan reads no stack that publishes versions (config `promotion` "
                    "makes prod read one through a StackReference)"
                ) + ", or list it in the policy's allowUnpublishedVersions"
                report(verdict(within(config_path(predictor), "model"), rendered, text), serving.urn)


promoted_model_versions = StackValidationPolicy(
    name="promoted-model-versions",
    description="Every model version served in prod is one the stack it promotes from (its StackReference) has "
    "published.",
    validate=_validate_promotion,
    config_schema=PolicyConfigSchema(PROMOTION_SCHEMA),
)
