"""The Pulumi program: load and validate the stack config, then hand it to the stack composition."""

import pulumi

import stacks
from mlplatform import config

settings = config.load()


async def main() -> None:
    await stacks.compose(pulumi.get_stack(), settings)


pulumi.run(main)
