"""`mlp images -s STACK`: every image the stack's plan pulls, each with the image it mirrors, to sync a mirror.

Read from the offline plan: each Helm release's images as its values render them (the chart's image keys,
`mlplatform/images/upstream.py`, read at each pin), each kustomize overlay's images and those its operator starts
(rewritten by the platform's transform), and every image a rendered object names (containers and init containers,
a TrainJob's trainer, an LLM's model server). With `operators.imageRegistry` set each line reads
`<mirror>/path:tag  <- source`; an image outside the mirror is flagged, as is a chart or overlay whose images are not
recorded (`--json` for machines, `--skopeo` for the copy commands that fill the mirror).
"""

from __future__ import annotations

import json
from collections.abc import Iterable

from mlplatform import images
from mlplatform.conventions import mirrored


def add_parser(commands, common) -> None:
    from mlplatform.cli import add_json_option, add_stack_option

    parser = commands.add_parser(
        "images", parents=[common], help="list every image a stack's plan pulls, to sync a mirror", description=__doc__
    )
    add_stack_option(parser)
    add_json_option(parser, "the images")
    parser.add_argument(
        "--skopeo", action="store_true", help="print `skopeo copy` commands that copy each source into the mirror"
    )
    parser.set_defaults(handler=run)


def config_images(settings: dict) -> set[str]:
    """Every image the stack config names (its defaults included): `image`, `*Image` and `*_image` fields."""
    found: set[str] = set()
    if isinstance(settings, dict):
        for key, value in settings.items():
            if isinstance(value, str) and (key == "image" or key.endswith(("Image", "_image"))):
                found.add(value)
            else:
                found |= config_images(value)
    elif isinstance(settings, list):
        for item in settings:
            found |= config_images(item)
    return found


class Listing:
    """The images of one plan: (pulled, source) -> where each comes from; and what could not be accounted for."""

    def __init__(self, registry: str | None, candidates: Iterable[str]):
        self.registry = registry
        self.pulled: dict[tuple[str, str], set[str]] = {}
        self.warnings: list[str] = []
        self._sources = {mirrored(image, registry): image for image in candidates}

    def add(self, pulled: str, source: str, where: str) -> None:
        self.pulled.setdefault((pulled, source), set()).add(where)

    def add_package(self, package: dict) -> None:
        kind = package.get("type", "")
        if kind.endswith(":Release"):
            self._release(package)
        elif kind.endswith("kustomize/v2:Directory"):
            self._overlay(package)
        elif not images.config_file_of(str(package.get("file", ""))):
            self.warnings.append(f"{package.get('resource')}: {kind} {package.get('file')} has no entry in images")

    def _release(self, package: dict) -> None:
        chart = images.chart_of(str(package.get("chart", "")))
        where = f"release {package.get('name')}"
        if chart is None:
            self.warnings.append(f"{where}: chart {package.get('chart')} has no entry in mlplatform/images")
            return
        if package.get("version") != chart.version:
            self.warnings.append(
                f"{where}: chart {chart.name} {package.get('version')}, its images are recorded at {chart.version}"
            )
        for pulled, source in images.chart_images(chart, package.get("values") or {}):
            self.add(pulled, source, f"{where} ({chart.name} {chart.version})")

    def _overlay(self, package: dict) -> None:
        found = images.overlay_of(str(package.get("directory", "")))
        where = f"kustomize {package.get('resource')}"
        if found is None:
            self.warnings.append(f"{where}: {package.get('directory')} has no entry in mlplatform/images")
            return
        overlay, ref = found
        if ref != overlay.version:
            self.warnings.append(f"{where}: {overlay.name} {ref}, its images are recorded at {overlay.version}")
        for source in (*overlay.images, *overlay.operator_flags.values()):
            self.add(mirrored(source, self.registry), source, f"{where} ({overlay.name} {overlay.version})")

    def add_manifest(self, manifest: dict) -> None:
        metadata = manifest.get("metadata") or {}
        name = "/".join(part for part in (metadata.get("namespace"), metadata.get("name")) if part)
        for image in images.image_references(manifest):
            self.add(image, self._sources.get(image, image), f"{manifest.get('kind')} {name}")

    def unmirrored(self) -> list[str]:
        """Images pulled from outside the mirror (none when no mirror is set)."""
        if not self.registry:
            return []
        prefix = self.registry.rstrip("/") + "/"
        return sorted({pulled for pulled, _ in self.pulled if not pulled.startswith(prefix)})

    def as_json(self, stack: str) -> dict:
        return {
            "stack": stack,
            "registry": self.registry,
            "images": [
                {"image": pulled, "source": source, "from": sorted(where)}
                for (pulled, source), where in sorted(self.pulled.items())
            ],
            "unmirrored": self.unmirrored(),
            "warnings": self.warnings,
        }


def listing(result, settings) -> Listing:
    """The images of a preview result (`run_preview`) of the stack whose config is `settings`."""
    registry = settings.operators.image_registry
    found = Listing(registry, {*config_images(settings.model_dump()), *images.PLATFORM_IMAGES})
    for package in result.packages:
        found.add_package(package)
    for manifest in result.manifests:
        found.add_manifest(manifest)
    return found


def render(stack: str, found: Listing) -> str:
    mirror = f" through {found.registry}" if found.registry else " (no mirror: operators.imageRegistry is not set)"
    lines = [f"Images stack {stack} pulls{mirror}:", ""]
    width = max((len(pulled) for pulled, _ in found.pulled), default=0)
    for pulled, source in sorted(found.pulled):
        lines.append(f"  {pulled.ljust(width)}  <- {source}" if pulled != source else f"  {pulled}")
    for image in found.unmirrored():
        lines.append(f"not through the mirror: {image}")
    lines.extend(f"warning: {warning}" for warning in found.warnings)
    return "\n".join(lines)


def skopeo(found: Listing) -> str:
    """One `skopeo copy` per image the mirror holds (every architecture, digests kept)."""
    return "\n".join(
        f"skopeo copy --all docker://{source} docker://{pulled}"
        for pulled, source in sorted(found.pulled)
        if pulled != source
    )


def run(args) -> int:
    from mlplatform.config import parse
    from mlplatform.offline import stackfiles
    from mlplatform.offline.preview import run_preview

    settings = parse(stackfiles.load(args.project_dir, args.stack).namespace_values())
    found = listing(run_preview(args.stack, args.project_dir), settings)
    if args.json:
        print(json.dumps(found.as_json(args.stack), indent=2, ensure_ascii=False))
    elif args.skopeo:
        print(skopeo(found))
    else:
        print(args.style.plain(render(args.stack, found)))
    return 1 if found.unmirrored() else 0
