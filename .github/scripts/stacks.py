"""List the Pulumi stacks of this repository for the CI matrices, from the `Pulumi.<stack>.yaml` files.

Standard library only (it runs on the runner's own python3, before any install), and it never imports the
program. Each stack is `{"stack", "cloud", "region", "stage"}`:

- `cloud` is the stack's `ml-platform:cloud` (alicloud or aws), `region` its provider region (`alicloud:region` / `aws:region`);
- `stage` orders deploys: `prod` for `prod` and `prod-<anything>` (deployed after approval), `dev` for every
  other stack (deployed first). The GitHub environment of a stack's deploy job is named after the stack.

`--github-output` appends to $GITHUB_OUTPUT:
- `stacks`: JSON list of every stack (the pull-request matrices);
- `names`: the stack names, space-separated;
- `clouds`: JSON list of `{"cloud", "dev": [stacks], "prod": [stacks]}`, one per cloud (the deploy matrix).
Exit code 2, with one line naming the file, when a stack file lacks what CI needs.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from pathlib import Path

CLOUDS = ("alicloud", "aws")
# Stack names become GitHub environment names, matrix values and `--stack` arguments: keep them plain.
STACK_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
# A top-level scalar under `config:` in a Pulumi stack file: two-space indent, `namespace:key: value`.
CONFIG_SCALAR = re.compile(r"^  (?P<key>[A-Za-z0-9_.-]+:[A-Za-z0-9_.-]+):[ \t]*(?P<value>[^#\n]*?)[ \t]*(?:#.*)?$")


class StackFileError(Exception):
    pass


def config_scalars(text: str) -> dict[str, str]:
    """The top-level scalar values of a stack file's `config:` mapping (structured values are skipped)."""
    values: dict[str, str] = {}
    in_config = False
    for line in text.splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        if not line.startswith(" "):
            in_config = line.rstrip() == "config:"
            continue
        match = in_config and CONFIG_SCALAR.match(line)
        if match and match["value"]:
            values[match["key"]] = match["value"].strip("'\"")
    return values


def stage_of(stack: str) -> str:
    return "prod" if stack == "prod" or stack.startswith("prod-") else "dev"


def discover(project_dir: Path) -> list[dict[str, str]]:
    stacks = []
    for path in sorted(project_dir.glob("Pulumi.*.yaml"), key=lambda p: p.name[len("Pulumi.") : -len(".yaml")]):
        name = path.name[len("Pulumi.") : -len(".yaml")]
        if not STACK_NAME.match(name):
            raise StackFileError(f"{path.name}: {name!r} is not a plain stack name (letters, digits, . _ -)")
        config = config_scalars(path.read_text())
        cloud = config.get("ml-platform:cloud")
        if cloud not in CLOUDS:
            raise StackFileError(f"{path.name}: ml-platform:cloud must be one of {', '.join(CLOUDS)}, got {cloud!r}")
        region = config.get("ml-platform:region") or config.get(f"{cloud}:region")
        if not region:
            raise StackFileError(f"{path.name}: no {cloud}:region")
        stacks.append({"stack": name, "cloud": cloud, "region": region, "stage": stage_of(name)})
    if not stacks:
        raise StackFileError(f"no Pulumi.<stack>.yaml in {project_dir}")
    return stacks


def by_cloud(stacks: list[dict[str, str]]) -> list[dict[str, object]]:
    clouds = []
    for cloud in CLOUDS:
        mine = [s for s in stacks if s["cloud"] == cloud]
        if mine:
            clouds.append(
                {
                    "cloud": cloud,
                    "dev": [s for s in mine if s["stage"] == "dev"],
                    "prod": [s for s in mine if s["stage"] == "prod"],
                }
            )
    return clouds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--project-dir", type=Path, default=Path.cwd())
    parser.add_argument("--github-output", action="store_true", help="append the outputs to $GITHUB_OUTPUT")
    args = parser.parse_args(argv)
    try:
        stacks = discover(args.project_dir)
    except StackFileError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    outputs = {
        "stacks": json.dumps(stacks, separators=(",", ":")),
        "names": " ".join(s["stack"] for s in stacks),
        "clouds": json.dumps(by_cloud(stacks), separators=(",", ":")),
    }
    for key, value in outputs.items():
        print(f"{key}={value}")
    if args.github_output:
        with open(os.environ["GITHUB_OUTPUT"], "a", encoding="utf-8") as out:
            out.writelines(f"{key}={value}\n" for key, value in outputs.items())
    return 0


if __name__ == "__main__":
    sys.exit(main())
