"""Every image the platform's charts, overlays and operators pull, and how a mirror takes it.

Standard library only (besides `conventions.mirrored`), like `pins.py`: the components read it to point each image
at `operators.imageRegistry` (`mirror_values`, `mirror_containers`), `mlp images` reads it to list what the mirror
must hold (`chart_images`, `image_references`), and the tests compare it with the plan. The facts, per chart and
overlay at its pin with the upstream file they were read from, are in `upstream.py`; a release renders the chart's
published values wherever the plan sets nothing.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from mlplatform.conventions import mirrored
from mlplatform.images.upstream import (
    CERT_MANAGER,
    CHARTS,
    CONFIG_FILES,
    COPY_IMAGE,
    DCGM_EXPORTER,
    EMISSARY,
    EMISSARY_CRDS,
    ISTIOD,
    KARPENTER,
    KATIB,
    KATIB_RUNTIME_IMAGES,
    KEDA,
    KEDA_PROMETHEUS,
    KSERVE_LOCALMODEL_RESOURCES,
    KSERVE_RESOURCES,
    KSERVE_RUNTIME_CONFIGS,
    NOTEBOOK_CONTROLLER,
    NVIDIA_DEVICE_PLUGIN,
    OVERLAYS,
    PLATFORM_IMAGES,
    SELDON,
    TRAINER,
    TRAINER_RUNTIME_IMAGES,
    TRAINING_OPERATOR,
    Chart,
    ChartImage,
    Overlay,
)

__all__ = [
    "CERT_MANAGER",
    "CHARTS",
    "CONFIG_FILES",
    "COPY_IMAGE",
    "DCGM_EXPORTER",
    "EMISSARY",
    "EMISSARY_CRDS",
    "ISTIOD",
    "KARPENTER",
    "KATIB",
    "KATIB_RUNTIME_IMAGES",
    "KEDA",
    "KEDA_PROMETHEUS",
    "KSERVE_LOCALMODEL_RESOURCES",
    "KSERVE_RESOURCES",
    "KSERVE_RUNTIME_CONFIGS",
    "NOTEBOOK_CONTROLLER",
    "NVIDIA_DEVICE_PLUGIN",
    "OVERLAYS",
    "PLATFORM_IMAGES",
    "SELDON",
    "TRAINER",
    "TRAINER_RUNTIME_IMAGES",
    "TRAINING_OPERATOR",
    "Chart",
    "ChartImage",
    "Overlay",
]


def chart_of(reference: str) -> Chart | None:
    """The entry of a Release's `chart` (a name in its repository or an `oci://` reference)."""
    return CHARTS.get(reference.rstrip("/").rsplit("/", 1)[-1])


def mirrored_value(entry: ChartImage, registry: str) -> str:
    """What `entry.key` holds so the chart renders `entry.image` through the mirror."""
    image, rest = mirrored(entry.image, registry), entry.image[len(entry.held) :]
    return image[: len(image) - len(rest)] if rest else image


def mirror_values(chart: Chart, registry: str | None) -> dict:
    """The values that point every image of `chart` at the mirror (nothing without one)."""
    values: dict = {}
    for entry in chart.images if registry else ():
        _set(values, entry.key, mirrored_value(entry, registry))
    return values


def merged(base: Mapping, overlay: Mapping) -> dict:
    """`base` with `overlay` merged in, mapping by mapping (overlay wins); neither is changed, leaves are shared
    (they may be Pulumi outputs, which cannot be copied)."""
    result = dict(base)
    for key, value in overlay.items():
        both = isinstance(value, Mapping) and isinstance(result.get(key), Mapping)
        result[key] = merged(result[key], value) if both else value
    return result


def value_at(values: Mapping, key: str) -> Any:
    for part in key.split("."):
        if not isinstance(values, Mapping) or part not in values:
            return None
        values = values[part]
    return values


def _set(values: dict, key: str, value: Any) -> None:
    *parents, last = key.split(".")
    for part in parents:
        values = values.setdefault(part, {})
    values[last] = value


def chart_images(chart: Chart, values: Mapping) -> list[tuple[str, str]]:
    """(image pulled, image without the mirror) for each image the chart renders with `values`."""
    found = []
    for entry in chart.images:
        if entry.when and not any(value_at(values, key) for key in entry.when):
            continue
        rest = entry.image[len(entry.held) :]
        tag = value_at(values, entry.tag_key) if entry.tag_key else None
        if tag:
            rest = f"{rest.rpartition(':')[0]}:{tag}"
        held = value_at(values, entry.key)
        source = f"{entry.held}{rest}"
        found.append((f"{held}{rest}" if held else source, source))
    return found


def overlay_of(directory: str) -> tuple[Overlay, str] | None:
    """The overlay a kustomize Directory applies, and its ref."""
    for overlay in OVERLAYS:
        prefix = overlay.url.split("{version}")[0]
        if directory.startswith(prefix):
            return overlay, directory[len(prefix) :]
    return None


def config_file_of(url: str) -> str | None:
    """Why a yaml ConfigFile the platform applies pulls no image; None for one not recorded."""
    return next((why for prefix, why in CONFIG_FILES.items() if url.startswith(prefix)), None)


def containers(manifest: Any) -> Iterable[dict]:
    """Every container (and init container) of a Kubernetes object, however deep its pod templates sit."""
    if isinstance(manifest, dict):
        for key, value in manifest.items():
            if key in ("containers", "initContainers") and isinstance(value, list):
                yield from (item for item in value if isinstance(item, dict))
            else:
                yield from containers(value)
    elif isinstance(manifest, list):
        for item in manifest:
            yield from containers(item)


def image_references(manifest: Any) -> Iterable[str]:
    """Every image an object names: containers', and any other `image` field (a TrainJob's trainer, a model's)."""
    if isinstance(manifest, dict):
        for key, value in manifest.items():
            if key == "image" and isinstance(value, str):
                yield value
            elif key != "metadata":
                yield from image_references(value)
    elif isinstance(manifest, list):
        for item in manifest:
            yield from image_references(item)


def mirror_containers(manifest: Any, registry: str, overlay: Overlay | None = None) -> Any:
    """`manifest` with its containers pulling through `registry` (nothing else changed); the container running one
    of `overlay`'s images gets its operator's flags, so the images that operator starts come through the mirror too."""

    def container(item: dict) -> dict:
        image = item.get("image")
        if not isinstance(image, str):
            return item
        rewritten = {**item, "image": mirrored(image, registry)}
        if overlay and overlay.operator_flags and image in overlay.images:
            flags = [f"{flag}={mirrored(default, registry)}" for flag, default in overlay.operator_flags.items()]
            rewritten["args"] = [*item.get("args", []), *flags]
        return rewritten

    if isinstance(manifest, dict):
        return {
            key: [container(item) if isinstance(item, dict) else item for item in value]
            if key in ("containers", "initContainers") and isinstance(value, list)
            else mirror_containers(value, registry, overlay)
            for key, value in manifest.items()
        }
    if isinstance(manifest, list):
        return [mirror_containers(item, registry, overlay) for item in manifest]
    return manifest
