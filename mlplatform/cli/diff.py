"""`mlp diff BASE HEAD`: two previews compared as a reviewer reads them (a side is a stack or a preview folder)."""

from __future__ import annotations


def add_parser(commands, common) -> None:
    from mlplatform.cli import add_json_option

    parser = commands.add_parser(
        "diff", parents=[common], help="compare two previews as a reviewer reads them", description=__doc__
    )
    parser.add_argument("base", help="a stack name or a preview folder (build/prod)")
    parser.add_argument("head", help="a stack name or a preview folder")
    add_json_option(parser, "the comparison")
    parser.set_defaults(handler=run)


def run(args) -> int:
    from mlplatform.offline.diff import diff_command

    return diff_command(args)
