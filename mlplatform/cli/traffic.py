"""`mlp traffic -s STACK --serving NAME v1=80 v2=20` (or `v1=80%`): set a serving's split in Pulumi.<stack>.yaml."""

from __future__ import annotations


def add_parser(commands, common) -> None:
    from mlplatform.cli import add_stack_option

    parser = commands.add_parser("traffic", parents=[common], help="set a serving's traffic split", description=__doc__)
    add_stack_option(parser)
    parser.add_argument(
        "--serving", required=True, help="the serving whose split is set (a key of ml-platform:servings)"
    )
    parser.add_argument(
        "split", nargs="+", metavar="PREDICTOR=PERCENT", help="a share for every live predictor, summing to 100 (v1=80)"
    )
    parser.set_defaults(handler=run)


def run(args) -> int:
    from mlplatform.cli.promote import traffic_command

    return traffic_command(args)
