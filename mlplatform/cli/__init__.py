"""Command line of the offline tools. Exit codes: 0 success, 1 a mandatory policy violated, 2 usage or config error."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from mlplatform.config import ConfigError
from mlplatform.offline.analyzer import PolicyPackError
from mlplatform.offline.stackfiles import UsageError
from mlplatform.validation import CrdsMissing, InvalidObjects

EXIT_OK, EXIT_POLICY, EXIT_USAGE = 0, 1, 2


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # argparse's own exit code is 2 as well; keep the message to one line
        self.exit(EXIT_USAGE, f"error: {message}\n")


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="python -m mlplatform", description=__doc__)
    parser.add_argument("--project-dir", type=Path, default=Path.cwd(), help="folder holding Pulumi.yaml")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    preview = commands.add_parser("preview", help="plan a stack offline, as `pulumi preview` would")
    preview.add_argument("--stack", required=True)
    preview.add_argument("--out", type=Path, default=Path("build"), help="where stack.json and manifests go")
    preview.add_argument("--no-policy", action="store_true", help="skip the policy pack")

    promote = commands.add_parser("promote", help="serve a model version from one stack in another")
    promote.add_argument("--model", required=True, help="model version, e.g. color:v2")
    promote.add_argument("--from", dest="source", required=True, help="stack that published the version")
    promote.add_argument("--to", dest="target", required=True, help="stack whose config is edited")
    promote.add_argument("--traffic", type=int, default=10, help="percent of traffic for the new version")
    promote.add_argument("--serving", help="serving to add it to (default: the one serving this model)")

    traffic = commands.add_parser("traffic", help="set a serving's traffic split")
    traffic.add_argument("--stack", required=True)
    traffic.add_argument("--serving", required=True)
    traffic.add_argument("split", nargs="+", metavar="PREDICTOR=PERCENT")

    diff = commands.add_parser("diff", help="compare two previews as a reviewer reads them")
    diff.add_argument("base", help="a stack name or a preview folder (build/dev)")
    diff.add_argument("head", help="a stack name or a preview folder")
    diff.add_argument("--json", action="store_true", help="print the comparison as JSON")

    crds = commands.add_parser("crds", help="the upstream CRDs the preview validates custom resources against")
    crds.add_argument(
        "action", choices=["where", "download"], help="where: the folder in use; download: fill the cache"
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.command == "preview":
            from mlplatform.offline.preview import preview_command

            return preview_command(args)
        if args.command in ("promote", "traffic"):
            from mlplatform.cli import promote

            return promote.promote_command(args) if args.command == "promote" else promote.traffic_command(args)
        if args.command == "crds":
            return _crds(args.action)
        from mlplatform.offline.diff import diff_command

        return diff_command(args)
    except (ConfigError, UsageError, PolicyPackError, CrdsMissing, InvalidObjects) as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_USAGE


def _crds(action: str) -> int:
    from mlplatform.validation import crds

    if action == "download":
        written = crds.download()
        print(f"Downloaded {len(written)} pinned upstream CRDs (sha256 checked) into {crds.cache_dir()}.")
        if crds.crds_dir() != crds.cache_dir():
            print(f"The preview uses {crds.crds_dir()} first; unset ${crds.CRDS_DIR_ENV} or move it to use the cache.")
        return EXIT_OK
    print(crds.crds_dir())
    return EXIT_OK
