"""The Pulumi program: load and validate the stack config, then hand it to the stack composition."""

import pulumi

import stacks
from mlplatform import config
from mlplatform.config.loading import locating

# The config as far as it reads: the composition adds its environment's rules and reports every problem at once.
reading = config.read_program()


async def main() -> None:
    # Config errors of the composition (prod's checks) name their line in Pulumi.<stack>.yaml too.
    await locating(stacks.compose(pulumi.get_stack(), reading))


pulumi.run(main)
