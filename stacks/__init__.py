"""Per-environment stack composition: what differs between dev and prod beyond config values.

A stack's role comes from `ml-platform:environment`, so `dev-aws` or `prod-eu` compose like dev or prod;
a stack named dev or prod may leave it out.
"""

from __future__ import annotations

import pulumi

from mlplatform.config import ENVIRONMENTS, ConfigError, Reading, StackConfig


def environment_of(stack: str, settings: StackConfig) -> str:
    if settings.environment:
        return settings.environment
    if stack in ENVIRONMENTS:
        return stack
    raise ConfigError(
        "ml-platform:environment",
        f"stack {stack!r} needs an environment: set it to one of {', '.join(ENVIRONMENTS)}",
    )


def with_region(settings: StackConfig) -> StackConfig:
    """The region comes from the cloud provider's config, so provider and platform cannot disagree."""
    provider_key = f"{settings.cloud}:region"
    region = pulumi.Config(settings.cloud).get("region")
    if settings.region and region and settings.region != region:
        raise ConfigError(
            "ml-platform:region", f"{settings.region!r} differs from {provider_key} {region!r}: set the region once"
        )
    if not (settings.region or region):
        raise ConfigError(provider_key, f"the region is not set: pulumi config set {provider_key} <region>")
    return settings.model_copy(update={"region": settings.region or region})


async def compose(stack: str, config: StackConfig | Reading) -> None:
    """Plan the stack `stack` from its config, composed as its environment says. Config read in part
    (`config.read_program`) is judged by the environment's rules too, and every problem is reported at once."""
    reading = config if isinstance(config, Reading) else Reading(config)
    settings = reading.usable()
    try:
        environment = environment_of(stack, settings)
    except ConfigError as error:  # no environment, no rules of one to judge by
        raise reading.adding(error.problems).error() from None
    try:
        settings = with_region(settings)
    except ConfigError as error:
        reading = reading.adding(error.problems)
    if environment == "dev":
        from stacks import dev

        reading.settled()  # dev's rules are the config's own
        dev.compose(stack, settings)
    else:
        from stacks import prod

        await prod.compose(stack, settings, reading)
    pulumi.export("environment", environment)
    from stacks.cost import BASIS_OUTPUT, cost_basis

    pulumi.export(BASIS_OUTPUT, cost_basis(stack, settings))
