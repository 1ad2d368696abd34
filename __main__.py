"""The Pulumi program: load and validate the stack config, then hand it to the stack composition."""

import pulumi

import stacks
from mlplatform import config
from mlplatform.config.loading import locating

settings = config.load()


async def main() -> None:
    # Config errors of the composition (prod's checks) name their line in Pulumi.<stack>.yaml too.
    await locating(stacks.compose(pulumi.get_stack(), settings))


pulumi.run(main)
