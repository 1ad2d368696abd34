"""prod: a managed cluster with GPU pools, highly available servings and protected data.

prod trains nothing: it serves model versions that dev has published (read through a StackReference)
and refuses any other, unless `promotion.allowUnpublished` names it. Clusters and buckets are
protected and retained on delete; every live predictor runs at least two replicas.
"""

from __future__ import annotations

import pulumi

from mlplatform import config as cfg
from mlplatform.config.base import Problem
from stacks import workloads
from stacks.base import build_platform

MIN_REPLICAS = 2


def shape_problems(settings: cfg.StackConfig) -> list[Problem]:
    """What prod refuses whatever the values: training, a serverless cluster, single-replica servings."""
    problems = [
        Problem(f"ml-platform:trainingJobs.{name}", "prod trains nothing: train in dev and promote")
        for name in settings.training_jobs
    ]
    if settings.cluster.kind == "serverless":
        problems.append(Problem("ml-platform:cluster.kind", "prod runs a managed (or edge) cluster, not serverless"))
    if settings.promotion is None:
        problems.append(
            Problem("ml-platform:promotion", "prod needs promotion: the stack whose model versions it serves")
        )
    if "0.0.0.0/0" in settings.cluster.api_access_cidrs:
        problems.append(
            Problem(
                "ml-platform:cluster.apiAccessCidrs",
                "prod's API endpoint is never open to 0.0.0.0/0: name your runners' CIDRs",
            )
        )
    for name, serving in settings.servings.items():
        for index, predictor in enumerate(serving.predictors):
            if not predictor.shadow and predictor.replicas < MIN_REPLICAS:
                problems.append(
                    Problem(
                        f"ml-platform:servings.{name}.predictors[{index}].replicas",
                        f"prod predictors run at least {MIN_REPLICAS} replicas, not {predictor.replicas}",
                    )
                )
    return problems


def check_shape(settings: cfg.StackConfig) -> None:
    """A ConfigError with every problem of `shape_problems`."""
    problems = shape_problems(settings)
    if problems:
        raise cfg.ConfigError.of(problems)


async def published_versions(promotion: cfg.Promotion) -> tuple[str, set[str], pulumi.Input[str] | None]:
    """The model versions the source stack exports as `modelVersions`, and its models bucket (`buckets.models`)."""
    name = f"{promotion.organization}/{promotion.project}/{promotion.stack}"
    reference = pulumi.StackReference(name)
    versions = await reference.get_output_details("modelVersions")
    buckets = await reference.get_output_details("buckets")
    published = versions.value if versions.value is not None else versions.secret_value
    return name, set(published or []), models_bucket(buckets)


def models_bucket(buckets: pulumi.StackReferenceOutputDetails) -> pulumi.Input[str] | None:
    """The bucket of `buckets.models` (`<scheme>://<bucket>`), or None. An output the source stack made secret reads
    as `secret_value`, not `value` (pulumi `StackReference.get_output_details`): its bucket is read all the same,
    and stays a secret in this stack's plan."""
    secret = buckets.value is None and buckets.secret_value is not None
    value = buckets.secret_value if secret else buckets.value
    uri = value.get("models") if isinstance(value, dict) else None
    bucket = uri.partition("://")[2].rstrip("/") if isinstance(uri, str) else ""
    if not bucket:
        return None
    return pulumi.Output.secret(bucket) if secret else bucket


def promotion_problems(
    settings: cfg.StackConfig, source: str, published: set[str], source_bucket: pulumi.Input[str] | None
) -> list[Problem]:
    """Each served version the source stack does not publish (nor `allowUnpublished` names), and a source that
    publishes served versions without the bucket to copy them from."""
    allowed = published | set(settings.promotion.allow_unpublished)
    problems = [
        Problem(
            f"ml-platform:{cfg.format_path(path)}",
            f"model version {version!r} is not published by {source} "
            f"(published: {', '.join(sorted(published)) or 'none'}); promote it from dev first "
            "or list it in promotion.allowUnpublished",
        )
        for path, version in settings.served_versions()
        if version not in allowed
    ]
    served = {version for _, version in settings.served_versions()}
    if source_bucket is None and served & published:
        # Never a plan that silently copies nothing: the served versions would be missing from this stack's bucket.
        problems.append(
            Problem(
                "ml-platform:promotion.stack",
                f"{source} publishes {', '.join(sorted(served & published))} but exports no models bucket to copy "
                "them from (its `buckets` output has no `models` URI)",
            )
        )
    return problems


async def compose(stack: str, settings: cfg.StackConfig, reading: cfg.Reading | None = None) -> None:
    """Plan prod, once its rules and the promotion find no problem beside those of `reading` (the config's own)."""
    reading = (reading or cfg.Reading(settings)).adding(shape_problems(settings))
    if settings.promotion is not None:
        source, published, source_bucket = await published_versions(settings.promotion)
        reading = reading.adding(promotion_problems(settings, source, published, source_bucket))
    reading.settled()
    platform = build_platform(stack, "prod", settings)
    # Promotion completes itself: published versions are copied from the source stack's bucket in the plan.
    promoted = workloads.Promoted(source_bucket, frozenset(published)) if source_bucket is not None else None
    workloads.deploy(platform, promoted)
