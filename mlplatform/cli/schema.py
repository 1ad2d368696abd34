"""`mlp schema`: the JSON Schema (draft 2020-12) of a whole Pulumi.<stack>.yaml, for editors and CI.

Point yaml-language-server at it with a modeline on the first line of a stack file:

    # yaml-language-server: $schema=./stack.schema.json

after `mlp schema -o stack.schema.json`; every field's description comes from the config models.
"""

from __future__ import annotations

import json
from pathlib import Path


def add_parser(commands, common) -> None:
    parser = commands.add_parser(
        "schema",
        parents=[common],
        help="print the JSON Schema of Pulumi.<stack>.yaml (editor completion and validation)",
        description=__doc__,
        formatter_class=__import__("argparse").RawDescriptionHelpFormatter,
    )
    parser.add_argument("-o", "--output", type=Path, help="write it to this file instead of standard output")
    parser.set_defaults(handler=run)


def run(args) -> int:
    from mlplatform.config.schema import stack_file_schema

    text = json.dumps(stack_file_schema(), indent=2, ensure_ascii=False) + "\n"
    if args.output:
        path = args.output if args.output.is_absolute() else args.project_dir / args.output
        path.write_text(text)
        print(f"wrote {path}")
    else:
        print(text, end="")
    return 0
