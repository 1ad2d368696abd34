"""Per-environment stack composition: what differs between dev and prod beyond config values."""

from __future__ import annotations

import pulumi

from mlplatform.config import ENVIRONMENTS, ConfigError, StackConfig


async def compose(stack: str, settings: StackConfig) -> None:
    """Plan the stack `stack` from validated config; an unknown stack is a config error."""
    if stack == "dev":
        from stacks import dev

        dev.compose(settings)
    elif stack == "prod":
        from stacks import prod

        await prod.compose(settings)
    else:
        raise ConfigError("stack", f"unknown stack {stack!r}: the stacks are {', '.join(ENVIRONMENTS)}")
    pulumi.export("environment", stack)
