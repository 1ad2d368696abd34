"""`mlp crds where|download`: the upstream CRDs the preview validates custom resources against."""

from __future__ import annotations


def add_parser(commands, common) -> None:
    parser = commands.add_parser(
        "crds",
        parents=[common],
        help="the upstream CRDs the preview validates custom resources against",
        description=__doc__,
    )
    parser.add_argument(
        "action", choices=["where", "download"], help="where: the folder in use; download: fill the cache"
    )
    parser.set_defaults(handler=run)


def run(args) -> int:
    from mlplatform.validation import crds

    if args.action == "download":
        written = crds.download()
        print(f"Downloaded {len(written)} pinned upstream CRDs (sha256 checked) into {crds.cache_dir()}.")
        if crds.crds_dir() != crds.cache_dir():
            print(f"The preview uses {crds.crds_dir()} first; unset ${crds.CRDS_DIR_ENV} or move it to use the cache.")
        return 0
    print(crds.crds_dir())
    return 0
